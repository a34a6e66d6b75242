//! `apt_key` (ansible.builtin.apt_key): an OpenPGP key APT trusts. `apt-key` itself is gone
//! from current Debian and Ubuntu, so kplay does what it did without it: the key (`data`, a
//! `file` on the host, or a `url` the host can reach) is fingerprinted here (no gpg needed)
//! and stored, de-armoured, as `/etc/apt/trusted.gpg.d/kplay-<KEYID>.gpg` (or in `keyring`).
//! A key whose id is already trusted (any file in trusted.gpg.d, trusted.gpg or `keyring`) is
//! left alone; `absent` removes the file holding it (a keyring holding other keys too is
//! refused). `keyserver` needs the Internet and is refused offline. `query` reads the key and
//! the trusted key files, `plan` fingerprints and decides, `apply` stores or deletes files.

use crate::common::reads::ensure_status;
use crate::common::args::{p, Param, Spec};
use crate::common::pgp::{dearmor, fingerprints, id_matches, key_bytes};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use base64::Engine;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("id", &[])
        .str()
        .doc("Key id (short, long or full fingerprint)."),
    p("data", &[]).str().doc("The key itself (armoured)."),
    p("file", &[]).path().doc("A key file on the host."),
    p("url", &[])
        .str()
        .doc("A URL the host can reach (a local mirror offline)."),
    p("keyring", &[])
        .path()
        .doc("Keyring file to store the key in."),
    p("keyserver", &[])
        .str()
        .doc("Refused: keyserver lookups need the Internet."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the key should be trusted."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Check the TLS certificate of `url`."),
];

/// `apt_key`'s declared arguments.
pub static SPEC: Spec = Spec::new("apt_key", "Add or remove an apt key", &[PARAMS])
    .mutually_exclusive(&[&["data", "file", "keyserver", "url"]]);

/// `root` prefixes /etc/apt (empty on a real host; a temp dir in tests).
#[derive(Default)]
pub struct AptKeyModule {
    pub root: String,
}

/// Every trusted key file on the host: path → fingerprints (unreadable files are skipped).
async fn trusted(
    ctx: &ModuleContext<'_>,
    etc: &str,
    keyring: Option<&str>,
) -> Result<Vec<(String, Vec<String>)>, ModuleError> {
    let mut files = format!(
        "{r}/trusted.gpg {r}/trusted.gpg.d/*.gpg {r}/trusted.gpg.d/*.asc",
        r = sh_quote(etc)
    );
    if let Some(k) = keyring {
        files.push_str(&format!(" {}", sh_quote(k)));
    }
    let script = format!("for f in {files}; do [ -f \"$f\" ] || continue; printf '%s\\0' \"$f\"; base64 < \"$f\" | tr -d '\\n'; printf '\\0'; done");
    let out = run_sh(ctx, script, None).await?;
    let text = out.stdout_str();
    let parts: Vec<&str> = text.split('\0').collect();
    let mut res = Vec::new();
    for pair in parts.chunks(2) {
        if let [name, b64] = pair {
            if name.is_empty() {
                continue;
            }
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
                if let Ok(f) = fingerprints(&bytes) {
                    res.push((name.to_string(), f));
                }
            }
        }
    }
    Ok(res)
}

/// Where the key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Data(String),
    /// A file on the host, or a URL the host can reach.
    Fetch(String),
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptKeyArgs {
    pub id: Option<String>,
    pub source: Option<KeySource>,
    pub keyring: Option<String>,
    pub state: Presence,
    pub validate_certs: bool,
    /// `ROOT/etc/apt`.
    pub etc: String,
}

impl AptKeyArgs {
    pub fn parse(args: Map, root: &str) -> Result<AptKeyArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.has("keyserver") {
            return Err(ModuleError::new("apt_key: keyserver lookups need the Internet and are not supported offline; give the key as data, file or url (a local mirror)"));
        }
        let source = match (a.str("data")?, a.str("file")?, a.str("url")?) {
            (Some(d), _, _) => Some(KeySource::Data(d)),
            (_, Some(f), _) | (_, _, Some(f)) => Some(KeySource::Fetch(f)),
            _ => None,
        };
        Ok(AptKeyArgs {
            id: a.str("id")?,
            source,
            keyring: a.str("keyring")?,
            state: Presence::from_arg(&a, "state")?,
            // A file on the host needs no certificate; `validate_certs` is for `url`.
            validate_certs: a.flag("validate_certs") || a.has("file"),
            etc: format!("{root}/etc/apt"),
        })
    }
}

