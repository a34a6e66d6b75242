//! `file`'s pure plan for every state and branch, from hand-made stats: no host.

use super::args::FileArgs;
use super::plan::plan;
use super::query::Seen;
use super::tree::{parse_listing, TreeEntry};
use crate::common::probe::{PathKind, PathStat};
use crate::planned::Plan;
use kplay_engine::agent::Request;
use kplay_engine::module::ModuleError;
use kplay_engine::value::Value;
use serde_json::json;

fn args(v: Value) -> FileArgs {
    match v {
        Value::Object(m) => FileArgs::parse(m).expect("valid args"),
        _ => panic!("args must be an object"),
    }
}

fn st(path: &str, kind: PathKind, mode: u32) -> PathStat {
    PathStat {
        kind,
        mode,
        uid: 1000,
        gid: 1000,
        owner: "me".into(),
        group: "me".into(),
        nlink: 1,
        inode: 7,
        dev: 1,
        ..PathStat::absent(path)
    }
}

fn absent(path: &str) -> PathStat {
    PathStat::absent(path)
}

/// A host where `path` is `own` (and followed `followed`).
fn seen(path: &str, own: PathStat, followed: PathStat) -> Seen {
    Seen {
        path: path.into(),
        umask: 0o022,
        own,
        followed,
        src: None,
        link_src: None,
        tree: None,
        tree_root: path.into(),
        stamps: (None, None),
    }
}

fn same(path: &str, s: PathStat) -> Seen {
    seen(path, s.clone(), s)
}

fn run(a: Value, s: &Seen) -> Result<Plan<super::Changes>, ModuleError> {
    plan(&args(a), s)
}

fn diff(r: &kplay_engine::module::ModuleResult) -> Value {
    r.diff.to_value().expect("a diff")
}

#[test]
fn absent_removes_an_existing_path_and_reports_state_absent() {
    let s = same("/d", st("/d", PathKind::Directory, 0o755));
    let p = run(json!({"path": "/d", "state": "absent"}), &s).unwrap();
    let ch = p.changes.expect("changes");
    assert!(p.result.changed && ch.removes);
    assert_eq!(ch.agent, Some(Request::Remove { path: "/d".into() }));
    assert_eq!(ch.script, "rm -rf -- /d\n");
    assert_eq!(p.result.extra["state"], "absent");
    assert!(!p.result.extra.contains_key("mode"));
    assert_eq!(diff(&p.result)["before"]["state"], "directory");
    assert_eq!(diff(&p.result)["after"]["state"], "absent");
    let p = run(
        json!({"path": "/d", "state": "absent"}),
        &same("/d", absent("/d")),
    )
    .unwrap();
    assert!(p.changes.is_none() && !p.result.changed);
}

#[test]
fn file_state_changes_only_differing_attributes() {
    let s = same("/f", st("/f", PathKind::File, 0o644));
    let p = run(json!({"path": "/f", "mode": "0600", "owner": "me"}), &s).unwrap();
    let ch = p.changes.expect("changes");
    assert_eq!(ch.script, "chmod 600 /f || exit 73\n");
    assert_eq!(diff(&p.result)["before"]["mode"], "0644");
    assert_eq!(diff(&p.result)["after"]["mode"], "0600");
    assert_eq!(p.result.extra["state"], "file");
    let p = run(json!({"path": "/f", "mode": "u=rw,go=r"}), &s).unwrap();
    assert!(p.changes.is_none());
}

#[test]
fn file_state_refuses_missing_paths_and_other_kinds() {
    let e = run(json!({"path": "/f"}), &same("/f", absent("/f")))
        .err()
        .unwrap();
    assert_eq!(e.msg, "file (/f) is absent, cannot continue");
    assert_eq!(e.result["state"], "absent");
    let s = same("/d", st("/d", PathKind::Directory, 0o755));
    let e = run(json!({"path": "/d", "state": "file"}), &s)
        .err()
        .unwrap();
    assert_eq!(e.msg, "file (/d) is directory, cannot continue");
    assert_eq!(e.result["mode"], "0755");
}

