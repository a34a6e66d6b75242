//! `x509_cert`'s effect: generate the key, sign the certificate, write both through the
//! owner-only write, or fix attributes; the result gains the issued certificate's fields.

use super::crypto::{self, Ca};
use super::host::write_secret_safe;
use super::plan::{attrs, Changes, Issue, KeyAction};
use super::report::{add_info, describe};
use super::spec::TaskArgs;
use crate::common::attrs::{AttrChanges, AttrSpec};
use crate::common::write::set_attrs;
use kplay_engine::module::{Diff, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Value;
use rcgen::KeyPair;

fn err(e: crypto::CryptoError) -> ModuleError {
    ModuleError::new(e.to_string())
}

/// Attributes a newly written file gets: the requested mode (resolved from the `0600` the temp
/// file is made with), owner and group; a replaced file keeps nothing of the old one but these.
fn new_file_attrs(spec: &AttrSpec) -> AttrChanges {
    AttrChanges {
        owner: spec.owner.clone().map(|o| (String::new(), o)),
        group: spec.group.clone().map(|g| (String::new(), g)),
        mode: spec
            .mode
            .as_ref()
            .map(|m| (0o600, m.resolve(0o600, false, 0o077))),
    }
}

/// See [`crate::planned::QueryPlanApply::apply`].
pub async fn apply(
    ctx: &ModuleContext<'_>,
    t: &TaskArgs,
    c: Changes,
    mut r: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    let (key, issue, cert_fix) = match c {
        Changes::CaMissing(msg) => return Err(ModuleError::new(msg)),
        Changes::Make(m) => (m.key, m.issue, m.cert_fix),
    };
    let mut backups = Vec::new();
    let pair = match key {
        KeyAction::New { .. } => {
            let k = crypto::generate_key(t.key_type).map_err(err)?;
            let pem = k.serialize_pem();
            let attrs = new_file_attrs(&attrs(t, &t.key_mode));
            backups.extend(
                write_secret_safe(ctx, &t.key_path, pem.as_bytes(), &attrs, t.backup).await?,
            );
            Some(k)
        }
        KeyAction::Keep { pem, fix } => {
            if !fix.is_empty() {
                set_attrs(ctx, &t.key_path, &fix, false).await?;
            }
            match &issue {
                Some(_) => Some(crypto::load_key(&pem.0, &t.key_path).map_err(err)?),
                None => None,
            }
        }
    };
    match (issue, pair) {
        (Some(i), Some(k)) => {
            let pem = issue_cert(t, &i, &k)?;
            let attrs = new_file_attrs(&attrs(t, &t.cert_mode));
            backups
                .extend(write_secret_safe(ctx, &t.path, pem.as_bytes(), &attrs, t.backup).await?);
            report_issued(&mut r, t, &i, &pem)?;
        }
        _ if !cert_fix.is_empty() => {
            set_attrs(ctx, &t.path, &cert_fix, false).await?;
        }
        _ => {}
    }
    if let [b, ..] = backups.as_slice() {
        r.insert("backup_file", b.as_str());
        r.insert(
            "backup_files",
            Value::Array(backups.iter().cloned().map(Value::String).collect()),
        );
    }
    Ok(r)
}

/// Sign the certificate for `key`, now.
fn issue_cert(t: &TaskArgs, i: &Issue, key: &KeyPair) -> Result<String, ModuleError> {
    let ca_key = match &i.ca {
        Some(ca) => Some(crypto::load_key(&ca.key_pem.0, "the CA key").map_err(err)?),
        None => None,
    };
    let ca = match (&i.ca, &ca_key) {
        (Some(files), Some(k)) => Some(Ca {
            cert_pem: files.cert_pem.as_str(),
            key: k,
        }),
        _ => None,
    };
    let now = time::OffsetDateTime::now_utc();
    crypto::issue(&t.spec, key, ca.as_ref(), now).map_err(err)
}

/// The issued certificate's fields (and content, and diff side) replace the requested ones.
fn report_issued(
    r: &mut ModuleResult,
    t: &TaskArgs,
    i: &Issue,
    pem: &str,
) -> Result<(), ModuleError> {
    let p = crypto::parse_pem(pem.as_bytes(), &t.path).map_err(err)?;
    let info = crypto::info(&crypto::decode(&p, &t.path).map_err(err)?);
    add_info(r, &info);
    if t.return_content {
        r.insert("certificate", pem);
    }
    if !matches!(r.diff, Diff::None) {
        let d = std::mem::take(r).with_diff(
            &t.path,
            &t.path,
            &i.diff_before,
            &describe(&info, &i.key_line),
        );
        *r = d;
    }
    Ok(())
}
