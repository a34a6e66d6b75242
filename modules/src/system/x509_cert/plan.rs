//! `x509_cert`'s decision, without a host and without making anything: whether the key is
//! kept or made, whether the certificate is (re)issued and why, which attributes are fixed,
//! and what the task reports. Generating the key and signing are left to `apply`, so the plan
//! is a pure function of the files read and the clock `query` saw.

use super::crypto::{self, CertInfo};
use super::host::Found;
use super::report::{add_info, add_requested, describe, describe_requested, pem_text, without_ca};
use super::spec::{KeyType, Provider, TaskArgs};
use super::Seen;
use crate::common::attrs::{AttrChanges, AttrSpec};
use crate::planned::Plan;
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::Value;
use rcgen::KeyPair;

/// Key material carried from `query` to `apply`; its `Debug` never shows it.
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// What happens to the private key.
#[derive(Debug)]
pub enum KeyAction {
    /// Kept as it is (its PEM, for signing), with attributes fixed when `fix` is not empty.
    Keep { pem: Secret, fix: AttrChanges },
    /// A new key is generated and written; `how` is `created` or `replaced`.
    New { how: &'static str },
}

/// The issuer of a certificate to issue: the CA certificate (PEM) and its key's PEM.
#[derive(Debug)]
pub struct CaFiles {
    pub cert_pem: String,
    pub key_pem: Secret,
}

/// A certificate to issue, and the diff sides `apply` completes once it is issued.
#[derive(Debug)]
pub struct Issue {
    /// `None`: self-signed.
    pub ca: Option<CaFiles>,
    pub diff_before: String,
    pub key_line: String,
}

/// What `apply` does.
#[derive(Debug)]
pub enum Changes {
    /// The `ownca` CA files are missing: a real run fails with this message (check mode
    /// reports what would be made).
    CaMissing(String),
    /// Write the key and/or certificate, or fix attributes.
    Make(Box<Make>),
}

/// The key and certificate work of [`Changes::Make`].
#[derive(Debug)]
pub struct Make {
    pub key: KeyAction,
    /// The certificate to issue; `None`: it is kept.
    pub issue: Option<Issue>,
    /// Attributes of a kept certificate.
    pub cert_fix: AttrChanges,
}

fn err(e: crypto::CryptoError) -> ModuleError {
    ModuleError::new(e.to_string())
}

fn bytes(f: &Found) -> &[u8] {
    f.content.as_deref().unwrap_or(&[])
}

/// The `ownca` issuer, checked: its key belongs to its certificate, which is a CA.
enum CaState {
    SelfSigned,
    Missing(String),
    Loaded(x509_parser::pem::Pem, Vec<u8>),
}

fn load_ca(t: &TaskArgs, seen: &Seen) -> Result<CaState, ModuleError> {
    let (Provider::OwnCa { cert, key }, Some((c, k))) = (&t.provider, &seen.ca) else {
        return Ok(CaState::SelfSigned);
    };
    if !c.exists() || !k.exists() {
        let missing = if c.exists() { key } else { cert };
        return Ok(CaState::Missing(missing.clone()));
    }
    let ca_key = crypto::load_key(bytes(k), key).map_err(err)?;
    let pem = crypto::parse_pem(bytes(c), cert).map_err(err)?;
    let ca_cert = crypto::decode(&pem, cert).map_err(err)?;
    use rcgen::PublicKeyData;
    if ca_cert.public_key().subject_public_key.data.as_ref() != ca_key.der_bytes() {
        return Err(ModuleError::new(format!(
            "the CA key {key} does not belong to the CA certificate {cert}"
        )));
    }
    if !ca_cert.is_ca() {
        return Err(ModuleError::new(format!("{cert} is not a CA certificate")));
    }
    Ok(CaState::Loaded(pem, bytes(k).to_vec()))
}

/// The key kept (`Ok`), or why a new one is made (`Err(how)`, the reason pushed).
fn key_decision(
    t: &TaskArgs,
    found: &Found,
    reasons: &mut Vec<String>,
) -> Result<KeyPair, &'static str> {
    if !found.exists() {
        reasons.push("the private key does not exist".to_string());
        return Err("created");
    }
    match crypto::load_key(bytes(found), &t.key_path) {
        Ok(k) if crypto::key_matches(&k, t.key_type) => Ok(k),
        Ok(_) => {
            reasons.push(format!("the private key is not {}", t.key_type.name()));
            Err("replaced")
        }
        Err(e) => {
            reasons.push(format!("{e}; a new key is made"));
            Err("replaced")
        }
    }
}

