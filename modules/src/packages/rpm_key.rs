//! `rpm_key` (ansible.builtin.rpm_key): a GPG key in the host's RPM database. The key (a URL
//! the host can reach, a file on the host, or armoured text) is read and fingerprinted here
//! (no gpg needed), checked against `fingerprint` when given, and imported with `rpm --import`
//! only when `rpm -q gpg-pubkey-KEYID` does not already know it; `absent` erases it. `key` may
//! be just the key id to erase a key or to check one is there (importing needs the key, as
//! in ansible-core). `query` reads the key and asks rpm, `plan` decides, `apply` imports or
//! erases. A host without rpm gets a clear failure.

use crate::common::args::{p, Param, Spec};
use crate::common::pgp::{fingerprints, key_bytes};
use crate::common::reads::ensure_ok;
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
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

/// `ansible.builtin.rpm_key`.
pub struct RpmKeyModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmKeyArgs {
    pub key: String,
    pub state: Presence,
    /// Upper-case, without blanks.
    pub fingerprints: Vec<String>,
    pub validate_certs: bool,
}

impl RpmKeyArgs {
    pub fn parse(args: Map) -> Result<RpmKeyArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let key = a.required_str("key")?;
        let state = Presence::from_arg(&a, "state")?;
        let fingerprints = a
            .list("fingerprint")
            .iter()
            .map(|f| f.replace(' ', "").to_uppercase())
            .collect();
        Ok(RpmKeyArgs {
            key,
            state,
            fingerprints,
            validate_certs: a.flag("validate_certs"),
        })
    }
}

/// What `query` found: the key (unless `key` is a key id), its rpm name, and whether rpm knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub data: Option<Vec<u8>>,
    pub fingerprints: Vec<String>,
    pub keyid: String,
    pub installed: bool,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    Import(Vec<u8>),
    Erase,
}

/// Every `fingerprint` asked must be one of the key's (checked before rpm is asked, as
/// ansible-core does).
fn check_fingerprints(a: &RpmKeyArgs, found: &[String]) -> Result<(), ModuleError> {
    match a.fingerprints.iter().find(|w| !found.contains(w)) {
        Some(w) => Err(ModuleError::new(format!(
            "The specified fingerprint, '{w}', does not match any key fingerprints in '{}'. Fingerprints found: {}",
            a.key,
            found.join(", ")
        ))),
        None => Ok(()),
    }
}

