use super::*;
use crate::packages::repo_files::{seen_file, FileChange};
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;

#[test]
fn file_names_and_fields_follow_ansible() {
    assert_eq!(slug("Docker CE_stable (x86)"), "docker-ce-stable-x86");
    let a = SPEC
        .parse(args(json!({"name": "kube", "types": ["deb"], "uris": "http://mirror/k8s", "suites": ["/"], "enabled": true, "architectures": ["amd64", "arm64"]})))
        .expect("args");
    let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----";
    assert_eq!(
        stanza(&a, Some(key)),
        "Architectures: amd64 arm64\nEnabled: yes\nX-Repolib-Name: kube\nSigned-By: -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF\n -----END PGP PUBLIC KEY BLOCK-----\nSuites: /\nTypes: deb\nURIs: http://mirror/k8s\n"
    );
    let e = SPEC
        .parse(args(json!({"name": "x", "types": ["deb"]})))
        .unwrap_err();
    assert_eq!(
        e.msg,
        "state is present but all of the following are missing: uris, suites"
    );
}

const MIRROR: &str = "Components: main\nX-Repolib-Name: Local Mirror\nSuites: bookworm\nTypes: deb\nURIs: http://10.0.0.1/debian\n";
const DEST: &str = "/etc/apt/sources.list.d/local-mirror.sources";

fn da(v: serde_json::Value) -> Deb822Args {
    Deb822Args::parse(args(v), "").expect("args")
}

fn mirror() -> Deb822Args {
    da(
        json!({"name": "Local Mirror", "types": "deb", "uris": ["http://10.0.0.1/debian"], "suites": ["bookworm"], "components": ["main"]}),
    )
}

fn seen(content: Option<&str>, mode: u32) -> Seen {
    Seen {
        file: seen_file(DEST, content, mode),
        key: None,
        key_files: Vec::new(),
    }
}

#[test]
fn present_writes_a_new_or_different_stanza_with_its_diff() {
    let p = Deb822RepositoryModule::plan(&mirror(), &seen(None, 0)).expect("plan");
    let c = p.changes.expect("changes");
    assert_eq!(
        c.sources.map(|e| e.change),
        Some(FileChange::Write(MIRROR.into()))
    );
    assert!(c.key.is_none() && c.remove.is_empty());
    let r = p.result.into_map();
    assert_eq!(r["changed"], json!(true));
    assert_eq!(
        (r["dest"].clone(), r["repo"].clone()),
        (json!(DEST), json!(MIRROR))
    );
    assert_eq!(r["key_filename"], json!(null));
    assert_eq!(r["diff"][0]["before"], json!(""));
    assert_eq!(r["diff"][0]["after"], json!(MIRROR));
    let p =
        Deb822RepositoryModule::plan(&mirror(), &seen(Some("Types: deb\n"), 0o644)).expect("plan");
    assert!(p.result.changed);
}

#[test]
fn present_is_unchanged_when_stanza_and_mode_match_and_chmods_otherwise() {
    let p = Deb822RepositoryModule::plan(&mirror(), &seen(Some(MIRROR), 0o644)).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed);
    let p = Deb822RepositoryModule::plan(&mirror(), &seen(Some(MIRROR), 0o600)).expect("plan");
    let c = p.changes.expect("chmod");
    assert_eq!(c.sources.map(|e| e.change), Some(FileChange::Attrs));
}

#[test]
fn a_fetched_key_is_stored_when_it_differs_and_named_in_the_stanza() {
    let a = da(
        json!({"name": "k", "types": "deb", "uris": "http://m/", "suites": "s", "signed_by": "http://m/key.asc"}),
    );
    let key = FetchedKey {
        path: "/etc/apt/keyrings/k.asc".into(),
        data: b"-----BEGIN PGP x".to_vec(),
        current: None,
    };
    let text = "X-Repolib-Name: k\nSigned-By: /etc/apt/keyrings/k.asc\nSuites: s\nTypes: deb\nURIs: http://m/\n";
    let mut s = seen(Some(text), 0o644);
    s.key = Some(key.clone());
    let p = Deb822RepositoryModule::plan(&a, &s).expect("plan");
    let c = p.changes.expect("key");
    assert_eq!(c.key, Some((key.path.clone(), key.data.clone())));
    assert!(c.sources.is_none());
    assert_eq!(
        p.result.into_map()["key_filename"],
        json!("/etc/apt/keyrings/k.asc")
    );
    s.key = Some(FetchedKey {
        current: Some(key.data.clone()),
        ..key
    });
    assert!(Deb822RepositoryModule::plan(&a, &s)
        .expect("plan")
        .changes
        .is_none());
}

