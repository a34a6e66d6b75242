use super::plan::plan;
use super::*;
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, a: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(a)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {a:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).expect("write");
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", file]);
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn versions_resolve_among_remote_refs() {
    let ls = "aaa\tHEAD\naaa\trefs/heads/main\nbbb\trefs/tags/v1\nccc\trefs/tags/v1^{}\n";
    assert_eq!(resolve_remote(ls, "HEAD").as_deref(), Some("aaa"));
    assert_eq!(resolve_remote(ls, "main").as_deref(), Some("aaa"));
    assert_eq!(resolve_remote(ls, "v1").as_deref(), Some("ccc"));
    assert_eq!(
        resolve_remote(ls, "deadbeef12").as_deref(),
        Some("deadbeef12")
    );
    assert_eq!(resolve_remote(ls, "nope"), None);
}

fn parse(v: serde_json::Value) -> GitArgs {
    GitArgs::parse(args(v)).expect("args")
}

const LS: &str = "aaaa111\tHEAD\naaaa111\trefs/heads/main\nbbbb222\trefs/tags/v1\n";

fn local(before: &str, url: &str, dirty: bool) -> Option<Local> {
    Some(Local {
        before: before.into(),
        url: url.into(),
        dirty,
    })
}

#[test]
fn no_repository_plans_a_clone_or_reports_what_one_would_do() {
    let seen = Seen {
        local: None,
        ls_remote: Some(LS.into()),
    };
    let p = plan(&parse(json!({"repo": "/srv/r", "dest": "/w"})), &seen).expect("plan");
    assert_eq!(p.changes, Some(Changes::Clone));
    assert!(p.result.changed);
    assert_eq!(
        (
            p.result.extra["before"].clone(),
            p.result.extra["after"].clone()
        ),
        (json!(null), json!("aaaa111"))
    );
    let p = plan(
        &parse(json!({"repo": "/srv/r", "clone": false, "version": "v1"})),
        &seen,
    )
    .expect("plan");
    assert_eq!(p.changes, None);
    assert!(
        p.result.changed,
        "ansible-core reports changed for clone=no"
    );
    assert_eq!(p.result.extra["after"], json!("bbbb222"));
    let e = GitArgs::parse(args(json!({"repo": "/srv/r"}))).unwrap_err();
    assert_eq!(
        e.msg,
        "the destination directory must be specified unless clone=no"
    );
    let e =
        GitArgs::parse(args(json!({"repo": "/srv/r", "dest": "/w", "umask": "9"}))).unwrap_err();
    assert_eq!(e.msg, "umask must be an octal integer");
}

#[test]
fn an_up_to_date_working_copy_plans_nothing() {
    let a = parse(json!({"repo": "/srv/r", "dest": "/w"}));
    let seen = Seen {
        local: local("aaaa111", "/srv/r", false),
        ls_remote: Some(LS.into()),
    };
    let p = plan(&a, &seen).expect("plan");
    assert_eq!(p.changes, None);
    assert!(!p.result.changed);
    assert_eq!(p.result.extra["remote_url_changed"], json!(false));
    assert_eq!(p.result.extra["after"], json!("aaaa111"));
}

#[test]
fn a_moved_remote_a_new_url_or_forced_local_edits_plan_an_update() {
    let a = parse(json!({"repo": "/srv/r", "dest": "/w", "version": "v1"}));
    let seen = |url: &str, dirty| Seen {
        local: local("aaaa111", url, dirty),
        ls_remote: Some(LS.into()),
    };
    let p = plan(&a, &seen("/srv/r", false)).expect("plan");
    assert_eq!(
        p.changes,
        Some(Changes::Update {
            set_url: false,
            reset: false
        })
    );
    assert_eq!(
        (
            p.result.extra["before"].clone(),
            p.result.extra["after"].clone()
        ),
        (json!("aaaa111"), json!("bbbb222"))
    );
    let a = parse(json!({"repo": "/srv/new", "dest": "/w"}));
    let p = plan(&a, &seen("/srv/r", false)).expect("plan");
    assert_eq!(
        p.changes,
        Some(Changes::Update {
            set_url: true,
            reset: false
        })
    );
    assert_eq!(p.result.extra["remote_url_changed"], json!(true));
    let e = plan(
        &parse(json!({"repo": "/srv/r", "dest": "/w"})),
        &seen("/srv/r", true),
    )
    .unwrap_err();
    assert_eq!(
        e.msg,
        "Local modifications exist in the destination: /w (force=no)."
    );
    let p = plan(
        &parse(json!({"repo": "/srv/r", "dest": "/w", "force": true})),
        &seen("/srv/r", true),
    )
    .expect("plan");
    assert_eq!(
        p.changes,
        Some(Changes::Update {
            set_url: false,
            reset: true
        })
    );
    let p = plan(
        &parse(json!({"repo": "/srv/r", "dest": "/w", "version": "nosuch"})),
        &seen("/srv/r", false),
    )
    .expect("plan");
    assert_eq!(
        p.result.extra["after"],
        json!("nosuch"),
        "what the remote cannot name is fetched and looked for"
    );
    assert!(p.changes.is_some());
}

