//! `get_url`'s tests: the plan without a host, and downloads through curl and the tunnel.

use super::*;
use crate::common::install::sha1_hex;
use crate::common::probe::PathKind;
use crate::common::write::TEMP_PREFIX;
use crate::target_http::testserver::serve;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Diff;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn route(path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    match path {
        "/file.txt" => (200, vec![], b"hello world\n".to_vec()),
        "/sums" => (200, vec![], b"aaaa  other\na948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447  file.txt\n".to_vec()),
        "/dl" => (200, vec![("Content-Disposition".into(), "attachment; filename=\"named.bin\"".into())], b"x".to_vec()),
        "/moved" => (302, vec![("Location".into(), "/file.txt".into())], vec![]),
        _ => (404, vec![], b"no".to_vec()),
    }
}

/// `Planned`'s run with the way to the server forced to `via`.
async fn run_get_url(
    ctx: &ModuleContext<'_>,
    args: Map,
    via: Via,
) -> Result<ModuleResult, ModuleError> {
    let m = GetUrlModule;
    let mut a = m.parse(args)?;
    a.via = via;
    let seen = m.query(ctx, &a).await?;
    let plan = GetUrlModule::plan(&a, &seen)?;
    match plan.changes {
        Some(c) if !ctx.check_mode => m.apply(ctx, &a, c, plan.result).await,
        _ => Ok(plan.result),
    }
}

const HELLO_SHA256: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

fn has_curl() -> bool {
    std::path::Path::new("/usr/bin/curl").exists()
}

async fn download_then_idempotent(via: Via) {
    let (port, _) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("f.txt");
    let env = TestEnv::new(t.path());
    let a = json!({"url": format!("http://127.0.0.1:{port}/moved"), "dest": dest.to_str().unwrap(), "mode": "0640", "checksum": format!("sha256:{HELLO_SHA256}")});
    let r = run_get_url(&ctx(&env, false, false), args(a.clone()), via)
        .await
        .unwrap()
        .into_map();
    assert_eq!(r["changed"], true);
    assert_eq!(r["status_code"], 200);
    assert_eq!(r["msg"], "OK (12 bytes)");
    assert_eq!(r["checksum_src"], sha1_hex(b"hello world\n"));
    assert_eq!(r["checksum_dest"], Value::Null);
    assert_eq!(r["url"], format!("http://127.0.0.1:{port}/file.txt"));
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello world\n");
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let r = run_get_url(&ctx(&env, false, false), args(a), via)
        .await
        .unwrap()
        .into_map();
    assert_eq!(r["changed"], false);
    assert_eq!(r["msg"], "file already exists");
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .collect();
    assert!(leftovers.is_empty());
}

crate::testutil::both_paths! {
async fn curl_on_the_host_downloads_then_is_idempotent() {
    if has_curl() {
        download_then_idempotent(Via::Auto).await;
    }
}
}

crate::testutil::both_paths! {
async fn tunnel_downloads_then_is_idempotent() {
    download_then_idempotent(Via::Tunnel).await;
}
}

crate::testutil::both_paths! {
async fn forced_download_of_same_content_is_unchanged() {
    let (port, seen) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("f.txt");
    std::fs::write(&dest, b"hello world\n").unwrap();
    let env = TestEnv::new(t.path());
    let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap(), "force": true});
    let r = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], false);
    assert_eq!(r["checksum_dest"], sha1_hex(b"hello world\n"));
    assert_eq!(seen.lock().unwrap().len(), 1);
}
}

crate::testutil::both_paths! {
async fn checksum_mismatch_fails_and_leaves_dest_alone() {
    let (port, _) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("f.txt");
    let env = TestEnv::new(t.path());
    let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap(), "checksum": "sha1:0000"});
    let e = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
        .await
        .unwrap_err();
    assert!(
        e.msg.starts_with(&format!(
            "The checksum for {} did not match 0000; it was",
            dest.display()
        )),
        "{}",
        e.msg
    );
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
}
}

crate::testutil::both_paths! {
async fn checksum_url_and_directory_dest_use_the_server_names() {
    let (port, _) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let env = TestEnv::new(t.path());
    let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": t.path().to_str().unwrap(), "checksum": format!("sha256:http://127.0.0.1:{port}/sums")});
    let r = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
        .await
        .unwrap().into_map();
    assert_eq!(r["dest"], t.path().join("file.txt").to_str().unwrap());
    let a = json!({"url": format!("http://127.0.0.1:{port}/dl"), "dest": t.path().to_str().unwrap()});
    run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
        .await
        .unwrap();
    assert_eq!(std::fs::read(t.path().join("named.bin")).unwrap(), b"x");
}
}

crate::testutil::both_paths! {
async fn check_mode_reports_change_without_writing() {
    let (port, seen) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let env = TestEnv::new(t.path());
    let dest = t.path().join("f");
    let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap()});
    let r = run_get_url(&ctx(&env, true, false), args(a), Via::Tunnel)
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], true);
    assert!(!dest.exists());
    assert!(seen.lock().unwrap()[0].starts_with("HEAD /file.txt"));
}
}

