//! `apt_key` (ansible.builtin.apt_key): an OpenPGP key APT trusts. `apt-key` itself is gone
//! from current Debian and Ubuntu, so kplay does what it did without it: the key (`data`, a
//! `file` on the host, or a `url` the host can reach) is fingerprinted here (no gpg needed)
//! and stored, de-armoured, as `/etc/apt/trusted.gpg.d/kplay-<KEYID>.gpg` (or in `keyring`).
//! A key whose id is already trusted (any file in trusted.gpg.d, trusted.gpg or `keyring`) is
//! left alone; `absent` removes the file holding it (a keyring holding other keys too is
//! refused). `keyserver` needs the Internet and is refused offline.

use crate::common::args::{p, Param, Spec};
use crate::common::pgp::{dearmor, fingerprints, id_matches, key_bytes};
use crate::common::run_sh;
use async_trait::async_trait;
use base64::Engine;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
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
    root: &str,
    keyring: Option<&str>,
) -> Result<Vec<(String, Vec<String>)>, ModuleError> {
    let mut files = format!(
        "{r}/etc/apt/trusted.gpg {r}/etc/apt/trusted.gpg.d/*.gpg {r}/etc/apt/trusted.gpg.d/*.asc",
        r = sh_quote(root)
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

#[async_trait]
impl Module for AptKeyModule {
    fn name(&self) -> &'static str {
        "apt_key"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.has("keyserver") {
            return Err(ModuleError::new("apt_key: keyserver lookups need the Internet and are not supported offline; give the key as data, file or url (a local mirror)"));
        }
        let present = a.required_str("state")? == "present";
        let src = match (a.str("data")?, a.str("file")?, a.str("url")?) {
            (Some(d), _, _) => Some(d.into_bytes()),
            (_, Some(f), _) => Some(key_bytes(ctx, &f, true).await?),
            (_, _, Some(u)) => Some(key_bytes(ctx, &u, a.flag("validate_certs")).await?),
            _ => None,
        };
        let fprs = match &src {
            Some(d) => fingerprints(d).map_err(ModuleError::new)?,
            None => vec![],
        };
        let id = match (a.str("id")?, fprs.first()) {
            (Some(i), Some(f)) if !id_matches(&i, f) => {
                return Err(ModuleError::new(format!(
                    "key id {i} does not match the key's fingerprint {f}"
                )))
            }
            (Some(i), _) => i.trim_start_matches("0x").to_uppercase(),
            (None, Some(f)) => f.clone(),
            (None, None) => {
                return Err(ModuleError::new(
                    "one of the following is required: id, data, file, url",
                ))
            }
        };
        let keyring = a.str("keyring")?;
        let have = trusted(ctx, &self.root, keyring.as_deref()).await?;
        let holders: Vec<&(String, Vec<String>)> = have
            .iter()
            .filter(|(_, f)| f.iter().any(|x| id_matches(&id, x)))
            .collect();
        let short = id[id.len().saturating_sub(8)..].to_string();
        let mut r = ModuleResult::new(false)
            .set("id", id.clone())
            .set("key_id", id[id.len().saturating_sub(16)..].to_string())
            .set("short_id", short.clone())
            .set(
                "fp",
                fprs.first()
                    .cloned()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            );
        if present {
            if !holders.is_empty() {
                return Ok(r);
            }
            let Some(data) = src else {
                return Err(ModuleError::new(format!(
                    "key {id} is not trusted and no data, file or url was given to add it"
                )));
            };
            let dest = keyring.unwrap_or_else(|| {
                format!(
                    "{}/etc/apt/trusted.gpg.d/kplay-{}.gpg",
                    self.root,
                    &fprs[0][fprs[0].len() - 16..]
                )
            });
            r.insert("changed", true);
            r.insert("keyring", dest.clone());
            if !ctx.check_mode {
                let bin = dearmor(&data).map_err(ModuleError::new)?;
                ctx.transport
                    .put(&bin, &dest, Some(0o644), ctx.become_.as_ref())
                    .await?;
            }
            return Ok(r);
        }
        for (file, keys) in &holders {
            if keys.iter().any(|k| !id_matches(&id, k)) {
                return Err(ModuleError::new(format!("key {id} is in {file} together with other keys; kplay removes whole key files only (edit it with gpg)")));
            }
        }
        if holders.is_empty() {
            return Ok(r);
        }
        r.insert("changed", true);
        if !ctx.check_mode {
            let files: String = holders
                .iter()
                .map(|(f, _)| format!(" {}", sh_quote(f)))
                .collect();
            let out = run_sh(ctx, format!("rm -f --{files}"), None).await?;
            if out.rc != 0 {
                return Err(ModuleError::new(format!(
                    "removing the key failed: {}",
                    out.stderr_str().trim()
                )));
            }
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

    crate::testutil::both_paths! {
    async fn trusts_a_key_once_and_removes_it_by_id() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("etc/apt/trusted.gpg.d")).expect("mkdir");
        let m = AptKeyModule { root: d.path().to_string_lossy().into_owned() };
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
