//! [`plan`] without a host: each branch from a hand-made [`Seen`].

use super::*;
use crate::common::probe::PathKind;
use kplay_engine::module::Diff;

fn host() -> HostInfo {
    HostInfo {
        uid: 1000,
        gid: 1000,
        user: "u".into(),
        group: "g".into(),
        umask: 0o022,
    }
}

/// A regular file at `path` holding `content`, mode 0644, owned by `u:g`.
fn file(path: &str, content: &[u8]) -> PathStat {
    PathStat {
        kind: PathKind::File,
        mode: 0o644,
        size: content.len() as u64,
        checksum: Some(sha1_hex(content)),
        content: Some(content.to_vec()),
        ..PathStat::new_by(path, PathKind::File, &host())
    }
}

fn dir(path: &str) -> PathStat {
    PathStat {
        mode: 0o755,
        ..PathStat::new_by(path, PathKind::Directory, &host())
    }
}

/// `data` to be installed at `dest`, with `dest` and `/d` (its parent) as given.
fn queried(dest: &str, data: &[u8], dest_st: PathStat, parent: PathStat) -> Queried {
    let install = Install::new(dest, Source::Data(data.to_vec()));
    let seen = Seen {
        host: host(),
        dest: dest_st,
        parent,
        joined: None,
        source: SourceSeen::Controller {
            checksum: sha1_hex(data),
            md5: md5_hex(data),
            size: data.len() as u64,
            head: None,
        },
        content_read: true,
    };
    Queried { install, seen }
}

#[test]
fn same_content_and_attributes_is_nothing_to_do() {
    let q = queried("/d/f", b"x\n", file("/d/f", b"x\n"), dir("/d"));
    let p = plan(&q).unwrap();
    assert!(p.changes.is_none() && !p.result.changed);
    assert_eq!(p.result.extra["checksum"], sha1_hex(b"x\n"));
    assert_eq!(p.result.extra["mode"], "0644");
    assert!(p.result.diff.is_none());
}

#[test]
fn new_content_is_one_write_with_a_content_diff() {
    let q = queried("/d/f", b"new\n", file("/d/f", b"old\n"), dir("/d"));
    let p = plan(&q).unwrap();
    let Some(Step::Write(w)) = &p.changes else {
        panic!("{:?}", p.changes)
    };
    assert_eq!(w.target, "/d/f");
    assert_eq!(w.checksum, sha1_hex(b"new\n"));
    assert_eq!(w.md5.as_deref(), Some(md5_hex(b"new\n").as_str()));
    assert!(w.attrs.is_empty() && w.create_parent.is_none());
    let Diff::Many(d) = &p.result.diff else {
        panic!("{:?}", p.result.diff)
    };
    assert_eq!(d[0]["before"], "old\n");
    assert_eq!(d[0]["after"], "new\n");
    // Like ansible-core's action in check mode: the change and its diff, nothing more.
    assert!(p.result.extra.is_empty());
}

#[test]
fn missing_file_is_created_and_diffed_from_nothing() {
    let q = queried("/d/f", b"x", PathStat::absent("/d/f"), dir("/d"));
    let p = plan(&q).unwrap();
    let Some(Step::Write(w)) = &p.changes else {
        panic!("{:?}", p.changes)
    };
    assert!(w.attrs.is_empty());
    let Diff::Many(d) = &p.result.diff else {
        panic!()
    };
    assert_eq!(d[0]["before"], "");
    assert!(!d[0].contains_key("before_header"));
}

#[test]
fn a_new_file_gets_the_requested_mode_against_the_umask_default() {
    let mut q = queried("/d/f", b"x", PathStat::absent("/d/f"), dir("/d"));
    q.install.attrs.mode = Some(crate::common::mode::ModeSpec::Octal(0o600));
    let Some(Step::Write(w)) = plan(&q).unwrap().changes else {
        panic!()
    };
    assert_eq!(w.attrs.mode, Some((0o644, 0o600)));
}

#[test]
fn only_a_mode_change_is_an_attribute_step() {
    let mut q = queried("/d/f", b"x", file("/d/f", b"x"), dir("/d"));
    q.install.attrs.mode = Some(crate::common::mode::ModeSpec::Octal(0o600));
    let p = plan(&q).unwrap();
    let Some(Step::Attrs { target, attrs }) = &p.changes else {
        panic!("{:?}", p.changes)
    };
    assert_eq!(target, "/d/f");
    assert_eq!(attrs.mode, Some((0o644, 0o600)));
    assert_eq!(p.result.extra["mode"], "0600");
    let Diff::Many(d) = &p.result.diff else {
        panic!()
    };
    assert_eq!(d[0]["after"]["mode"], "0600");
}

