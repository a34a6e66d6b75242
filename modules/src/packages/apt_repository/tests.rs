use super::sources::*;
use super::*;
use crate::packages::repo_files::seen_file;
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;

const DOCKER: &str = "deb [arch=amd64] https://download.docker.com/linux/ubuntu jammy stable";
const LIST: &str = "/etc/apt/sources.list";
const NEW: &str = "/etc/apt/sources.list.d/download_docker_com_linux_ubuntu.list";

fn aa(v: serde_json::Value) -> AptRepoArgs {
    AptRepoArgs::parse(args(v), "").expect("args")
}

fn seen(files: &[(&str, Option<&str>)]) -> Seen {
    Seen {
        files: files
            .iter()
            .map(|(p, c)| (p.to_string(), seen_file(p, *c, 0o644)))
            .collect(),
    }
}

fn changes(p: &Plan<Changes>) -> Vec<(String, FileChange)> {
    p.changes
        .iter()
        .flat_map(|c| c.edits.iter())
        .map(|e| (e.file.path.clone(), e.file.change.clone()))
        .collect()
}

#[test]
fn file_name_follows_the_uri() {
    assert_eq!(
        suggest_filename(DOCKER),
        "download_docker_com_linux_ubuntu.list"
    );
    assert_eq!(
        suggest_filename("deb http://user:pw@mirror.local/debian/ bookworm main"),
        "mirror_local_debian.list"
    );
    assert_eq!(aa(json!({"repo": DOCKER})).new_file, NEW);
    assert_eq!(
        aa(json!({"repo": DOCKER, "filename": "docker"})).new_file,
        "/etc/apt/sources.list.d/docker.list"
    );
}

#[test]
fn lines_are_modelled_and_dumped_like_ansible() {
    let l = parse_line("#deb   http://a/  b c # note");
    assert_eq!(
        (l.valid, l.enabled, l.source.as_str(), l.comment.as_str()),
        (true, false, "deb http://a/ b c", "note")
    );
    assert_eq!(
        dump(&parse("deb  x y\n\n#comment\n")).as_deref(),
        Some("deb x y\n\n# comment\n")
    );
    assert_eq!(dump(&[]), None);
    assert_eq!(
        repo_source("deb  http://a/ b").as_deref(),
        Ok("deb http://a/ b")
    );
    assert_eq!(repo_source("foo bar # x").unwrap_err(), "foo bar ");
    let e = AptRepoArgs::parse(args(json!({"repo": "# deb http://a/ b"})), "").unwrap_err();
    assert_eq!(e.msg, "Invalid repository string:  deb http://a/ b");
    let e = AptRepoArgs::parse(args(json!({"repo": ""})), "").unwrap_err();
    assert_eq!(e.msg, "Please set argument 'repo' to a non-empty value");
}

#[test]
fn present_adds_a_new_file_with_its_diff_and_mode() {
    let p = AptRepositoryModule::plan(
        &aa(json!({"repo": DOCKER})),
        &seen(&[(LIST, Some("deb http://a/ b c\n")), (NEW, None)]),
    )
    .expect("plan");
    assert_eq!(
        changes(&p),
        vec![(NEW.to_string(), FileChange::Write(format!("{DOCKER}\n")))]
    );
    let c = p.changes.as_ref().expect("changes");
    assert_eq!(
        c.edits[0].opts.attrs.mode, None,
        "the umask decides without `mode`"
    );
    let with_mode = aa(json!({"repo": DOCKER, "mode": "0640"}));
    let q = AptRepositoryModule::plan(&with_mode, &seen(&[(NEW, None)])).expect("plan");
    let mode = q.changes.map(|c| c.edits[0].opts.attrs.mode.clone());
    assert_eq!(mode, Some(Some(ModeSpec::Octal(0o640))));
    assert!(c.update_cache);
    let r = p.result.into_map();
    assert_eq!(r["changed"], json!(true));
    assert_eq!(r["repo"], json!(DOCKER));
    assert_eq!(r["sources_added"], json!([NEW]));
    assert_eq!(r["sources_removed"], json!([]));
    assert_eq!(r["diff"][0]["before_header"], json!("/dev/null"));
    assert_eq!(r["diff"][0]["after"], json!(format!("{DOCKER}\n")));
}

