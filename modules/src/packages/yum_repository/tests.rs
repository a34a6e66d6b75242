use super::*;
use crate::packages::repo_files::seen_file;
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;

fn ya(v: serde_json::Value) -> YumRepoArgs {
    YumRepoArgs::parse(args(v)).expect("args")
}

fn seen(content: Option<&str>) -> Seen {
    Seen {
        file: seen_file("/etc/yum.repos.d/epel.repo", content, 0o644),
        dir_exists: true,
    }
}

const EPEL: &str =
    "[epel]\nbaseurl = http://a/\n\thttp://b/\nenabled = 0\ngpgcheck = 1\nname = EPEL\n\n";

fn epel() -> YumRepoArgs {
    ya(
        json!({"name": "epel", "description": "EPEL", "baseurl": ["http://a/", "http://b/"], "gpgcheck": true, "enabled": "no"}),
    )
}

#[test]
fn present_writes_the_section_sorted_like_configparser() {
    let p = YumRepositoryModule::plan(&epel(), &seen(None)).expect("plan");
    let edit = p.changes.expect("a change");
    assert_eq!(edit.change, FileChange::Write(EPEL.into()));
    let r = p.result.into_map();
    assert_eq!(r["changed"], json!(true));
    assert_eq!(
        (r["repo"].clone(), r["state"].clone()),
        (json!("epel"), json!("present"))
    );
    assert_eq!(r["diff"]["before"], json!(""));
    assert_eq!(
        r["diff"]["after"],
        json!("[epel]\nbaseurl = http://a/\nhttp://b/\nenabled = 0\ngpgcheck = 1\nname = EPEL\n\n")
    );
    assert_eq!(
        r["diff"]["after_header"],
        json!("/etc/yum.repos.d/epel.repo")
    );
}

#[test]
fn the_written_file_reads_back_unchanged_and_comments_are_no_change() {
    let p = YumRepositoryModule::plan(&epel(), &seen(Some(EPEL))).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed);
    let commented =
        "# managed\n[epel]\nname=EPEL\ngpgcheck=1\nenabled=0\nbaseurl=http://a/\n  http://b/\n";
    let p = YumRepositoryModule::plan(&epel(), &seen(Some(commented))).expect("plan");
    assert!(p.changes.is_none(), "same settings in another layout");
}

#[test]
fn a_changed_option_rewrites_the_section_and_keeps_the_others() {
    let other = "[base]\nname = Base\nbaseurl = http://base/\n\n";
    let p = YumRepositoryModule::plan(
        &epel(),
        &seen(Some(&format!("{other}[epel]\nname = Old\n"))),
    )
    .expect("plan");
    let edit = p.changes.expect("a change");
    assert_eq!(edit.change, FileChange::Write(format!("{other}{EPEL}")));
}

#[test]
fn absent_removes_the_section_or_the_emptied_file() {
    let a = ya(json!({"name": "epel", "state": "absent"}));
    let p = YumRepositoryModule::plan(&a, &seen(Some(EPEL))).expect("plan");
    assert_eq!(p.changes.map(|e| e.change), Some(FileChange::Remove));
    assert_eq!(p.result.into_map()["diff"]["after"], json!(""));
    let both = format!("[base]\nname = Base\n\n{EPEL}");
    let p = YumRepositoryModule::plan(&a, &seen(Some(&both))).expect("plan");
    assert_eq!(
        p.changes.map(|e| e.change),
        Some(FileChange::Write("[base]\nname = Base\n\n".into()))
    );
    let p = YumRepositoryModule::plan(&a, &seen(None)).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed);
}

#[test]
fn a_mode_alone_is_a_change_of_attributes() {
    let a = ya(
        json!({"name": "epel", "description": "EPEL", "baseurl": ["http://a/", "http://b/"], "gpgcheck": true, "enabled": false, "mode": "0600"}),
    );
    let p = YumRepositoryModule::plan(&a, &seen(Some(EPEL))).expect("plan");
    assert_eq!(p.changes.map(|e| e.change), Some(FileChange::Attrs));
    assert!(p.result.changed);
}

#[test]
fn a_missing_directory_and_missing_arguments_fail_like_ansible() {
    let mut s = seen(None);
    s.dir_exists = false;
    let e = YumRepositoryModule::plan(&epel(), &s).expect_err("no dir");
    assert_eq!(e.msg, "Repo directory '/etc/yum.repos.d' does not exist.");
    let e = YumRepoArgs::parse(args(json!({"name": "x", "description": "X"}))).expect_err("no url");
    assert_eq!(
        e.msg,
        "state is present but any of the following are missing: baseurl, mirrorlist, metalink"
    );
    let e = YumRepoArgs::parse(args(json!({"name": "x", "baseurl": "http://x/"})))
        .expect_err("no description");
    assert_eq!(
        e.msg,
        "state is present but all of the following are missing: description"
    );
    assert!(YumRepoArgs::parse(args(json!({"name": "x/y", "state": "absent"}))).is_err());
}

#[test]
fn configparser_layout_parses_back() {
    let s = ini::parse("# c\n[a]\nName: A\nbaseurl=x\n  y\n[b]\nname = B\n");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].1[0], ("name".to_string(), "A".to_string()));
    assert_eq!(s[0].1[1], ("baseurl".to_string(), "x\ny".to_string()));
    assert_eq!(ini::parse(&ini::render(&s)), s);
}

crate::testutil::both_paths! {
async fn writes_the_repo_file_once_and_removes_it() {
    let d = tempfile::tempdir().expect("tempdir");
    let env = TestEnv::new(d.path());
    let dir = d.path().to_string_lossy().into_owned();
    let f = d.path().join("epel.repo");
    let a = json!({"name": "epel", "description": "EPEL", "baseurl": "http://a/", "reposdir": dir});
    let run = |check: bool, v: serde_json::Value| {
        let env = &env;
        async move {
            Planned(YumRepositoryModule)
                .run(&ctx(env, check, true), args(v))
                .await
                .map(|r| r.into_map())
        }
    };
    let r = run(true, a.clone()).await.expect("check");
    assert_eq!(r["changed"], json!(true));
    assert!(!f.exists(), "check mode writes nothing");
    let r = run(false, a.clone()).await.expect("write");
    assert_eq!(r["changed"], json!(true));
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        "[epel]\nbaseurl = http://a/\nname = EPEL\n\n"
    );
    assert_eq!(run(false, a).await.expect("again")["changed"], json!(false));
    let gone = json!({"name": "epel", "state": "absent", "reposdir": dir});
    assert_eq!(run(false, gone.clone()).await.expect("absent")["changed"], json!(true));
    assert!(!f.exists());
    assert_eq!(run(false, gone).await.expect("absent again")["changed"], json!(false));
    let e = run(false, json!({"name": "x", "description": "X", "baseurl": "http://x/", "reposdir": format!("{dir}/none")})).await.expect_err("no dir");
    assert!(e.msg.starts_with("Repo directory"), "{}", e.msg);
}
}