/// What the existing certificate says, pushing why it no longer fits (compared only with a
/// kept key: a new key always means a new certificate).
fn cert_decision(
    t: &TaskArgs,
    seen: &Seen,
    kept: Option<&KeyPair>,
    ca: &CaState,
    reasons: &mut Vec<String>,
) -> Result<Option<CertInfo>, ModuleError> {
    if !seen.cert.exists() {
        reasons.push("the certificate does not exist".to_string());
        return Ok(None);
    }
    let pem = match crypto::parse_pem(bytes(&seen.cert), &t.path) {
        Ok(p) => p,
        Err(e) => {
            reasons.push(e.to_string());
            return Ok(None);
        }
    };
    let cert = match crypto::decode(&pem, &t.path) {
        Ok(c) => c,
        Err(e) => {
            reasons.push(e.to_string());
            return Ok(None);
        }
    };
    if let Some(k) = kept {
        let ca_cert = match ca {
            CaState::Loaded(p, _) => Some(crypto::decode(p, "CA").map_err(err)?),
            _ => None,
        };
        reasons.extend(crypto::mismatches(
            &t.spec,
            &cert,
            k,
            ca_cert.as_ref(),
            seen.now,
        ));
    }
    Ok(Some(crypto::info(&cert)))
}

/// The attributes asked for a file whose mode defaults to `mode`.
pub fn attrs(t: &TaskArgs, mode: &crate::common::mode::ModeSpec) -> AttrSpec {
    AttrSpec {
        mode: Some(mode.clone()),
        owner: t.owner.clone(),
        group: t.group.clone(),
    }
}

fn key_line(ty: KeyType, path: &str, how: Option<&str>) -> String {
    match how {
        None => format!("{} ({path})", ty.name()),
        Some(h) => format!("{} ({path}, {h})", ty.name()),
    }
}

/// The result as planned: the key's fate, why the certificate is (re)issued, and the
/// certificate's fields (requested ones when it is to be issued).
fn report(
    t: &TaskArgs,
    seen: &Seen,
    how: Option<&str>,
    reasons: &[String],
    before: Option<&CertInfo>,
) -> ModuleResult {
    let reissue = !reasons.is_empty();
    let mut r = ModuleResult::new(false)
        .set("filename", t.path.as_str())
        .set("privatekey_path", t.key_path.as_str())
        .set("privatekey_type", t.key_type.name())
        .set(
            "privatekey_changed",
            how.map_or(Value::Bool(false), |h| Value::String(h.to_string())),
        )
        .set("reissued", reissue)
        .set(
            "reasons",
            Value::Array(reasons.iter().cloned().map(Value::String).collect()),
        );
    if reissue {
        add_requested(&mut r, &t.spec);
    } else {
        add_info(&mut r, &before.cloned().unwrap_or_default());
        if t.return_content {
            r.insert(
                "certificate",
                String::from_utf8_lossy(bytes(&seen.cert)).into_owned(),
            );
        }
    }
    r
}

/// See [`crate::planned::QueryPlanApply::plan`].
pub fn plan(t: &TaskArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
    let ca = load_ca(t, seen)?;
    if let CaState::Missing(m) = &ca {
        let msg = format!(
            "the CA file {m} does not exist (make the CA first: provider selfsigned, is_ca true)"
        );
        return Ok(Plan::change(Changes::CaMissing(msg), without_ca(t, m)));
    }
    let mut reasons = Vec::new();
    let key = key_decision(t, &seen.key, &mut reasons);
    let before = cert_decision(t, seen, key.as_ref().ok(), &ca, &mut reasons)?;
    if t.force && reasons.is_empty() {
        reasons.push("force".to_string());
    }
    let reissue = !reasons.is_empty();
    let key_fix = match &key {
        Ok(_) => attrs(t, &t.key_mode).changes(&seen.key.stat, seen.umask),
        Err(_) => AttrChanges::default(),
    };
    let cert_fix = if reissue {
        AttrChanges::default()
    } else {
        attrs(t, &t.cert_mode).changes(&seen.cert.stat, seen.umask)
    };
    let how = key.as_ref().err().copied();
    let r = report(t, seen, how, &reasons, before.as_ref());
    let changed = reissue || how.is_some() || !key_fix.is_empty() || !cert_fix.is_empty();
    if !changed {
        return Ok(Plan::nothing(r));
    }
    let key_now = key_line(t.key_type, &t.key_path, how);
    let key_before = if seen.key.exists() {
        t.key_path.as_str()
    } else {
        "(none)"
    };
    let diff_before = before
        .as_ref()
        .map(|b| describe(b, key_before))
        .unwrap_or_default();
    let after = match &before {
        Some(b) if !reissue => describe(b, &key_now),
        _ => describe_requested(t, &key_now),
    };
    let r = r.with_diff(&t.path, &t.path, &diff_before, &after);
    let issue = reissue.then(|| Issue {
        ca: match ca {
            CaState::Loaded(p, k) => Some(CaFiles {
                cert_pem: pem_text(&p),
                key_pem: Secret(k),
            }),
            _ => None,
        },
        diff_before,
        key_line: key_now,
    });
    let key = match key {
        Ok(_) => KeyAction::Keep {
            pem: Secret(bytes(&seen.key).to_vec()),
            fix: key_fix,
        },
        Err(how) => KeyAction::New { how },
    };
    Ok(Plan::change(
        Changes::Make(Box::new(Make {
            key,
            issue,
            cert_fix,
        })),
        r,
    ))
}
