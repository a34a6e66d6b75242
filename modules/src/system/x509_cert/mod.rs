//! `x509_cert`: a private key and an X.509 certificate on the host, made by kplay itself (no
//! openssl on the controller or the hosts). In the spirit of community.crypto's
//! `openssl_privatekey` + `x509_certificate` (providers `selfsigned` and `ownca`) and KubeKey's
//! `gen_cert`, in one task: the key is created when missing, the certificate is issued for it,
//! self-signed (a CA) or signed by a CA whose certificate and key are files on the same host.
//!
//! Idempotent: a certificate that is for the key, has the requested subject, SANs, CA flag and
//! usages, is signed by the requested issuer and does not expire within `renew_margin_days` is
//! left alone; otherwise it is reissued (the key is kept). Check mode and diff are honoured.
//! Key files are `0600` from creation, and no key material reaches a result, a diff or a log:
//! the crypto runs in kplay, the files travel on the connection's stdin/stdout.

mod crypto;
mod host;
mod spec;

use crate::common::attrs::{AttrChanges, AttrSpec};
use crate::common::mode::ModeSpec;
use crate::common::write::set_attrs;
use async_trait::async_trait;
use crypto::{Ca, CertInfo};
use host::{read_files, write_secret_safe, Found};
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use rcgen::KeyPair;
pub use spec::SPEC;
use spec::{CertSpec, Provider, TaskArgs};

/// Not query → plan → apply ([`crate::planned`]): deciding makes the new key (randomness) and reads the clock, so the decision is not a pure function.
pub struct X509CertModule;

#[async_trait]
impl Module for X509CertModule {
    fn name(&self) -> &'static str {
        "x509_cert"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let t = TaskArgs::parse(&a)?;
        run(ctx, &t).await
    }
}

/// The key as it will be after this task.
enum KeyState {
    Kept(KeyPair),
    New(KeyPair, String),
}

impl KeyState {
    fn key(&self) -> &KeyPair {
        match self {
            KeyState::Kept(k) | KeyState::New(k, _) => k,
        }
    }
}

fn err(e: crypto::CryptoError) -> ModuleError {
    ModuleError::new(e.to_string())
}