#[test]
fn directory_is_made_with_its_parents_and_the_mode() {
    let p = run(
        json!({"path": "/a/b", "state": "directory", "mode": "0750", "owner": "root"}),
        &same("/a/b", absent("/a/b")),
    )
    .unwrap();
    let ch = p.changes.expect("changes");
    assert!(ch
        .script
        .contains("if [ ! -d /a ]; then mkdir -m 750 -- /a; chown -h root /a"));
    assert!(ch.script.contains("mkdir -m 750 -- /a/b"));
    assert!(matches!(ch.agent, Some(Request::Mkdir { ref path, .. }) if path == "/a/b"));
    assert_eq!(diff(&p.result)["after"]["state"], "directory");
    assert_eq!(diff(&p.result)["after"]["mode"], "0750");
    assert_eq!(
        Value::Object(p.result.extra.clone()),
        json!({"path": "/a/b"})
    );
}

#[test]
fn existing_directory_is_left_alone_or_gets_attributes() {
    let s = same("/d", st("/d", PathKind::Directory, 0o755));
    let p = run(json!({"path": "/d", "state": "directory"}), &s).unwrap();
    assert!(p.changes.is_none() && p.result.extra["state"] == "directory");
    let p = run(
        json!({"path": "/d", "state": "directory", "mode": "0700"}),
        &s,
    )
    .unwrap();
    assert!(matches!(
        p.changes.expect("changes").agent,
        Some(Request::SetAttrs { .. })
    ));
    let e = run(
        json!({"path": "/f", "state": "directory"}),
        &same("/f", st("/f", PathKind::File, 0o644)),
    )
    .err()
    .unwrap();
    assert_eq!(e.msg, "/f already exists as a file");
}

#[test]
fn directory_through_a_symlink_acts_on_the_target() {
    let mut link = st("/l", PathKind::Link, 0o777);
    link.link_target = Some("/t".into());
    let s = seen("/l", link, st("/l", PathKind::Directory, 0o700));
    let p = run(
        json!({"path": "/l", "state": "directory", "mode": "0700"}),
        &s,
    )
    .unwrap();
    assert!(p.changes.is_none());
    let p = run(
        json!({"path": "/l", "state": "directory", "follow": false}),
        &s,
    );
    assert_eq!(p.err().unwrap().msg, "/l already exists as a link");
}

#[test]
fn touch_creates_sets_times_and_is_idempotent_only_when_preserving() {
    let p = run(
        json!({"path": "/t", "state": "touch", "mode": "0640"}),
        &same("/t", absent("/t")),
    )
    .unwrap();
    let ch = p.changes.expect("changes");
    assert_eq!(
        ch.script,
        ": >> /t\nchmod 640 /t || exit 73\ntouch -m -c -- /t\ntouch -a -c -- /t\n"
    );
    assert_eq!(p.result.extra["dest"], "/t");
    assert!(!p.result.extra.contains_key("path"));
    let s = same("/t", st("/t", PathKind::File, 0o644));
    assert!(
        run(json!({"path": "/t", "state": "touch"}), &s)
            .unwrap()
            .result
            .changed
    );
    let keep = json!({"path": "/t", "state": "touch",
        "modification_time": "preserve", "access_time": "preserve"});
    assert!(run(keep, &s).unwrap().changes.is_none());
    let at = json!({"path": "/t", "state": "touch",
        "modification_time": "202001020304.05", "access_time": "preserve"});
    let ch = run(at, &s).unwrap().changes.expect("changes");
    assert_eq!(ch.script, "touch -m -c -t 202001020304.05 -- /t\n");
    // A dangling symlink has no times to set.
    let dangling = seen("/l", st("/l", PathKind::Link, 0o777), absent("/l"));
    let e = run(json!({"path": "/l", "state": "touch"}), &dangling);
    assert_eq!(
        e.err().unwrap().msg,
        "Error while updating modification or access time: [Errno 2] No such file or directory: '/l'"
    );
}

fn link_seen(own: PathStat, src: Option<PathStat>) -> Seen {
    let mut s = same("/l", own);
    s.src = src;
    s.link_src = Some("/a".into());
    s
}

#[test]
fn link_is_made_kept_or_retargeted() {
    let src = st("/a", PathKind::File, 0o644);
    let a = json!({"path": "/l", "state": "link", "src": "/a"});
    let p = run(a.clone(), &link_seen(absent("/l"), Some(src.clone()))).unwrap();
    assert_eq!(p.changes.expect("changes").script, "ln -sfn -- /a /l\n");
    assert_eq!(
        (&p.result.extra["dest"], &p.result.extra["src"]),
        (&json!("/l"), &json!("/a"))
    );
    let mut link = st("/l", PathKind::Link, 0o777);
    link.link_target = Some("/a".into());
    let mut s = link_seen(link.clone(), Some(src.clone()));
    s.followed = src.clone();
    assert!(run(a, &s).unwrap().changes.is_none());
    let b = json!({"path": "/l", "state": "link", "src": "/b"});
    let p = run(b, &s).unwrap();
    assert_eq!(p.changes.expect("changes").script, "ln -sfn -- /b /l\n");
    let no_src = run(json!({"path": "/l", "state": "link"}), &s).unwrap();
    assert!(no_src.changes.is_none() && no_src.result.extra["src"] == "/a");
}