#[test]
fn update_false_reports_the_checkout_and_touches_nothing() {
    let a = parse(json!({"repo": "/srv/new", "dest": "/w", "update": false}));
    let seen = Seen {
        local: local("aaaa111", "/srv/r", true),
        ls_remote: None,
    };
    let p = plan(&a, &seen).expect("plan");
    assert_eq!(p.changes, None);
    assert!(!p.result.changed);
    assert_eq!(
        (
            p.result.extra["before"].clone(),
            p.result.extra["after"].clone()
        ),
        (json!("aaaa111"), json!("aaaa111"))
    );
    assert!(!p.result.extra.contains_key("remote_url_changed"));
}

crate::testutil::both_paths! {
async fn clones_updates_and_pins_versions_from_a_local_repository() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIP: no git");
        return;
    }
    let d = tempfile::tempdir().expect("tempdir");
    let src = d.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    git(&src, &["init", "-q"]);
    let c1 = commit(&src, "a", "one\n");
    git(&src, &["tag", "v1"]);
    let env = TestEnv::new(d.path());
    let dest = d.path().join("wc").to_string_lossy().into_owned();
    let repo = src.to_string_lossy().into_owned();
    let a = json!({"repo": repo, "dest": dest});
    let r = Planned(GitModule).run(&ctx(&env, true, false), args(a.clone())).await.map(|r| r.into_map()).expect("check");
    assert_eq!((r["changed"].clone(), r["after"].clone()), (json!(true), json!(c1)));
    assert!(!Path::new(&dest).exists(), "check mode cloned");
    let r = Planned(GitModule).run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("clone");
    assert_eq!(r["after"], json!(c1));
    assert_eq!(std::fs::read_to_string(Path::new(&dest).join("a")).expect("a"), "one\n");
    let r = Planned(GitModule).run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("again");
    assert_eq!(r["changed"], json!(false), "{r:?}");
    let c2 = commit(&src, "a", "two\n");
    let r = Planned(GitModule).run(&ctx(&env, true, false), args(a.clone())).await.map(|r| r.into_map()).expect("check update");
    assert_eq!((r["changed"].clone(), r["after"].clone()), (json!(true), json!(c2)));
    let r = Planned(GitModule).run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("update");
    assert_eq!((r["before"].clone(), r["after"].clone(), r["changed"].clone()), (json!(c1), json!(c2), json!(true)));
    let pinned = json!({"repo": repo, "dest": dest, "version": "v1"});
    let r = Planned(GitModule).run(&ctx(&env, false, false), args(pinned.clone())).await.map(|r| r.into_map()).expect("tag");
    assert_eq!(r["after"], json!(c1));
    std::fs::write(Path::new(&dest).join("a"), "local edit\n").expect("edit");
    let e = Planned(GitModule).run(&ctx(&env, false, false), args(json!({"repo": repo, "dest": dest, "version": "main"}))).await.map(|r| r.into_map()).unwrap_err();
    assert_eq!(e.msg, format!("Local modifications exist in the destination: {dest} (force=no)."));
    let r = Planned(GitModule).run(&ctx(&env, false, false), args(json!({"repo": repo, "dest": dest, "version": "main", "force": true}))).await.map(|r| r.into_map()).expect("force");
    assert_eq!(r["after"], json!(c2));
    assert_eq!(std::fs::read_to_string(Path::new(&dest).join("a")).expect("a"), "two\n");
}
}
