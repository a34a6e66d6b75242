use super::*;

/// Made by `ansible-vault encrypt` (ansible-core 2.18) with this password.
const ANSIBLE_FILE: &str = include_str!("testdata/ansible-made-1.1.yml");
const ANSIBLE_FILE_PASSWORD: &str = "kplay-test-password";
/// Made by `ansible-vault encrypt_string --vault-id prod@… --name api_token`.
const ANSIBLE_STRING: &str = include_str!("testdata/ansible-made-1.2-string.yml");

fn secret(id: &str, pw: &str) -> VaultSecret {
    VaultSecret::new(id, pw.as_bytes().to_vec())
}

#[test]
fn decrypts_a_file_ansible_vault_made() {
    let (plain, id) =
        decrypt_with(ANSIBLE_FILE, &[secret("default", ANSIBLE_FILE_PASSWORD)]).unwrap();
    assert_eq!(id, "default");
    assert_eq!(
        std::str::from_utf8(&plain).unwrap(),
        "db_password: hunter2\nnested:\n  key: \"värde with ünïcode\"\n"
    );
}

#[test]
fn decrypts_a_labelled_string_ansible_vault_made() {
    let block = ANSIBLE_STRING.split_once("!vault |\n").unwrap().1;
    let env = parse(block).unwrap();
    assert_eq!((env.version, env.label), ("1.2", Some("prod")));
    // The matching label is tried first, but any secret that fits opens it.
    let secrets = [secret("dev", "nope"), secret("prod", "prod-pass")];
    let (plain, id) = decrypt_with(block, &secrets).unwrap();
    assert_eq!((&plain[..], id.as_str()), (&b"s3cr3t-token"[..], "prod"));
    let secrets = [secret("other", "prod-pass")];
    assert_eq!(
        &decrypt_with(block, &secrets).unwrap().0[..],
        b"s3cr3t-token"
    );
}

#[test]
fn wrong_password_and_no_secret_are_refused() {
    let e = decrypt_with(ANSIBLE_FILE, &[secret("default", "wrong")]).unwrap_err();
    assert_eq!(e, VaultError::NoMatchingSecret(None));
    assert_eq!(
        decrypt_with(ANSIBLE_FILE, &[]).unwrap_err(),
        VaultError::NoSecrets
    );
}

#[test]
fn round_trip_and_envelope_shape() {
    let s = secret("default", "pw");
    let text = encrypt(b"hello\n", &s).unwrap();
    assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    assert!(text.ends_with('\n'));
    assert!(text
        .lines()
        .skip(1)
        .all(|l| l.len() <= 80 && l.bytes().all(|b| b.is_ascii_hexdigit())));
    assert_eq!(&decrypt_with(&text, &[s]).unwrap().0[..], b"hello\n");
    // A labelled secret writes format 1.2 with its label.
    let s = secret("prod", "pw");
    let text = encrypt(b"", &s).unwrap();
    assert!(
        text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{text}"
    );
    assert_eq!(&decrypt_with(&text, &[s]).unwrap().0[..], b"");
    // Every block size boundary pads correctly.
    for n in 0..40 {
        let plain = vec![b'x'; n];
        let s = secret("default", "k");
        let text = encrypt(&plain, &s).unwrap();
        assert_eq!(&decrypt_with(&text, &[s]).unwrap().0[..], &plain[..]);
    }
}

#[test]
fn tampered_payload_fails_the_hmac() {
    let s = secret("default", ANSIBLE_FILE_PASSWORD);
    let env = parse(ANSIBLE_FILE).unwrap();
    let mut inner = String::from_utf8(hex::decode(&env.payload).unwrap()).unwrap();
    // Flip one ciphertext nibble.
    let last = inner.pop().unwrap();
    inner.push(if last == '0' { '1' } else { '0' });
    let tampered = envelope(&hex::encode(inner), "default");
    assert_eq!(
        decrypt_with(&tampered, &[s]).unwrap_err(),
        VaultError::NoMatchingSecret(None)
    );
}