#[test]
fn link_refusals_name_the_path() {
    let a = json!({"path": "/l", "state": "link", "src": "/a"});
    let e = run(a.clone(), &link_seen(absent("/l"), Some(absent("/a"))))
        .err()
        .unwrap();
    assert!(e
        .msg
        .starts_with("src file does not exist, use \"force=yes\""));
    assert!(e.msg.ends_with(": /a"));
    let file = st("/l", PathKind::File, 0o644);
    let src = Some(st("/a", PathKind::File, 0o644));
    let e = run(a, &link_seen(file.clone(), src.clone())).err().unwrap();
    assert_eq!(e.msg, "refusing to convert from file to symlink for /l");
    assert_eq!(e.result["path"], "/l");
    let forced = json!({"path": "/l", "state": "link", "src": "/a", "force": true});
    let ch = run(forced, &link_seen(file, src))
        .unwrap()
        .changes
        .expect("changes");
    assert_eq!(ch.script, "rm -f -- /l\nln -s -- /a /l\n");
    let e = run(
        json!({"path": "/l", "state": "link"}),
        &same("/l", absent("/l")),
    );
    assert_eq!(
        e.err().unwrap().msg,
        "src is required for creating new symlinks"
    );
}

fn hard_seen(own: PathStat, src: PathStat) -> Seen {
    let mut s = same("/h", own);
    s.src = Some(src);
    s.link_src = Some("/a".into());
    s
}

#[test]
fn hard_link_is_made_or_kept_by_inode() {
    let mut src = st("/a", PathKind::File, 0o644);
    src.nlink = 2;
    let a = json!({"path": "/h", "state": "hard", "src": "/a"});
    let p = run(a.clone(), &hard_seen(absent("/h"), src.clone())).unwrap();
    assert_eq!(p.changes.expect("changes").script, "ln -- /a /h\n");
    let mut same_inode = src.clone();
    same_inode.path = "/h".into();
    assert!(run(a.clone(), &hard_seen(same_inode, src.clone()))
        .unwrap()
        .changes
        .is_none());
    let mut other = st("/h", PathKind::File, 0o644);
    other.inode = 99;
    other.nlink = 2;
    let e = run(a, &hard_seen(other.clone(), src.clone()))
        .err()
        .unwrap();
    assert_eq!(
        e.msg,
        "Cannot link, different hard link exists at destination"
    );
    assert_eq!(e.result["src"], "/a");
    let forced = json!({"path": "/h", "state": "hard", "src": "/a", "force": true});
    let ch = run(forced, &hard_seen(other, src))
        .unwrap()
        .changes
        .expect("changes");
    assert_eq!(ch.script, "ln -f -n -- /a /h\n");
}

#[test]
fn hard_link_refusals() {
    let f = same("/h", st("/h", PathKind::File, 0o644));
    let e = run(json!({"path": "/h", "state": "hard"}), &f)
        .err()
        .unwrap();
    assert_eq!(e.msg, "src is required for creating new hardlinks");
    let a = json!({"path": "/h", "state": "hard", "src": "/a"});
    let e = run(a.clone(), &hard_seen(absent("/h"), absent("/a")))
        .err()
        .unwrap();
    assert_eq!(e.msg, "src does not exist");
    let mut other = st("/h", PathKind::File, 0o644);
    other.inode = 99;
    let e = run(
        a.clone(),
        &hard_seen(other, st("/a", PathKind::File, 0o644)),
    );
    assert_eq!(
        e.err().unwrap().msg,
        "Cannot link, file exists at destination"
    );
    let dir = st("/h", PathKind::Directory, 0o755);
    let mut src = st("/a", PathKind::File, 0o644);
    src.inode = 5;
    let e = run(a, &hard_seen(dir, src)).err().unwrap();
    assert_eq!(
        e.msg,
        "Cannot link: different hard link exists at destination"
    );
}

