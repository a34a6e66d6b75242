//! `rpm_key` (ansible.builtin.rpm_key): a GPG key in the host's RPM database. The key (a URL
//! the host can reach, a file on the host, or armoured text) is read and fingerprinted here
//! (no gpg needed), checked against `fingerprint` when given, and imported with `rpm --import`
//! only when `rpm -q gpg-pubkey-KEYID` does not already know it; `absent` erases it (`key` may
//! then be just the key id). A host without rpm gets a clear failure.

use crate::common::args::{p, Param, Spec};
use crate::common::pgp::{fingerprints, key_bytes};
use crate::common::reads::failure;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("key", &[])
        .str()
        .required()
        .doc("URL, file on the host, armoured key text, or (absent) a key id."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the key should be imported."),
    p("fingerprint", &[])
        .list()
        .doc("Fingerprint(s) the key must have."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Check the TLS certificate of a key URL."),
];

/// `rpm_key`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "rpm_key",
    "Adds or removes a gpg key from the rpm db",
    &[PARAMS],
);

/// rpm's name for an imported key: the fingerprint's last 8 hex digits, lower case.
pub fn rpm_keyid(fpr: &str) -> String {
    fpr[fpr.len().saturating_sub(8)..].to_lowercase()
}

fn is_keyid(s: &str) -> bool {
    let t = s.trim_start_matches("0x").trim_start_matches("0X");
    matches!(t.len(), 8 | 16 | 40) && t.chars().all(|c| c.is_ascii_hexdigit())
}

pub struct RpmKeyModule;

#[async_trait]
impl Module for RpmKeyModule {
    fn name(&self) -> &'static str {
        "rpm_key"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let key = a.required_str("key")?;
        let present = a.required_str("state")? == "present";
        let (data, keyid) = if is_keyid(&key) {
            if present {
                return Err(ModuleError::new(format!(
                    "key {key} is a key id: give a URL, a file or the key itself to import it"
                )));
            }
            (
                None,
                rpm_keyid(key.trim_start_matches("0x").trim_start_matches("0X")),
            )
        } else {
            let data = key_bytes(ctx, &key, a.flag("validate_certs")).await?;
            let fprs = fingerprints(&data).map_err(|e| ModuleError::new(format!("{key}: {e}")))?;
            let want: Vec<String> = a
                .list("fingerprint")
                .iter()
                .map(|f| f.replace(' ', "").to_uppercase())
                .collect();
            for w in &want {
                if !fprs.contains(w) {
                    return Err(ModuleError::new(format!(
                        "The specified fingerprint, '{w}', does not match any key fingerprints in '{key}'. Fingerprints found: {}",
                        fprs.join(", ")
                    )));
                }
            }
            let id = rpm_keyid(&fprs[0]);
            (Some(data), id)
        };
        let q = sh_quote(&format!("gpg-pubkey-{keyid}"));
        let probe = run_sh(ctx, format!("command -v rpm >/dev/null 2>&1 || {{ echo 'rpm_key needs rpm on the host' >&2; exit 127; }}\nrpm -q {q} >/dev/null 2>&1 && echo yes || echo no"), None).await?;
        let (o, e) = (probe.stdout_str(), probe.stderr_str());
        if probe.rc != 0 {
            return Err(failure(e.trim().to_string(), probe.rc, &o, &e));
        }
        let installed = o.trim() == "yes";
        let changed = installed != present;
        let r = ModuleResult::new(changed)
            .set("keyid", keyid.clone())
            .set("state", if present { "present" } else { "absent" });
        if !changed || ctx.check_mode {
            return Ok(r);
        }
        let out = if present {
            let tmp = format!("/tmp/.kplay-rpm-key-{keyid}-{}.asc", std::process::id());
            ctx.transport
                .put(
                    data.as_deref().unwrap_or_default(),
                    &tmp,
                    Some(0o600),
                    ctx.become_.as_ref(),
                )
                .await?;
            run_sh(
                ctx,
                format!(
                    "rpm --import {t}; rc=$?; rm -f {t}; exit $rc",
                    t = sh_quote(&tmp)
                ),
                None,
            )
            .await?
        } else {
            run_sh(ctx, format!("rpm --erase --allmatches {q}"), None).await?
        };
        if out.rc != 0 {
            let (o, e) = (out.stdout_str(), out.stderr_str());
            return Err(failure(e.trim().to_string(), out.rc, &o, &e));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    const KEY: &str = include_str!("../common/testkey.asc");

    #[test]
    fn key_ids_follow_rpms_naming() {
        assert_eq!(
            rpm_keyid("01D02F76052A5B8DC7D9DBCF519653B98EAFD170"),
            "8eafd170"
        );
        assert!(is_keyid("0x8EAFD170") && !is_keyid("/etc/pki/key"));
    }

    crate::testutil::both_paths! {
    async fn checks_the_fingerprint_and_needs_rpm_on_the_host() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let e = RpmKeyModule
            .run(&ctx(&env, false, false), args(json!({"key": KEY, "fingerprint": "0000 0000 0000 0000 0000 0000 0000 0000 0000 0000"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.contains("Fingerprints found: 01D02F76052A5B8DC7D9DBCF519653B98EAFD170"), "{}", e.msg);
        let mut c = ctx(&env, false, false);
        c.environment = vec![("PATH".into(), "/nonexistent".into())];
        let e = RpmKeyModule
            .run(&c, args(json!({"key": KEY, "fingerprint": "01D02F76052A5B8DC7D9DBCF519653B98EAFD170"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert_eq!(e.msg, "rpm_key needs rpm on the host");
    }
    }
}
