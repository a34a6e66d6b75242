//! The `x509_cert` module through the real binary on the local connection: a CA and a member
//! certificate signed by it, made once, then `changed=0`; `--check --diff` prints what would be
//! issued and never a private key; key files are 0600.

mod common;

use common::*;
use std::fs;

const PB: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: etcd CA
      x509_cert:
        path: "{{ dir }}/ssl/ca.pem"
        privatekey_path: "{{ dir }}/ssl/ca-key.pem"
        common_name: etcd-ca
        is_ca: true
        valid_days: 36500
    - name: member certificate
      x509_cert:
        path: "{{ dir }}/ssl/member-node1.pem"
        privatekey_path: "{{ dir }}/ssl/member-node1-key.pem"
        ownca_path: "{{ dir }}/ssl/ca.pem"
        ownca_privatekey_path: "{{ dir }}/ssl/ca-key.pem"
        common_name: etcd-member-node1
        subject_alt_name: ["DNS:node1", "DNS:localhost", "IP:127.0.0.1", "IP:{{ ip }}"]
        key_usage: [digitalSignature, keyEncipherment]
        extended_key_usage: [serverAuth, clientAuth]
"#;

fn key_body(path: &std::path::Path) -> String {
    read(path)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

#[test]
fn x509_cert_issues_once_and_never_prints_keys() {
    let t = tempdir();
    fs::create_dir(t.path().join("ssl")).unwrap();
    let dry = run_local(t.path(), PB, &["-e", "ip=10.1.2.3", "--check", "--diff"]);
    dry.assert_exit(0);
    assert_eq!(dry.host("localhost").changed, 2, "{}", dry.dump());
    assert!(
        dry.stdout.contains("subject: CN=etcd-member-node1"),
        "{}",
        dry.dump()
    );
    assert!(!t.path().join("ssl/ca-key.pem").exists());

    let first = run_local(t.path(), PB, &["-e", "ip=10.1.2.3", "--diff", "-v"]);
    first.assert_exit(0);
    assert_eq!(first.host("localhost").changed, 2, "{}", first.dump());
    for k in ["ssl/ca-key.pem", "ssl/member-node1-key.pem"] {
        let p = t.path().join(k);
        assert_eq!(mode_of(&p), 0o600, "{k}");
        let body = key_body(&p);
        assert!(!first.stdout.contains(&body[..32]) && !first.stderr.contains(&body[..32]));
    }
    assert!(!first.stdout.contains("PRIVATE KEY"));

    let again = run_local(t.path(), PB, &["-e", "ip=10.1.2.3"]);
    again.assert_exit(0);
    assert_eq!(again.host("localhost").changed, 0, "{}", again.dump());

    // A new address for the node: the member certificate is reissued, the CA is not.
    let moved = run_local(t.path(), PB, &["-e", "ip=10.1.2.4", "--diff"]);
    moved.assert_exit(0);
    assert_eq!(moved.host("localhost").changed, 1, "{}", moved.dump());
    assert!(moved.stdout.contains("IP:10.1.2.4"), "{}", moved.dump());
}
