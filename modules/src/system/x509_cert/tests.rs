use super::*;
use crate::common::snapshot::{snapshot, temp_leftovers};
use crate::testutil::HostFx;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use x509_parser::extensions::GeneralName;

fn fx() -> HostFx {
    HostFx::new(&crate::planned::Planned(X509CertModule), "files")
}

fn mode(p: &str) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A self-signed CA in `host/ca.pem` + `host/ca-key.pem`.
async fn make_ca(fx: &HostFx) -> Map {
    fx.run(
        false,
        false,
        json!({"path": fx.host("ca.pem"), "privatekey_path": fx.host("ca-key.pem"),
               "common_name": "kplay-ca", "is_ca": true, "valid_days": 36500}),
    )
    .await
    .unwrap()
}

fn member_args(fx: &HostFx, sans: &[&str]) -> serde_json::Value {
    json!({"path": fx.host("member.pem"), "privatekey_path": fx.host("member-key.pem"),
           "ownca_path": fx.host("ca.pem"), "ownca_privatekey_path": fx.host("ca-key.pem"),
           "common_name": "etcd-node1", "subject_alt_name": sans,
           "key_usage": ["digitalSignature", "keyEncipherment"],
           "extended_key_usage": ["server", "client"], "valid_days": 3650})
}

fn with_cert<R>(
    path: &str,
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> R,
) -> R {
    let data = std::fs::read(path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&data).unwrap();
    let c = pem.parse_x509().unwrap();
    f(&c)
}

crate::testutil::both_paths! {
async fn ca_is_made_with_a_0600_key_then_left_alone() {
    let fx = fx();
    let r = make_ca(&fx).await;
    assert_eq!(r["changed"], true);
    assert_eq!(r["privatekey_changed"], "created");
    assert_eq!(mode(&fx.host("ca-key.pem")), 0o600);
    assert_eq!(mode(&fx.host("ca.pem")), 0o644);
    assert!(std::fs::read_to_string(fx.host("ca-key.pem"))
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    with_cert(&fx.host("ca.pem"), |c| {
        assert!(c.is_ca());
        assert_eq!(c.subject().to_string(), "CN=kplay-ca");
        assert_eq!(c.issuer(), c.subject());
        c.verify_signature(None).unwrap();
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
    });
    let before = snapshot(&fx.host_root());
    let r = make_ca(&fx).await;
    assert_eq!(r["changed"], false, "{r:?}");
    assert_eq!(r["reasons"], json!([]));
    assert_eq!(snapshot(&fx.host_root()), before);
    assert!(temp_leftovers(&fx.host_root()).is_empty());
}
}

crate::testutil::both_paths! {
async fn member_certificate_is_signed_by_the_ca_with_sans_and_usages() {
    let fx = fx();
    make_ca(&fx).await;
    let r = fx
        .run(
            false,
            false,
            member_args(&fx, &["DNS:node1", "IP:10.0.0.1", "127.0.0.1", "localhost"]),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(r["issuer"], "CN=kplay-ca");
    let ca_data = std::fs::read(fx.host("ca.pem")).unwrap();
    let (_, ca_pem) = x509_parser::pem::parse_x509_pem(&ca_data).unwrap();
    let ca = ca_pem.parse_x509().unwrap();
    with_cert(&fx.host("member.pem"), |c| {
        assert!(!c.is_ca());
        c.verify_signature(Some(ca.public_key())).unwrap();
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let names: Vec<String> = c
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(b) => format!("{b:?}"),
                _ => String::new(),
            })
            .collect();
        assert!(names.contains(&"node1".to_string()) && names.contains(&"localhost".to_string()));
        assert!(names.contains(&format!("{:?}", [10u8, 0, 0, 1])));
        let days =
            (c.validity().not_after.timestamp() - c.validity().not_before.timestamp()) / 86400;
        assert!((3649..=3651).contains(&days), "{days}");
    });
    let r = fx
        .run(
            false,
            false,
            member_args(&fx, &["DNS:node1", "IP:10.0.0.1", "127.0.0.1", "localhost"]),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], false, "{r:?}");
}
}