#[test]
fn unsupported_and_malformed_headers() {
    assert!(matches!(
        parse("$ANSIBLE_VAULT;1.0;AES\nabcd"),
        Err(VaultError::Unsupported(_))
    ));
    assert!(matches!(
        parse("$ANSIBLE_VAULT;1.1;AES256\n"),
        Err(VaultError::Malformed(_))
    ));
    let bad_hex = decrypt_with("$ANSIBLE_VAULT;1.1;AES256\nzz", &[secret("default", "k")]);
    assert!(
        matches!(bad_hex, Err(VaultError::Malformed(_))),
        "{bad_hex:?}"
    );
    assert!(is_encrypted("  $ANSIBLE_VAULT;1.1;AES256\n00"));
    assert!(!is_encrypted("a: 1"));
}

#[test]
fn inline_form_matches_encrypt_string() {
    let out = inline("$ANSIBLE_VAULT;1.1;AES256\nabcd\n", "pw");
    assert_eq!(
        out,
        "pw: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          abcd\n"
    );
}

#[test]
fn sources_parse_and_read() {
    assert_eq!(
        SecretSource::parse("prod@/x/pw"),
        SecretSource {
            id: "prod".into(),
            source: "/x/pw".into()
        }
    );
    assert_eq!(SecretSource::parse("/x/pw").id, "default");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "  pass word \n\n").unwrap();
    let src = SecretSource {
        id: "a".into(),
        source: file.display().to_string(),
    };
    let s = load_source(&src, &mut |_| None).unwrap();
    assert_eq!((&s.password[..], s.id.as_str()), (&b"pass word"[..], "a"));
    assert!(
        !format!("{s:?}").contains("pass"),
        "Debug must not show the password"
    );
    // An executable is run; its output is the password.
    let script = dir.path().join("pw.sh");
    std::fs::write(&script, "#!/bin/sh\necho ' from script'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let src = SecretSource::parse(&script.display().to_string());
    assert_eq!(
        &load_source(&src, &mut |_| None).unwrap().password[..],
        b" from script"
    );
    // An empty file is refused.
    std::fs::write(&file, "\n").unwrap();
    let src = SecretSource::parse(&file.display().to_string());
    assert!(load_source(&src, &mut |_| None)
        .unwrap_err()
        .contains("empty"));
    // prompt asks.
    let src = SecretSource::parse("dev@prompt");
    let mut asked = String::new();
    let s = load_source(&src, &mut |p| {
        asked = p.to_string();
        Some("typed".into())
    })
    .unwrap();
    assert_eq!(
        (&s.password[..], asked.as_str()),
        (&b"typed"[..], "Vault password (dev): ")
    );
}

/// The only test that installs process-wide secrets (others pass them explicitly).
#[test]
fn loader_decrypts_vaulted_files_and_values() {
    install(vec![
        secret("default", ANSIBLE_FILE_PASSWORD),
        secret("prod", "prod-pass"),
    ]);
    let docs = crate::yaml::load_str(ANSIBLE_FILE, "vars.yml").unwrap();
    let v = docs[0].to_value();
    assert_eq!(v["db_password"], "hunter2");
    assert_eq!(v["nested"]["key"], "värde with ünïcode");
    let docs = crate::yaml::load_str(ANSIBLE_STRING, "string.yml").unwrap();
    assert_eq!(docs[0].to_value()["api_token"], "s3cr3t-token");
    // A value no secret opens names the file and line.
    let other = encrypt(b"x", &secret("default", "unknown")).unwrap();
    let text = format!("a: 1\nb: {}", inline(&other, "").trim_end());
    let e = crate::yaml::load_str(&text, "bad.yml").unwrap_err();
    assert_eq!(
        (e.span.line, e.msg.contains("no vault secret could decrypt")),
        (2, true),
        "{e}"
    );
}