crate::testutil::both_paths! {
async fn http_error_fails_with_status_code() {
    let (port, _) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let env = TestEnv::new(t.path());
    let a = json!({"url": format!("http://127.0.0.1:{port}/missing"), "dest": t.path().join("f").to_str().unwrap()});
    let e = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
        .await
        .unwrap_err();
    assert_eq!(e.msg, "Request failed");
    assert_eq!(e.result["status_code"], 404);
}
}

/// A local port nobody listens on: connecting is refused.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

crate::testutil::both_paths! {
async fn unreachable_server_is_reported_before_a_missing_directory() {
    // kubespray's downloads on an air-gapped host: ansible-core fails on the request (naming
    // the URL), in check mode and not, before it looks at dest's directory.
    let t = tempfile::tempdir().unwrap();
    let env = TestEnv::new(t.path());
    let url = format!("http://127.0.0.1:{}/runc.amd64", closed_port());
    let dest = t.path().join("missing/runc");
    for check in [true, false] {
        let a = json!({"url": url, "dest": dest.to_str().unwrap()});
        let e = run_get_url(&ctx(&env, check, false), args(a), Via::Tunnel)
            .await
            .unwrap_err();
        assert!(e.msg.starts_with("Request failed: "), "{}", e.msg);
        assert_eq!(e.result["url"], url.as_str());
        assert_eq!(e.result["dest"], dest.to_str().unwrap());
        assert_eq!(e.result["status_code"], -1);
    }
    assert!(!t.path().join("missing").exists());
}
}

crate::testutil::both_paths! {
async fn unreachable_server_in_check_mode_names_the_url() {
    let t = tempfile::tempdir().unwrap();
    let env = TestEnv::new(t.path());
    let url = format!("http://127.0.0.1:{}/runc.amd64", closed_port());
    let a = json!({"url": url, "dest": t.path().join("runc").to_str().unwrap()});
    let e = run_get_url(&ctx(&env, true, false), args(a), Via::Tunnel)
        .await
        .unwrap_err();
    assert!(e.msg.starts_with("Request failed: "), "{}", e.msg);
    assert_eq!(e.result["url"], url.as_str());
    assert_eq!(e.result["status_code"], -1);
}
}

crate::testutil::both_paths! {
async fn reachable_server_then_missing_directory_fails_on_the_directory() {
    let (port, seen) = serve(route);
    let t = tempfile::tempdir().unwrap();
    let env = TestEnv::new(t.path());
    let dest = t.path().join("missing/f");
    let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap()});
    let e = run_get_url(&ctx(&env, false, false), args(a), Via::Tunnel)
        .await
        .unwrap_err();
    assert_eq!(
        e.msg,
        format!("Destination {} does not exist", t.path().join("missing").display())
    );
    assert!(seen.lock().unwrap()[0].starts_with("HEAD /file.txt"));
    assert!(!t.path().join("missing").exists());
    // In check mode too, and with one request, not a second HEAD for the check's result.
    let before = seen.lock().unwrap().len();
    let a = json!({"url": format!("http://127.0.0.1:{port}/file.txt"), "dest": dest.to_str().unwrap()});
    let e = run_get_url(&ctx(&env, true, false), args(a), Via::Tunnel)
        .await
        .unwrap_err();
    assert!(e.msg.starts_with("Destination "), "{}", e.msg);
    assert_eq!(seen.lock().unwrap().len(), before + 1);
}
}

#[test]
fn checksum_argument_forms() {
    assert_eq!(
        Checksum::parse("SHA256:ABCD").unwrap(),
        Checksum::Value {
            algorithm: "sha256".into(),
            hex: "abcd".into()
        }
    );
    assert!(matches!(
        Checksum::parse("sha1:http://h/sums").unwrap(),
        Checksum::Url { .. }
    ));
    assert!(Checksum::parse("crc32:00")
        .unwrap_err()
        .msg
        .starts_with("Unsupported hash algorithm"));
    assert!(Checksum::parse("abcd").is_err());
    assert!(Checksum::parse("md5:xyz").is_err());
}

#[test]
fn checksum_files_are_searched_by_name() {
    assert_eq!(
        checksum_from_file("ab *pkg.tgz\ncd  other\n", "pkg.tgz").as_deref(),
        Some("ab")
    );
    assert_eq!(checksum_from_file("EF\n", "x").as_deref(), Some("ef"));
    assert_eq!(checksum_from_file("ab  a\ncd  b\n", "c"), None);
}

#[test]
fn download_names_prefer_content_disposition() {
    assert_eq!(download_name("http://h/a/b.tgz?x=1", None), "b.tgz");
    assert_eq!(download_name("http://h/", None), "index.html");
    assert_eq!(
        download_name("http://h/x", Some("attachment; filename=\"../y.bin\"")),
        "y.bin"
    );
}

#[test]
fn url_and_dest_are_required() {
    assert_eq!(
        GetUrlArgs::parse(args(json!({"url": "http://h/"})))
            .unwrap_err()
            .msg,
        "missing required arguments: dest"
    );
}

/// The planned download, if any.
fn download(c: &Option<Changes>) -> Option<&Download> {
    match c {
        Some(Changes::Download(d)) => Some(d),
        _ => None,
    }
}