/// What `query` found: the key's bytes and every trusted key file with its fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub data: Option<Vec<u8>>,
    pub trusted: Vec<(String, Vec<String>)>,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Store the de-armoured key in this file.
    Add { dest: String, key: Vec<u8> },
    /// Delete the files holding the key.
    Remove(Vec<String>),
}

#[async_trait]
impl QueryPlanApply for AptKeyModule {
    type Args = AptKeyArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "apt_key"
    }

    fn parse(&self, args: Map) -> Result<AptKeyArgs, ModuleError> {
        AptKeyArgs::parse(args, &self.root)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &AptKeyArgs) -> Result<Seen, ModuleError> {
        let data = match &a.source {
            Some(KeySource::Data(d)) => Some(d.clone().into_bytes()),
            Some(KeySource::Fetch(f)) => Some(key_bytes(ctx, f, a.validate_certs).await?),
            None => None,
        };
        let trusted = trusted(ctx, &a.etc, a.keyring.as_deref()).await?;
        Ok(Seen { data, trusted })
    }

    fn plan(a: &AptKeyArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let fprs = match &seen.data {
            Some(d) => fingerprints(d).map_err(ModuleError::new)?,
            None => vec![],
        };
        let id = key_id(a.id.as_deref(), fprs.first())?;
        let holders: Vec<&(String, Vec<String>)> = seen
            .trusted
            .iter()
            .filter(|(_, f)| f.iter().any(|x| id_matches(&id, x)))
            .collect();
        let r = ModuleResult::new(false)
            .set("id", id.clone())
            .set("key_id", id[id.len().saturating_sub(16)..].to_string())
            .set("short_id", id[id.len().saturating_sub(8)..].to_string())
            .set(
                "fp",
                fprs.first()
                    .cloned()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            );
        match a.state {
            Presence::Present if !holders.is_empty() => Ok(Plan::nothing(r)),
            Presence::Present => {
                let (Some(data), Some(fpr)) = (&seen.data, fprs.first()) else {
                    return Err(ModuleError::new(format!(
                        "key {id} is not trusted and no data, file or url was given to add it"
                    )));
                };
                let dest = a.keyring.clone().unwrap_or_else(|| {
                    format!(
                        "{}/trusted.gpg.d/kplay-{}.gpg",
                        a.etc,
                        &fpr[fpr.len().saturating_sub(16)..]
                    )
                });
                let key = dearmor(data).map_err(ModuleError::new)?;
                let r = r.set("keyring", dest.clone());
                Ok(Plan::change(Changes::Add { dest, key }, r))
            }
            Presence::Absent => {
                for (file, keys) in &holders {
                    if keys.iter().any(|k| !id_matches(&id, k)) {
                        return Err(ModuleError::new(format!("key {id} is in {file} together with other keys; kplay removes whole key files only (edit it with gpg)")));
                    }
                }
                if holders.is_empty() {
                    return Ok(Plan::nothing(r));
                }
                let files = holders.iter().map(|(f, _)| f.clone()).collect();
                Ok(Plan::change(Changes::Remove(files), r))
            }
        }
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _: &AptKeyArgs,
        c: Changes,
        r: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        match c {
            Changes::Add { dest, key } => {
                ctx.transport
                    .put(&key, &dest, Some(0o644), ctx.become_.as_ref())
                    .await?;
            }
            Changes::Remove(files) => {
                let files: String = files.iter().map(|f| format!(" {}", sh_quote(f))).collect();
                let out = run_sh(ctx, format!("rm -f --{files}"), None).await?;
                ensure_status(&out, |e| format!("removing the key failed: {e}"))?;
            }
        }
        Ok(r)
    }
}