async fn run(ctx: &ModuleContext<'_>, t: &TaskArgs) -> Result<ModuleResult, ModuleError> {
    let mut files = vec![t.key_path.as_str(), t.path.as_str()];
    if let Provider::OwnCa { cert, key } = &t.provider {
        files.push(cert);
        files.push(key);
    }
    let (found, parents, umask) = read_files(ctx, &files).await?;
    for (f, ok) in files.iter().take(2).zip(&parents) {
        if !ok {
            return Err(ModuleError::new(format!(
                "Destination directory {} does not exist",
                crate::common::remote_dirname(f)
            )));
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let mut reasons: Vec<String> = Vec::new();

    // The issuer first: without it nothing can be decided.
    let ca_files = match &t.provider {
        Provider::SelfSigned => None,
        Provider::OwnCa { cert, key } => {
            let (c, k) = (&found[2], &found[3]);
            if !c.exists() || !k.exists() {
                let missing = if c.exists() { key } else { cert };
                if ctx.check_mode {
                    // An earlier task of the same check run would have made the CA.
                    return Ok(check_mode_without_ca(t, missing, ctx.diff).into());
                }
                return Err(ModuleError::new(format!(
                    "the CA file {missing} does not exist (make the CA first: provider selfsigned, is_ca true)"
                )));
            }
            Some((cert.as_str(), c, key.as_str(), k))
        }
    };
    let ca_key = match &ca_files {
        Some((_, _, kp, k)) => Some(crypto::load_key(bytes(k), kp).map_err(err)?),
        None => None,
    };
    let ca_pem = match &ca_files {
        Some((cp, c, _, _)) => Some(crypto::parse_pem(bytes(c), cp).map_err(err)?),
        None => None,
    };
    let ca_cert = match (&ca_pem, &ca_files) {
        (Some(p), Some((cp, ..))) => Some(crypto::decode(p, cp).map_err(err)?),
        _ => None,
    };
    if let (Some(c), Some(k), Some((cp, _, kp, _))) = (&ca_cert, &ca_key, &ca_files) {
        use rcgen::PublicKeyData;
        if c.public_key().subject_public_key.data.as_ref() != k.der_bytes() {
            return Err(ModuleError::new(format!(
                "the CA key {kp} does not belong to the CA certificate {cp}"
            )));
        }
        if !c.is_ca() {
            return Err(ModuleError::new(format!("{cp} is not a CA certificate")));
        }
    }

    // The private key.
    let key_found = &found[0];
    let key = if !key_found.exists() {
        reasons.push("the private key does not exist".to_string());
        KeyState::New(generate(t)?, "created".to_string())
    } else {
        match crypto::load_key(bytes(key_found), &t.key_path) {
            Ok(k) if crypto::key_matches(&k, t.key_type) => KeyState::Kept(k),
            Ok(_) => {
                reasons.push(format!("the private key is not {}", t.key_type.name()));
                KeyState::New(generate(t)?, "replaced".to_string())
            }
            Err(e) => {
                reasons.push(format!("{e}; a new key is made"));
                KeyState::New(generate(t)?, "replaced".to_string())
            }
        }
    };

    // The certificate.
    let cert_found = &found[1];
    let mut before: Option<CertInfo> = None;
    if cert_found.exists() {
        match crypto::parse_pem(bytes(cert_found), &t.path)
            .and_then(|p| crypto::decode(&p, &t.path).map(|c| (crypto::info(&c), p.clone())))
        {
            Ok((info, pem)) => {
                before = Some(info);
                if matches!(key, KeyState::Kept(_)) {
                    let c = crypto::decode(&pem, &t.path).map_err(err)?;
                    reasons.extend(crypto::mismatches(
                        &t.spec,
                        &c,
                        key.key(),
                        ca_cert.as_ref(),
                        now,
                    ));
                }
            }
            Err(e) => reasons.push(e.to_string()),
        }
    } else {
        reasons.push("the certificate does not exist".to_string());
    }
    if t.force && reasons.is_empty() {
        reasons.push("force".to_string());
    }
    let reissue = !reasons.is_empty();
    let new_cert = if reissue {
        let ca = match (&ca_pem, &ca_key) {
            (Some(p), Some(k)) => Some((pem_text(p), k)),
            _ => None,
        };
        let ca_ref = ca.as_ref().map(|(pem, k)| Ca {
            cert_pem: pem.as_str(),
            key: k,
        });
        Some(crypto::issue(&t.spec, key.key(), ca_ref.as_ref(), now).map_err(err)?)
    } else {
        None
    };
    let after_info = match &new_cert {
        Some(pem) => {
            let p = crypto::parse_pem(pem.as_bytes(), &t.path).map_err(err)?;
            crypto::info(&crypto::decode(&p, &t.path).map_err(err)?)
        }
        None => before.clone().unwrap_or_default(),
    };

    // Attributes of files that stay, and what new files get.
    let key_attrs = AttrSpec {
        mode: Some(t.key_mode.clone()),
        owner: t.owner.clone(),
        group: t.group.clone(),
    };
    let cert_attrs = AttrSpec {
        mode: Some(t.cert_mode.clone()),
        owner: t.owner.clone(),
        group: t.group.clone(),
    };
    let key_fix = match &key {
        KeyState::Kept(_) => key_attrs.changes(&key_found.stat, umask),
        KeyState::New(..) => AttrChanges::default(),
    };
    let cert_fix = if reissue {
        AttrChanges::default()
    } else {
        cert_attrs.changes(&cert_found.stat, umask)
    };
    let changed =
        reissue || matches!(key, KeyState::New(..)) || !key_fix.is_empty() || !cert_fix.is_empty();

    let mut backups = Vec::new();
    if !ctx.check_mode {
        if let KeyState::New(k, _) = &key {
            let pem = k.serialize_pem();
            let b = write_secret_safe(
                ctx,
                &t.key_path,
                pem.as_bytes(),
                &new_file_attrs(&key_attrs, key_found, &t.key_mode),
                t.backup,
            )
            .await?;
            backups.extend(b);
        } else if !key_fix.is_empty() {
            set_attrs(ctx, &t.key_path, &key_fix, false).await?;
        }
        if let Some(pem) = &new_cert {
            let b = write_secret_safe(
                ctx,
                &t.path,
                pem.as_bytes(),
                &new_file_attrs(&cert_attrs, cert_found, &t.cert_mode),
                t.backup,
            )
            .await?;
            backups.extend(b);
        } else if !cert_fix.is_empty() {
            set_attrs(ctx, &t.path, &cert_fix, false).await?;
        }
    }

    let mut r = ModuleResult::new(changed)
        .set("filename", t.path.as_str())
        .set("privatekey_path", t.key_path.as_str())
        .set("privatekey_type", t.key_type.name())
        .set(
            "privatekey_changed",
            match &key {
                KeyState::Kept(_) => Value::Bool(false),
                KeyState::New(_, how) => Value::String(how.clone()),
            },
        )
        .set("reissued", reissue)
        .set(
            "reasons",
            Value::Array(reasons.iter().cloned().map(Value::String).collect()),
        );
    if !ctx.check_mode || !reissue {
        add_info(&mut r, &after_info);
    } else {
        add_requested(&mut r, &t.spec);
    }
    if let [b, ..] = backups.as_slice() {
        r.insert("backup_file", b.as_str());
        r.insert(
            "backup_files",
            Value::Array(backups.iter().cloned().map(Value::String).collect()),
        );
    }
    if t.return_content {
        let content = match &new_cert {
            Some(pem) => pem.clone(),
            None => String::from_utf8_lossy(bytes(cert_found)).into_owned(),
        };
        r.insert("certificate", content);
    }
    if ctx.diff && changed {
        let key_now = match &key {
            KeyState::Kept(_) => format!("{} ({})", t.key_type.name(), t.key_path),
            KeyState::New(_, how) => format!("{} ({}, {how})", t.key_type.name(), t.key_path),
        };
        let after = if ctx.check_mode && reissue {
            describe_requested(&t.spec, t, &key_now)
        } else {
            describe(&after_info, &key_now)
        };
        let key_before = if key_found.exists() {
            t.key_path.clone()
        } else {
            "(none)".to_string()
        };
        let before_text = match &before {
            Some(b) => describe(b, &key_before),
            None => String::new(),
        };
        r = r.with_diff(&t.path, &t.path, &before_text, &after);
    }
    Ok(r)
}

/// Attributes a newly written file gets: the requested mode (resolved from the `0600` the temp
/// file is made with), owner and group; a replaced file keeps nothing of the old one but these.
fn new_file_attrs(spec: &AttrSpec, _old: &Found, mode: &ModeSpec) -> AttrChanges {
    AttrChanges {
        owner: spec.owner.clone().map(|o| (String::new(), o)),
        group: spec.group.clone().map(|g| (String::new(), g)),
        mode: Some((0o600, mode.resolve(0o600, false, 0o077))),
    }
}

fn generate(t: &TaskArgs) -> Result<KeyPair, ModuleError> {
    crypto::generate_key(t.key_type).map_err(err)
}

fn bytes(f: &Found) -> &[u8] {
    f.content.as_deref().unwrap_or(&[])
}

fn pem_text(p: &x509_parser::pem::Pem) -> String {
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(&p.contents);
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// community.crypto's date form (`20350101000000Z`).
fn asn1_date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y%m%d%H%M%SZ").to_string())
        .unwrap_or_default()
}

fn add_info(r: &mut ModuleResult, i: &CertInfo) {
    r.insert("subject", i.subject.as_str());
    r.insert("issuer", i.issuer.as_str());
    r.insert("serial_number", i.serial.as_str());
    r.insert("not_before", asn1_date(i.not_before));
    r.insert("not_after", asn1_date(i.not_after));
    r.insert(
        "subject_alt_name",
        Value::Array(i.sans.iter().cloned().map(Value::String).collect()),
    );
}

fn add_requested(r: &mut ModuleResult, s: &CertSpec) {
    r.insert("subject", format!("CN={}", s.common_name));
    r.insert(
        "subject_alt_name",
        Value::Array(
            s.sans
                .iter()
                .map(|x| Value::String(x.to_string()))
                .collect(),
        ),
    );
}

/// A certificate as a diff side: what an operator checks, never key material.
fn describe(i: &CertInfo, key_line: &str) -> String {
    format!(
        "subject: {}\nissuer: {}\nserial: {}\nnot_before: {}\nnot_after: {}\nsubject_alt_name: {}\nprivate_key: {key_line}\n",
        i.subject,
        i.issuer,
        i.serial,
        asn1_date(i.not_before),
        asn1_date(i.not_after),
        i.sans.join(", ")
    )
}

fn describe_requested(s: &CertSpec, t: &TaskArgs, key_line: &str) -> String {
    let issuer = match &t.provider {
        Provider::SelfSigned => "(self-signed)".to_string(),
        Provider::OwnCa { cert, .. } => format!("(the CA in {cert})"),
    };
    format!(
        "subject: CN={}{}\nissuer: {issuer}\nvalid_days: {}\nsubject_alt_name: {}\nprivate_key: {key_line}\n",
        s.common_name,
        s.organization
            .iter()
            .map(|o| format!(", O={o}"))
            .collect::<String>(),
        s.valid_days,
        s.sans.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "),
    )
}

/// Check mode when the CA files are not there yet: everything would be made.
fn check_mode_without_ca(t: &TaskArgs, missing: &str, diff: bool) -> Map {
    let mut r = ModuleResult::new(true)
        .set("filename", t.path.as_str())
        .set("privatekey_path", t.key_path.as_str())
        .set("reissued", true)
        .set(
            "reasons",
            Value::Array(vec![Value::String(format!(
                "the CA file {missing} does not exist yet"
            ))]),
        );
    add_requested(&mut r, &t.spec);
    if diff {
        let after = describe_requested(
            &t.spec,
            t,
            &format!("{} ({})", t.key_type.name(), t.key_path),
        );
        r = r.with_diff(&t.path, &t.path, "", &after);
    }
    r.into_map()
}

#[cfg(test)]
mod tests;
