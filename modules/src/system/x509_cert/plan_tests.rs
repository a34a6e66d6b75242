//! `plan` without a host: files are made in memory, the clock is chosen.

use super::crypto;
use super::host::Found;
use super::plan::{plan, Changes, KeyAction};
use super::spec::{TaskArgs, SPEC};
use super::Seen;
use crate::common::probe::{PathKind, PathStat};
use crate::testutil::args;
use serde_json::json;
use time::{Duration, OffsetDateTime};

fn task(v: serde_json::Value) -> TaskArgs {
    TaskArgs::parse(&SPEC.parse(args(v)).expect("spec")).expect("args")
}

fn absent(p: &str) -> Found {
    Found {
        stat: PathStat::absent(p),
        content: None,
    }
}

fn file(p: &str, mode: u32, content: &[u8]) -> Found {
    Found {
        stat: PathStat {
            kind: PathKind::File,
            mode,
            content: Some(content.to_vec()),
            ..PathStat::absent(p)
        },
        content: Some(content.to_vec()),
    }
}

fn ca_task() -> TaskArgs {
    task(
        json!({"path": "/c.pem", "privatekey_path": "/k.pem", "common_name": "kplay-ca", "is_ca": true}),
    )
}

/// A fitting key and certificate for `t`, issued at `at`.
fn made(t: &TaskArgs, at: OffsetDateTime) -> (String, String) {
    let k = crypto::generate_key(t.key_type).expect("key");
    let cert = crypto::issue(&t.spec, &k, None, at).expect("cert");
    (k.serialize_pem(), cert)
}

fn seen(key: Found, cert: Found, now: OffsetDateTime) -> Seen {
    Seen {
        key,
        cert,
        ca: None,
        umask: 0o022,
        now,
    }
}

#[test]
fn nothing_there_plans_a_new_key_and_certificate_without_making_them() {
    let t = ca_task();
    let p = plan(
        &t,
        &seen(
            absent("/k.pem"),
            absent("/c.pem"),
            OffsetDateTime::now_utc(),
        ),
    )
    .expect("plan");
    assert!(p.result.changed);
    let r = &p.result.extra;
    assert_eq!(r["privatekey_changed"], json!("created"));
    assert_eq!(r["reissued"], json!(true));
    assert_eq!(r["subject"], json!("CN=kplay-ca"));
    assert_eq!(
        r["reasons"],
        json!([
            "the private key does not exist",
            "the certificate does not exist"
        ])
    );
    let Some(Changes::Make(m)) = p.changes else {
        panic!("a new key and certificate: {:?}", p.changes);
    };
    assert!(matches!(m.key, KeyAction::New { how: "created" }));
    let i = m.issue.expect("issued");
    assert!(i.ca.is_none() && i.diff_before.is_empty());
    assert!(i.key_line.ends_with("(/k.pem, created)"), "{}", i.key_line);
    assert!(format!("{:?}", p.result.diff).contains("issuer: (self-signed)"));
}

#[test]
fn a_fitting_certificate_is_left_alone_until_its_margin() {
    let t = ca_task();
    let now = OffsetDateTime::now_utc();
    let (k, c) = made(&t, now);
    let fitting = || {
        seen(
            file("/k.pem", 0o600, k.as_bytes()),
            file("/c.pem", 0o644, c.as_bytes()),
            now,
        )
    };
    let p = plan(&t, &fitting()).expect("plan");
    assert!(!p.result.changed && p.changes.is_none(), "{:?}", p.result);
    assert_eq!(p.result.extra["subject"], json!("CN=kplay-ca"));
    assert_eq!(p.result.extra["privatekey_changed"], json!(false));
    assert!(p.result.extra.contains_key("serial_number"));
    let mut late = fitting();
    late.now = now + Duration::days(3650 - 10);
    let p = plan(&t, &late).expect("plan");
    let Some(Changes::Make(m)) = p.changes else {
        panic!("renewed: {:?}", p.changes);
    };
    assert!(
        matches!(m.key, KeyAction::Keep { .. }) && m.issue.is_some(),
        "renewed with the same key: {m:?}"
    );
    assert_eq!(p.result.extra["reasons"].as_array().map(Vec::len), Some(1));
    let forced = task(
        json!({"path": "/c.pem", "privatekey_path": "/k.pem", "common_name": "kplay-ca", "is_ca": true, "force": true}),
    );
    let p = plan(&forced, &fitting()).expect("plan");
    assert_eq!(p.result.extra["reasons"], json!(["force"]));
}