/// The key's id: the one given (checked against the key's fingerprint), else the fingerprint.
fn key_id(given: Option<&str>, fpr: Option<&String>) -> Result<String, ModuleError> {
    match (given, fpr) {
        (Some(i), Some(f)) if !id_matches(i, f) => Err(ModuleError::new(format!(
            "key id {i} does not match the key's fingerprint {f}"
        ))),
        (Some(i), _) => Ok(i.trim_start_matches("0x").to_uppercase()),
        (None, Some(f)) => Ok(f.clone()),
        (None, None) => Err(ModuleError::new(
            "one of the following is required: id, data, file, url",
        )),
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

    fn plan(
        v: serde_json::Value,
        trusted: &[(&str, &[&str])],
    ) -> Result<Plan<Changes>, ModuleError> {
        let a = AptKeyArgs::parse(args(v), "").expect("args");
        let seen = Seen {
            data: match &a.source {
                Some(KeySource::Data(d)) => Some(d.clone().into_bytes()),
                _ => None,
            },
            trusted: trusted
                .iter()
                .map(|(f, k)| (f.to_string(), k.iter().map(|s| s.to_string()).collect()))
                .collect(),
        };
        AptKeyModule::plan(&a, &seen)
    }

    #[test]
    fn plan_adds_an_untrusted_key_de_armoured() {
        let p = plan(json!({"data": KEY}), &[]).expect("plan");
        let Some(Changes::Add { dest, key }) = p.changes else {
            panic!("no add")
        };
        assert_eq!(dest, "/etc/apt/trusted.gpg.d/kplay-519653B98EAFD170.gpg");
        assert_eq!(key[0] & 0x80, 0x80);
        let r = p.result.into_map();
        assert_eq!(
            (r["changed"].clone(), r["fp"].clone(), r["short_id"].clone()),
            (json!(true), json!(FPR), json!("8EAFD170"))
        );
        assert_eq!(r["keyring"], json!(dest));
    }

    #[test]
    fn plan_leaves_a_trusted_key_and_removes_it_when_absent() {
        let held: &[(&str, &[&str])] = &[("/etc/apt/trusted.gpg.d/x.gpg", &[FPR])];
        let p = plan(json!({"data": KEY}), held).expect("plan");
        assert!(p.changes.is_none() && !p.result.changed);
        let p = plan(json!({"id": "8EAFD170", "state": "absent"}), held).expect("plan");
        assert_eq!(
            p.changes,
            Some(Changes::Remove(vec!["/etc/apt/trusted.gpg.d/x.gpg".into()]))
        );
        assert!(plan(json!({"id": "8EAFD170", "state": "absent"}), &[])
            .expect("plan")
            .changes
            .is_none());
        let shared: &[(&str, &[&str])] = &[("/etc/apt/trusted.gpg", &[FPR, "AAAA"])];
        let e = plan(json!({"id": "8EAFD170", "state": "absent"}), shared).expect_err("shared");
        assert!(e.msg.contains("together with other keys"), "{}", e.msg);
    }

    #[test]
    fn plan_needs_a_key_to_add_and_an_id_or_key() {
        let e = plan(json!({"id": "8EAFD170"}), &[]).expect_err("no data");
        assert_eq!(
            e.msg,
            "key 8EAFD170 is not trusted and no data, file or url was given to add it"
        );
        let e = plan(json!({}), &[]).expect_err("nothing");
        assert_eq!(
            e.msg,
            "one of the following is required: id, data, file, url"
        );
    }

    crate::testutil::both_paths! {
    async fn trusts_a_key_once_and_removes_it_by_id() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("etc/apt/trusted.gpg.d")).expect("mkdir");
        let m = Planned(AptKeyModule { root: d.path().to_string_lossy().into_owned() });
        let env = TestEnv::new(d.path());
        let f = d.path().join("etc/apt/trusted.gpg.d/kplay-519653B98EAFD170.gpg");
        let r = m.run(&ctx(&env, true, false), args(json!({"data": KEY}))).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        assert!(!f.exists());
        let r = m.run(&ctx(&env, false, false), args(json!({"data": KEY, "id": "8EAFD170"}))).await.map(|r| r.into_map()).expect("add");
        assert_eq!((r["changed"].clone(), r["short_id"].clone()), (json!(true), json!("8EAFD170")));
        let bin = std::fs::read(&f).expect("keyring");
        assert_eq!(bin[0] & 0x80, 0x80, "stored de-armoured");
        let r = m.run(&ctx(&env, false, false), args(json!({"data": KEY}))).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false));
        let r = m.run(&ctx(&env, false, false), args(json!({"id": "0x519653B98EAFD170"}))).await.map(|r| r.into_map()).expect("present by id");
        assert_eq!(r["changed"], json!(false));
        let e = m.run(&ctx(&env, false, false), args(json!({"data": KEY, "id": "DEADBEEF"}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("does not match"), "{}", e.msg);
        let r = m.run(&ctx(&env, false, false), args(json!({"id": "8EAFD170", "state": "absent"}))).await.map(|r| r.into_map()).expect("absent");
        assert_eq!(r["changed"], json!(true));
        assert!(!f.exists());
        let e = m.run(&ctx(&env, false, false), args(json!({"id": "8EAFD170", "keyserver": "keyserver.ubuntu.com"}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("not supported offline"), "{}", e.msg);
    }
    }
}