#[async_trait]
impl QueryPlanApply for RpmKeyModule {
    type Args = RpmKeyArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "rpm_key"
    }

    fn parse(&self, args: Map) -> Result<RpmKeyArgs, ModuleError> {
        RpmKeyArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &RpmKeyArgs) -> Result<Seen, ModuleError> {
        let key = &a.key;
        let (data, fingerprints, keyid) = if is_keyid(key) {
            let id = rpm_keyid(key.trim_start_matches("0x").trim_start_matches("0X"));
            (None, Vec::new(), id)
        } else {
            let data = key_bytes(ctx, key, a.validate_certs).await?;
            let fprs = fingerprints(&data).map_err(|e| ModuleError::new(format!("{key}: {e}")))?;
            check_fingerprints(a, &fprs)?;
            let id = fprs.first().map(|f| rpm_keyid(f)).unwrap_or_default();
            (Some(data), fprs, id)
        };
        let q = sh_quote(&format!("gpg-pubkey-{keyid}"));
        let probe = run_sh(ctx, format!("command -v rpm >/dev/null 2>&1 || {{ echo 'rpm_key needs rpm on the host' >&2; exit 127; }}\nrpm -q {q} >/dev/null 2>&1 && echo yes || echo no"), None).await?;
        ensure_ok(&probe, |_, e| e.trim().to_string())?;
        Ok(Seen {
            data,
            fingerprints,
            keyid,
            installed: probe.stdout_str().trim() == "yes",
        })
    }

    fn plan(a: &RpmKeyArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let r = ModuleResult::new(false)
            .set("keyid", seen.keyid.clone())
            .set("state", a.state.as_str());
        Ok(match (a.state, seen.installed, &seen.data) {
            (Presence::Present, false, Some(data)) => {
                Plan::change(Changes::Import(data.clone()), r)
            }
            // ansible-core: a key id is enough while the key is there, not to import it.
            (Presence::Present, false, None) => {
                return Err(ModuleError::new(
                    "When importing a key, a valid file must be given",
                ))
            }
            (Presence::Absent, true, _) => Plan::change(Changes::Erase, r),
            _ => Plan::nothing(r),
        })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _: &RpmKeyArgs,
        c: Changes,
        r: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let keyid = r
            .extra
            .get("keyid")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let q = sh_quote(&format!("gpg-pubkey-{keyid}"));
        let out = match c {
            Changes::Import(data) => {
                let tmp = format!("/tmp/.kplay-rpm-key-{keyid}-{}.asc", std::process::id());
                ctx.transport
                    .put(&data, &tmp, Some(0o600), ctx.become_.as_ref())
                    .await?;
                let t = sh_quote(&tmp);
                run_sh(
                    ctx,
                    format!("rpm --import {t}; rc=$?; rm -f {t}; exit $rc"),
                    None,
                )
                .await?
            }
            Changes::Erase => run_sh(ctx, format!("rpm --erase --allmatches {q}"), None).await?,
        };
        ensure_ok(&out, |_, e| e.trim().to_string())?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
    use serde_json::json;

    const KEY: &str = include_str!("../common/testkey.asc");
    const FPR: &str = "01D02F76052A5B8DC7D9DBCF519653B98EAFD170";

    fn seen(installed: bool) -> Seen {
        Seen {
            data: Some(KEY.as_bytes().to_vec()),
            fingerprints: vec![FPR.into()],
            keyid: "8eafd170".into(),
            installed,
        }
    }

    fn ra(v: serde_json::Value) -> RpmKeyArgs {
        RpmKeyArgs::parse(args(v)).expect("args")
    }

    #[test]
    fn plan_imports_a_missing_key_and_erases_an_installed_one() {
        let a = ra(json!({"key": "/etc/pki/k.asc"}));
        let p = RpmKeyModule::plan(&a, &seen(false)).expect("plan");
        assert_eq!(p.changes, Some(Changes::Import(KEY.as_bytes().to_vec())));
        let r = p.result.into_map();
        assert_eq!(
            (r["changed"].clone(), r["keyid"].clone()),
            (json!(true), json!("8eafd170"))
        );
        assert!(RpmKeyModule::plan(&a, &seen(true))
            .expect("plan")
            .changes
            .is_none());
        let gone = ra(json!({"key": "0x8EAFD170", "state": "absent"}));
        let s = Seen {
            data: None,
            fingerprints: vec![],
            ..seen(true)
        };
        assert_eq!(
            RpmKeyModule::plan(&gone, &s).expect("plan").changes,
            Some(Changes::Erase)
        );
        let s = Seen {
            installed: false,
            ..s
        };
        assert!(RpmKeyModule::plan(&gone, &s)
            .expect("plan")
            .changes
            .is_none());
    }

    #[test]
    fn fingerprints_are_checked_and_a_key_id_only_keeps_an_imported_key() {
        let a = ra(json!({"key": "/k", "fingerprint": "0000 0000"}));
        let e = check_fingerprints(&a, &seen(false).fingerprints).expect_err("mismatch");
        assert_eq!(e.msg, format!("The specified fingerprint, '00000000', does not match any key fingerprints in '/k'. Fingerprints found: {FPR}"));
        let by_id = ra(json!({"key": "8EAFD170"}));
        let s = Seen {
            data: None,
            fingerprints: vec![],
            ..seen(true)
        };
        assert!(RpmKeyModule::plan(&by_id, &s)
            .expect("plan")
            .changes
            .is_none());
        let s = Seen {
            installed: false,
            ..s
        };
        let e = RpmKeyModule::plan(&by_id, &s).expect_err("id");
        assert_eq!(e.msg, "When importing a key, a valid file must be given");
    }

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
        let e = Planned(RpmKeyModule)
            .run(&ctx(&env, false, false), args(json!({"key": KEY, "fingerprint": "0000 0000 0000 0000 0000 0000 0000 0000 0000 0000"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.contains("Fingerprints found: 01D02F76052A5B8DC7D9DBCF519653B98EAFD170"), "{}", e.msg);
        let mut c = ctx(&env, false, false);
        c.environment = vec![("PATH".into(), "/nonexistent".into())];
        let e = Planned(RpmKeyModule)
            .run(&c, args(json!({"key": KEY, "fingerprint": "01D02F76052A5B8DC7D9DBCF519653B98EAFD170"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert_eq!(e.msg, "rpm_key needs rpm on the host");
    }
    }
}