crate::testutil::both_paths! {
async fn new_sans_reissue_the_certificate_and_keep_the_key() {
    let fx = fx();
    make_ca(&fx).await;
    fx.run(false, false, member_args(&fx, &["IP:10.0.0.1"]))
        .await
        .unwrap();
    let key = std::fs::read(fx.host("member-key.pem")).unwrap();
    let serial1 = with_cert(&fx.host("member.pem"), |c| c.raw_serial_as_string());
    let r = fx
        .run(
            false,
            true,
            member_args(&fx, &["IP:10.0.0.1", "IP:10.0.0.2"]),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(r["privatekey_changed"], false);
    assert!(r["reasons"][0]
        .as_str()
        .unwrap()
        .contains("subject alternative names"));
    assert_eq!(std::fs::read(fx.host("member-key.pem")).unwrap(), key);
    let serial2 = with_cert(&fx.host("member.pem"), |c| c.raw_serial_as_string());
    assert_ne!(serial1, serial2);
    let d = &r["diff"][0];
    assert!(d["before"].as_str().unwrap().contains("IP:10.0.0.1"));
    assert!(d["after"].as_str().unwrap().contains("IP:10.0.0.2"));
}
}

crate::testutil::both_paths! {
async fn a_new_ca_reissues_the_member_certificate() {
    let fx = fx();
    make_ca(&fx).await;
    fx.run(false, false, member_args(&fx, &["IP:10.0.0.1"]))
        .await
        .unwrap();
    std::fs::remove_file(fx.host("ca.pem")).unwrap();
    std::fs::remove_file(fx.host("ca-key.pem")).unwrap();
    make_ca(&fx).await;
    let r = fx
        .run(false, false, member_args(&fx, &["IP:10.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(
        r["reasons"],
        json!(["the certificate is not signed by the CA"])
    );
}
}

crate::testutil::both_paths! {
async fn a_certificate_near_expiry_is_renewed() {
    let fx = fx();
    make_ca(&fx).await;
    let mut a = member_args(&fx, &["IP:10.0.0.1"]);
    a["valid_days"] = json!(40);
    fx.run(false, false, a.clone()).await.unwrap();
    assert_eq!(
        fx.run(false, false, a.clone()).await.unwrap()["changed"],
        false
    );
    // 40 days left, renewal wanted 45 days before expiry.
    a["valid_days"] = json!(100);
    a["renew_margin_days"] = json!(45);
    let r = fx.run(false, false, a.clone()).await.unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(
        r["reasons"],
        json!(["the certificate expires within 45 days"])
    );
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn check_mode_changes_nothing_and_diff_carries_no_key_material() {
    let fx = fx();
    let before = snapshot(&fx.host_root());
    let r = fx
        .run(
            true,
            true,
            json!({"path": fx.host("ca.pem"), "privatekey_path": fx.host("ca-key.pem"),
                   "common_name": "kplay-ca", "is_ca": true}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(snapshot(&fx.host_root()), before);
    // A member in the same check run: the CA does not exist yet, so it would be made.
    let r2 = fx
        .run(true, true, member_args(&fx, &["IP:10.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(r2["changed"], true);
    assert_eq!(snapshot(&fx.host_root()), before);
    // Real runs: no result or diff ever holds a private key.
    make_ca(&fx).await;
    for (check, sans) in [(false, vec!["IP:10.0.0.1"]), (true, vec!["IP:10.0.0.9"])] {
        let mut a = member_args(&fx, &sans);
        a["return_content"] = json!(true);
        let r = fx.run(check, true, a).await.unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        let key = std::fs::read_to_string(fx.host("member-key.pem")).unwrap();
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!text.contains(&body[..40]));
    }
}
}

crate::testutil::both_paths! {
async fn rsa_keys_are_made_and_a_wrong_key_type_is_replaced() {
    let fx = fx();
    let a = json!({"path": fx.host("c.pem"), "privatekey_path": fx.host("k.pem"),
                   "common_name": "rsa", "privatekey_type": "RSA", "privatekey_size": 2048});
    let r = fx.run(false, false, a.clone()).await.unwrap();
    assert_eq!(r["privatekey_type"], "RSA 2048");
    with_cert(&fx.host("c.pem"), |c| {
        c.verify_signature(None).unwrap();
        assert_eq!(
            c.public_key().algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.1"
        );
    });
    assert_eq!(
        fx.run(false, false, a.clone()).await.unwrap()["changed"],
        false
    );
    let mut ec = a.clone();
    ec["privatekey_type"] = json!("ECC");
    let r = fx.run(false, false, ec).await.unwrap();
    assert_eq!(r["privatekey_changed"], "replaced");
    assert_eq!(mode(&fx.host("k.pem")), 0o600);
}
}

crate::testutil::both_paths! {
async fn only_a_mode_difference_is_fixed_without_reissuing() {
    let fx = fx();
    make_ca(&fx).await;
    let serial = with_cert(&fx.host("ca.pem"), |c| c.raw_serial_as_string());
    std::fs::set_permissions(
        fx.host("ca-key.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = make_ca(&fx).await;
    assert_eq!(r["changed"], true);
    assert_eq!(r["reissued"], false);
    assert_eq!(mode(&fx.host("ca-key.pem")), 0o600);
    assert_eq!(
        with_cert(&fx.host("ca.pem"), |c| c.raw_serial_as_string()),
        serial
    );
}
}

crate::testutil::both_paths! {
async fn backup_keeps_the_old_certificate() {
    let fx = fx();
    make_ca(&fx).await;
    let mut a = member_args(&fx, &["IP:10.0.0.1"]);
    fx.run(false, false, a.clone()).await.unwrap();
    let old = std::fs::read(fx.host("member.pem")).unwrap();
    a["force"] = json!(true);
    a["backup"] = json!(true);
    let r = fx.run(false, false, a).await.unwrap();
    let b = r["backup_file"].as_str().unwrap();
    assert_eq!(std::fs::read(b).unwrap(), old);
}
}

crate::testutil::both_paths! {
async fn bad_arguments_and_missing_ca_fail_before_touching_the_host() {
    let fx = fx();
    let before = snapshot(&fx.host_root());
    let base =
        json!({"path": fx.host("c.pem"), "privatekey_path": fx.host("k.pem"), "common_name": "x"});
    let cases = [
        (
            json!({"path": fx.host("c.pem"), "common_name": "x"}),
            "missing required arguments: privatekey_path",
        ),
        (
            json!({"extended_key_usage": ["bogus"]}),
            "unknown extended_key_usage \"bogus\"",
        ),
        (
            json!({"key_usage": ["signEverything"]}),
            "unknown key_usage",
        ),
        (
            json!({"subject_alt_name": ["IP:node1"]}),
            "subject_alt_name \"IP:node1\" is not an IP address",
        ),
        (
            json!({"privatekey_type": "DSA"}),
            "value of privatekey_type must be one of",
        ),
        (
            json!({"privatekey_type": "RSA", "privatekey_size": 1024}),
            "privatekey_size must be 2048",
        ),
        (
            json!({"valid_days": 10}),
            "valid_days (10) must be more than renew_margin_days (30)",
        ),
        (
            json!({"provider": "ownca"}),
            "missing required arguments: ownca_path, ownca_privatekey_path",
        ),
        (
            json!({"ownca_path": fx.host("nope.pem"), "ownca_privatekey_path": fx.host("nope-key.pem")}),
            "the CA file",
        ),
        (
            json!({"path": fx.host("no/dir/c.pem")}),
            "Destination directory",
        ),
        (
            json!({"bogus": 1}),
            "Unsupported parameters for (x509_cert) module: bogus",
        ),
    ];
    for (extra, want) in cases {
        let mut a = base.clone();
        if extra.get("common_name").is_some() {
            a = extra.clone();
        } else {
            for (k, v) in extra.as_object().unwrap() {
                a[k] = v.clone();
            }
        }
        let e = fx.run(false, false, a).await.unwrap_err();
        assert!(e.msg.contains(want), "{} vs {want}", e.msg);
    }
    assert_eq!(snapshot(&fx.host_root()), before);
}
}

crate::testutil::both_paths! {
async fn a_ca_key_that_does_not_match_its_certificate_is_refused() {
    let fx = fx();
    make_ca(&fx).await;
    std::fs::copy(fx.host("ca-key.pem"), fx.host("ca-key.bak")).unwrap();
    std::fs::remove_file(fx.host("ca.pem")).unwrap();
    std::fs::remove_file(fx.host("ca-key.pem")).unwrap();
    make_ca(&fx).await;
    std::fs::copy(fx.host("ca-key.bak"), fx.host("ca-key.pem")).unwrap();
    let e = fx
        .run(false, false, member_args(&fx, &["IP:10.0.0.1"]))
        .await
        .unwrap_err();
    assert!(
        e.msg.contains("does not belong to the CA certificate"),
        "{}",
        e.msg
    );
}
}