#[test]
fn present_enables_commented_copies_and_is_unchanged_when_enabled() {
    let s = seen(&[
        (LIST, Some(&format!("deb http://a/ b c\n#  {DOCKER}\n"))),
        (NEW, None),
    ]);
    let p =
        AptRepositoryModule::plan(&aa(json!({"repo": DOCKER, "mode": "0600"})), &s).expect("plan");
    assert_eq!(
        changes(&p),
        vec![(
            LIST.to_string(),
            FileChange::Write(format!("deb http://a/ b c\n{DOCKER}\n"))
        )]
    );
    assert_eq!(
        p.changes
            .as_ref()
            .map(|c| c.edits[0].opts.attrs.mode.clone()),
        Some(None)
    );
    let r = p.result.into_map();
    assert_eq!(
        (r["changed"].clone(), r["sources_added"].clone()),
        (json!(true), json!([]))
    );
    assert_eq!(r["diff"], json!([]));
    let s = seen(&[
        (LIST, Some("deb http://a/ b c\n")),
        (NEW, Some(&format!("{DOCKER}   \n"))),
    ]);
    let p = AptRepositoryModule::plan(&aa(json!({"repo": DOCKER})), &s).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed);
}

#[test]
fn absent_removes_enabled_lines_and_deletes_an_emptied_file() {
    let s = seen(&[
        (LIST, Some(&format!("deb http://a/ b c\n{DOCKER}\n"))),
        (
            "/etc/apt/sources.list.d/d.list",
            Some(&format!("{DOCKER}\n")),
        ),
        (
            "/etc/apt/sources.list.d/e.list",
            Some(&format!("# docker\n{DOCKER}\n")),
        ),
        (NEW, None),
    ]);
    let p = AptRepositoryModule::plan(
        &aa(json!({"repo": DOCKER, "state": "absent", "update_cache": false})),
        &s,
    )
    .expect("plan");
    assert_eq!(
        changes(&p),
        vec![
            (
                LIST.to_string(),
                FileChange::Write("deb http://a/ b c\n".into())
            ),
            (
                "/etc/apt/sources.list.d/d.list".to_string(),
                FileChange::Remove
            ),
            (
                "/etc/apt/sources.list.d/e.list".to_string(),
                FileChange::Write("# docker\n".into())
            ),
        ]
    );
    assert!(!p.changes.as_ref().is_some_and(|c| c.update_cache));
    let r = p.result.into_map();
    assert_eq!(
        r["sources_removed"],
        json!(["/etc/apt/sources.list.d/d.list"])
    );
    assert_eq!(r["diff"][0]["after_header"], json!("/dev/null"));
    let s = seen(&[(LIST, Some(&format!("# {DOCKER}\n"))), (NEW, None)]);
    let p = AptRepositoryModule::plan(&aa(json!({"repo": DOCKER, "state": "absent"})), &s)
        .expect("plan");
    assert!(p.changes.is_none(), "a disabled copy stays");
}

crate::testutil::both_paths! {
async fn adds_a_source_once_and_removes_it() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("etc/apt/sources.list.d")).expect("mkdir");
    std::fs::write(d.path().join("etc/apt/sources.list"), "deb http://a/ b c\n").expect("list");
    let m = Planned(AptRepositoryModule { root: d.path().to_string_lossy().into_owned() });
    let env = TestEnv::new(d.path());
    let a = json!({"repo": "deb http://10.0.0.1/debian bookworm main", "filename": "mirror", "update_cache": false, "mode": "0640"});
    let f = d.path().join("etc/apt/sources.list.d/mirror.list");
    let r = m.run(&ctx(&env, true, true), args(a.clone())).await.map(|r| r.into_map()).expect("check");
    assert_eq!(r["changed"], json!(true));
    assert!(!f.exists(), "check mode writes nothing");
    let r = m.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("add");
    assert_eq!(r["sources_added"], json!([f.to_string_lossy()]));
    assert_eq!(std::fs::read_to_string(&f).expect("read"), "deb http://10.0.0.1/debian bookworm main\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&f).expect("stat").permissions().mode() & 0o777, 0o640);
    let r = m.run(&ctx(&env, false, false), args(a)).await.map(|r| r.into_map()).expect("again");
    assert_eq!(r["changed"], json!(false));
    let gone = json!({"repo": "deb http://10.0.0.1/debian bookworm main", "state": "absent", "update_cache": false});
    let r = m.run(&ctx(&env, false, false), args(gone)).await.map(|r| r.into_map()).expect("absent");
    assert_eq!(r["sources_removed"], json!([f.to_string_lossy()]));
    assert!(!f.exists());
}
}