fn ga(v: serde_json::Value) -> GetUrlArgs {
    GetUrlArgs::parse(args(v)).expect("args")
}

/// `dest` as `query` finds it: a file with `digest` (of the checksum's algorithm), a
/// directory, or nothing.
fn seen_file(digest: Option<&str>, dir: bool) -> Seen {
    let mut dest = PathStat::absent("/d/f");
    if dir {
        dest.kind = PathKind::Directory;
    } else if let Some(d) = digest {
        dest.kind = PathKind::File;
        dest.mode = 0o644;
        dest.mtime = 1_700_000_000.0;
        dest.checksum = Some(d.to_string());
    }
    Seen {
        dest,
        dest_sha1: digest.map(str::to_string),
        parent_is_dir: true,
        umask: 0o022,
        host: Default::default(),
        expected: None,
        head: None,
    }
}

#[test]
fn plan_keeps_a_file_whose_checksum_matches_unless_forced() {
    let a = ga(json!({"url": "http://h/f", "dest": "/d/f", "checksum": "sha1:abcd"}));
    let mut s = seen_file(Some("abcd"), false);
    s.expected = Some(("sha1".into(), "abcd".into()));
    let p = GetUrlModule::plan(&a, &s).expect("plan");
    assert!(p.changes.is_none());
    assert_eq!(p.result.extra["msg"], json!("file already exists"));
    let a2 =
        ga(json!({"url": "http://h/f", "dest": "/d/f", "checksum": "sha1:abcd", "mode": "0600"}));
    let p = GetUrlModule::plan(&a2, &s).expect("plan");
    assert!(matches!(p.changes, Some(Changes::Attrs(_))) && p.result.changed);
    assert_eq!(
        p.result.extra["msg"],
        json!("file already exists but file attributes changed")
    );
    let forced =
        ga(json!({"url": "http://h/f", "dest": "/d/f", "checksum": "sha1:abcd", "force": true}));
    let p = GetUrlModule::plan(&forced, &s).expect("plan");
    let d = download(&p.changes).expect("download");
    assert!(d.force && d.if_modified_since.is_some());
}

#[test]
fn plan_downloads_on_a_checksum_mismatch_or_without_a_checksum_as_ansible_2_18_does() {
    let a = ga(json!({"url": "http://h/f", "dest": "/d/f", "checksum": "sha1:abcd"}));
    let mut s = seen_file(Some("ffff"), false);
    s.expected = Some(("sha1".into(), "abcd".into()));
    let p = GetUrlModule::plan(&a, &s).expect("plan");
    assert!(
        download(&p.changes).expect("download").force,
        "a mismatch forces"
    );
    let plain = ga(json!({"url": "http://h/f", "dest": "/d/f"}));
    let p = GetUrlModule::plan(&plain, &seen_file(Some("ffff"), false)).expect("plan");
    let d = download(&p.changes).expect("download");
    assert!(!d.force && d.if_modified_since == Some(1_700_000_000.0));
    assert_eq!(
        decide::http_date(1_700_000_000.0),
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    let p = GetUrlModule::plan(&plain, &seen_file(None, false)).expect("plan");
    assert_eq!(
        download(&p.changes).expect("download").if_modified_since,
        None
    );
    let mut s = seen_file(None, false);
    s.parent_is_dir = false;
    assert_eq!(
        GetUrlModule::plan(&plain, &s).unwrap_err().msg,
        "Destination /d does not exist"
    );
}

#[test]
fn check_mode_result_comes_from_the_head_request() {
    let plain = ga(json!({"url": "http://h/f", "dest": "/d"}));
    let mut s = seen_file(None, true);
    s.dest.path = "/d".into();
    let head = |status, dest_sha1: Option<&str>| decide::Head {
        status,
        url: "http://h/a/f.tgz".into(),
        content_length: Some("12".into()),
        disposition: None,
        dest_sha1: dest_sha1.map(str::to_string),
    };
    s.head = Some(head(200, None));
    let p = GetUrlModule::plan(&plain, &s).expect("plan");
    assert!(p.result.changed);
    assert_eq!(p.result.extra["dest"], json!("/d/f.tgz"));
    assert_eq!(p.result.extra["msg"], json!("OK (12 bytes)"));
    assert_eq!(p.result.extra["checksum_src"], json!(decide::SHA1_EMPTY));
    s.head = Some(head(200, Some(decide::SHA1_EMPTY)));
    assert!(
        !GetUrlModule::plan(&plain, &s).expect("plan").result.changed,
        "an empty old file equals the empty HEAD body"
    );
    s.head = Some(head(304, Some("ab")));
    let p = GetUrlModule::plan(&plain, &s).expect("plan");
    assert!(!p.result.changed && p.result.extra["status_code"] == json!(304));
    s.head = Some(head(404, None));
    let e = GetUrlModule::plan(&plain, &s).unwrap_err();
    assert_eq!(
        (e.msg.as_str(), e.result["status_code"].clone()),
        ("Request failed", json!(404))
    );
    assert!(p.result.diff == Diff::None);
}