#[test]
fn force_false_keeps_an_existing_file_and_reports_only_dest() {
    let mut q = queried("/d/f", b"new", file("/d/f", b"old"), dir("/d"));
    q.install.force = false;
    let p = plan(&q).unwrap();
    assert!(p.changes.is_none() && !p.result.changed);
    assert_eq!(p.result.extra.len(), 1);
    assert_eq!(p.result.extra["dest"], "/d/f");
}

#[test]
fn missing_parent_fails_on_apply_so_check_mode_predicts_a_change() {
    let q = queried(
        "/n/f",
        b"x",
        PathStat::absent("/n/f"),
        PathStat::absent("/n"),
    );
    let p = plan(&q).unwrap();
    assert!(p.result.changed);
    assert_eq!(
        p.changes,
        Some(Step::Fail {
            msg: "Destination directory /n does not exist".into(),
            checksum: sha1_hex(b"x"),
        })
    );
    let mut q = q;
    q.install.needs_parent = false;
    assert!(matches!(plan(&q).unwrap().changes, Some(Step::Write(_))));
}

#[test]
fn remote_source_must_exist_and_be_a_file() {
    let mut q = queried("/d/f", b"", PathStat::absent("/d/f"), dir("/d"));
    q.install.source = Source::Remote("/src".into());
    q.seen.source = SourceSeen::Remote(Box::new(PathStat::absent("/src")));
    assert_eq!(plan(&q).unwrap_err().msg, "Source /src not found");
    q.seen.source = SourceSeen::Remote(Box::new(dir("/src")));
    assert_eq!(
        plan(&q).unwrap_err().msg,
        "Source /src is not a readable regular file"
    );
    q.seen.source = SourceSeen::Remote(Box::new(file("/src", b"r")));
    let p = plan(&q).unwrap();
    assert!(matches!(&p.changes, Some(Step::Write(_))));
    // ansible-core's module runs in check mode too and reports the path.
    assert_eq!(p.result.extra["checksum"], sha1_hex(b"r"));
    assert_eq!(p.result.extra["size"], 1);
    q.seen.parent = PathStat::absent("/d");
    assert_eq!(
        plan(&q).unwrap_err().msg,
        "Destination directory /d does not exist"
    );
}

#[test]
fn directory_dest_installs_inside_it_under_the_basename() {
    let mut q = queried("/d", b"x", dir("/d"), dir("/"));
    assert_eq!(
        plan(&q).unwrap_err().msg,
        "can not use content with a dir as dest"
    );
    q.install.basename = Some("f".into());
    q.seen.joined = Some(file("/d/f", b"x"));
    let p = plan(&q).unwrap();
    assert!(p.changes.is_none());
    assert_eq!(p.result.extra["dest"], "/d/f");
    q.seen.joined = Some(dir("/d/f"));
    assert_eq!(plan(&q).unwrap_err().msg, "Destination /d/f is a directory");
}

#[test]
fn trailing_slash_creates_the_directory_with_directory_mode() {
    let mut q = queried("/d/", b"x", PathStat::absent("/d/"), dir("/"));
    q.install.basename = Some("f".into());
    q.install.directory_mode = Some(crate::common::mode::ModeSpec::Octal(0o700));
    q.seen.joined = Some(PathStat::absent("/d/f"));
    let Some(Step::Write(w)) = plan(&q).unwrap().changes else {
        panic!()
    };
    assert_eq!(w.target, "/d/f");
    assert_eq!(w.create_parent, Some(Some(0o700)));
}

#[test]
fn follow_writes_the_links_target() {
    let mut q = queried("/d/l", b"new", PathStat::absent("/d/l"), dir("/d"));
    q.seen.dest = PathStat {
        link_target: Some("real".into()),
        link_source: Some("/d/real".into()),
        ..file("/d/l", b"old")
    };
    q.install.follow = true;
    let Some(Step::Write(w)) = plan(&q).unwrap().changes else {
        panic!()
    };
    assert_eq!(w.target, "/d/real");
}

#[test]
fn no_content_diff_when_the_destination_was_not_read() {
    let mut q = queried("/d/f", b"new", file("/d/f", b"old"), dir("/d"));
    q.seen.content_read = false;
    let p = plan(&q).unwrap();
    assert!(p.result.changed && p.result.diff.is_none());
}