#[test]
fn no_state_keeps_the_current_kind() {
    let mut h = st("/h", PathKind::File, 0o644);
    h.nlink = 2;
    let p = run(json!({"path": "/h", "mode": "0600"}), &same("/h", h)).unwrap();
    assert_eq!(p.result.extra["dest"], "/h");
    assert_eq!(p.result.extra["src"], Value::Null);
    let e = run(
        json!({"path": "/f", "recurse": true}),
        &same("/f", st("/f", PathKind::File, 0o644)),
    );
    assert_eq!(
        e.err().unwrap().msg,
        "recurse option requires state to be 'directory'"
    );
}

fn entry(owner: &str, mode: u32, kind: PathKind) -> TreeEntry {
    TreeEntry {
        uid: if owner == "root" { 0 } else { 1000 },
        gid: 1000,
        owner: owner.into(),
        group: "me".into(),
        mode,
        kind,
    }
}

#[test]
fn recurse_fixes_only_the_attributes_that_differ_below() {
    let mut s = same("/d", st("/d", PathKind::Directory, 0o700));
    s.tree = Some(vec![
        entry("me", 0o700, PathKind::Directory),
        entry("root", 0o600, PathKind::File),
        entry("me", 0o777, PathKind::Link),
    ]);
    let a =
        json!({"path": "/d", "state": "directory", "recurse": true, "owner": "me", "mode": "0700"});
    let p = run(a, &s).unwrap();
    let ch = p.changes.expect("changes");
    assert!(ch.script.is_empty() && ch.agent.is_none());
    assert_eq!(
        ch.tree_fix,
        "chown -R me /d\nfind /d ! -type l -exec chmod 700 {} +\n"
    );
    let sym = json!({"path": "/d", "state": "directory", "recurse": true, "mode": "g+rX"});
    let ch = run(sym, &s).unwrap().changes.expect("changes");
    assert_eq!(ch.tree_fix, "find /d ! -type l -exec chmod g+rX {} +\n");
    s.tree = Some(vec![entry("me", 0o700, PathKind::Directory)]);
    let a =
        json!({"path": "/d", "state": "directory", "recurse": true, "owner": "me", "mode": "0700"});
    assert!(run(a, &s).unwrap().changes.is_none());
}

#[test]
fn tree_listing_is_read_and_bad_lines_are_refused() {
    let t = parse_listing("0 0 755 41ed root root\n1000 1000 644 81a4 me me\n").unwrap();
    assert_eq!(t[0].kind, PathKind::Directory);
    assert_eq!((t[1].mode, t[1].owner.as_str()), (0o644, "me"));
    assert!(parse_listing("garbage\n").is_err());
}

#[test]
fn times_apply_to_every_state_and_a_given_time_only_when_it_differs() {
    let mut f = st("/f", PathKind::File, 0o644);
    f.mtime = 1577934245.0;
    let s = same("/f", f);
    let now = json!({"path": "/f", "modification_time": "now"});
    let ch = run(now, &s).unwrap().changes.expect("changes");
    assert_eq!(
        (ch.script.as_str(), ch.agent),
        ("touch -m -c -- /f\n", None)
    );
    let at = json!({"path": "/f", "modification_time": "202001020304.05"});
    let mut same_time = s.clone();
    same_time.stamps = (Some(1577934245.0), None);
    assert!(run(at.clone(), &same_time).unwrap().changes.is_none());
    let mut other = s.clone();
    other.stamps = (Some(1.0), None);
    let ch = run(at, &other).unwrap().changes.expect("changes");
    assert_eq!(ch.script, "touch -m -c -t 202001020304.05 -- /f\n");
}

#[test]
fn file_and_directory_act_on_the_real_path_of_a_followed_symlink() {
    let mut link = st("/l", PathKind::Link, 0o777);
    link.link_target = Some("t".into());
    link.link_source = Some("/real/t".into());
    let s = seen("/l", link.clone(), st("/l", PathKind::File, 0o644));
    let p = run(json!({"path": "/l", "state": "file", "mode": "0600"}), &s).unwrap();
    assert_eq!(p.result.extra["path"], "/real/t");
    assert_eq!(p.result.extra["state"], "file");
    assert_eq!(
        p.changes.expect("changes").script,
        "chmod 600 /real/t || exit 73\n"
    );
    // A dangling link: the directory is made where it points.
    let s = seen("/l", link, absent("/l"));
    let p = run(json!({"path": "/l", "state": "directory"}), &s).unwrap();
    let ch = p.changes.expect("changes");
    assert_eq!(ch.path, "/real/t");
    assert!(ch.script.contains("mkdir -- /real/t"));
}