#[test]
fn a_key_file_given_by_path_is_reported_when_it_exists() {
    let a = da(
        json!({"name": "k", "types": "deb", "uris": "http://m/", "suites": "s", "signed_by": "/etc/apt/keyrings/m.gpg"}),
    );
    let mut s = seen(None, 0);
    let p = Deb822RepositoryModule::plan(&a, &s).expect("plan");
    assert_eq!(p.result.into_map()["key_filename"], json!(null));
    s.key_files = vec!["/etc/apt/keyrings/m.gpg".into()];
    let p = Deb822RepositoryModule::plan(&a, &s).expect("plan");
    assert_eq!(
        p.result.into_map()["key_filename"],
        json!("/etc/apt/keyrings/m.gpg")
    );
}

#[test]
fn absent_removes_the_file_and_its_key_files_like_ansible() {
    let a = da(json!({"name": "Local Mirror", "state": "absent"}));
    let mut s = seen(Some(MIRROR), 0o644);
    s.key_files = vec!["/etc/apt/keyrings/local-mirror.gpg".into()];
    let p = Deb822RepositoryModule::plan(&a, &s).expect("plan");
    let c = p.changes.expect("changes");
    assert_eq!(c.sources.map(|e| e.change), Some(FileChange::Remove));
    assert_eq!(
        c.remove,
        vec!["/etc/apt/keyrings/local-mirror.gpg".to_string()]
    );
    let r = p.result.into_map();
    assert_eq!(r["repo"], json!(null));
    assert_eq!(
        r["key_filename"],
        json!("/etc/apt/keyrings/local-mirror.gpg")
    );
    let p = Deb822RepositoryModule::plan(&a, &seen(None, 0)).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed && p.result.diff.is_none());
}

crate::testutil::both_paths! {
async fn writes_the_sources_file_once_and_removes_it() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("etc/apt/sources.list.d")).expect("mkdir");
    let m = Planned(Deb822RepositoryModule { root: d.path().to_string_lossy().into_owned() });
    let env = TestEnv::new(d.path());
    let a = json!({"name": "Local Mirror", "types": "deb", "uris": ["http://10.0.0.1/debian"], "suites": ["bookworm"], "components": ["main"], "signed_by": "/etc/apt/keyrings/m.gpg"});
    let r = m.run(&ctx(&env, true, true), args(a.clone())).await.map(|r| r.into_map()).expect("check");
    assert_eq!(r["changed"], json!(true));
    let f = d.path().join("etc/apt/sources.list.d/local-mirror.sources");
    assert!(!f.exists());
    let r = m.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("run");
    assert_eq!(r["changed"], json!(true));
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        "Components: main\nX-Repolib-Name: Local Mirror\nSigned-By: /etc/apt/keyrings/m.gpg\nSuites: bookworm\nTypes: deb\nURIs: http://10.0.0.1/debian\n"
    );
    let r = m.run(&ctx(&env, false, false), args(a)).await.map(|r| r.into_map()).expect("again");
    assert_eq!(r["changed"], json!(false));
    let key = d.path().join("etc/apt/keyrings/local-mirror.asc");
    std::fs::create_dir_all(d.path().join("etc/apt/keyrings")).expect("mkdir");
    std::fs::write(&key, "k").expect("key");
    let r = m.run(&ctx(&env, false, false), args(json!({"name": "Local Mirror", "state": "absent"}))).await.map(|r| r.into_map()).expect("absent");
    assert_eq!(r["changed"], json!(true));
    assert!(!f.exists() && !key.exists());
    let r = m.run(&ctx(&env, false, false), args(json!({"name": "Local Mirror", "state": "absent"}))).await.map(|r| r.into_map()).expect("absent again");
    assert_eq!(r["changed"], json!(false));
}
}