#[test]
fn only_attributes_differ_so_only_attributes_are_fixed() {
    let t = ca_task();
    let now = OffsetDateTime::now_utc();
    let (k, c) = made(&t, now);
    let p = plan(
        &t,
        &seen(
            file("/k.pem", 0o644, k.as_bytes()),
            file("/c.pem", 0o600, c.as_bytes()),
            now,
        ),
    )
    .expect("plan");
    assert!(p.result.changed);
    assert_eq!(p.result.extra["reissued"], json!(false));
    let Some(Changes::Make(m)) = p.changes else {
        panic!("attributes only: {:?}", p.changes);
    };
    let (KeyAction::Keep { fix, .. }, None) = (&m.key, &m.issue) else {
        panic!("attributes only: {m:?}");
    };
    assert_eq!(fix.mode.map(|m| m.1), Some(0o600));
    assert_eq!(m.cert_fix.mode.map(|m| m.1), Some(0o644));
}

#[test]
fn a_key_of_another_type_or_unreadable_is_replaced() {
    let t = ca_task();
    let now = OffsetDateTime::now_utc();
    let p = plan(
        &t,
        &seen(file("/k.pem", 0o600, b"garbage"), absent("/c.pem"), now),
    )
    .expect("plan");
    assert_eq!(p.result.extra["privatekey_changed"], json!("replaced"));
    assert!(matches!(
        &p.changes,
        Some(Changes::Make(m)) if matches!(m.key, KeyAction::New { how: "replaced" })
    ));
}

#[test]
fn ownca_without_its_ca_reports_in_check_mode_and_fails_a_real_run() {
    let t = task(
        json!({"path": "/m.pem", "privatekey_path": "/mk.pem", "common_name": "m",
                        "ownca_path": "/ca.pem", "ownca_privatekey_path": "/ca-key.pem"}),
    );
    let mut s = seen(
        absent("/mk.pem"),
        absent("/m.pem"),
        OffsetDateTime::now_utc(),
    );
    s.ca = Some((absent("/ca.pem"), absent("/ca-key.pem")));
    let p = plan(&t, &s).expect("plan");
    assert!(p.result.changed);
    assert_eq!(
        p.result.extra["reasons"],
        json!(["the CA file /ca.pem does not exist yet"])
    );
    let Some(Changes::CaMissing(msg)) = p.changes else {
        panic!("{:?}", p.changes);
    };
    assert!(
        msg.starts_with("the CA file /ca.pem does not exist"),
        "{msg}"
    );
}

#[test]
fn a_ca_key_of_another_certificate_is_refused() {
    let ca = ca_task();
    let now = OffsetDateTime::now_utc();
    let (_, ca_cert) = made(&ca, now);
    let (other_key, _) = made(&ca, now);
    let t = task(
        json!({"path": "/m.pem", "privatekey_path": "/mk.pem", "common_name": "m",
                        "ownca_path": "/ca.pem", "ownca_privatekey_path": "/ca-key.pem"}),
    );
    let mut s = seen(absent("/mk.pem"), absent("/m.pem"), now);
    s.ca = Some((
        file("/ca.pem", 0o644, ca_cert.as_bytes()),
        file("/ca-key.pem", 0o600, other_key.as_bytes()),
    ));
    let e = plan(&t, &s).unwrap_err();
    assert_eq!(
        e.msg,
        "the CA key /ca-key.pem does not belong to the CA certificate /ca.pem"
    );
}
