//! `known_hosts` (ansible.builtin.known_hosts): one host's key in an SSH known_hosts file,
//! matched as ssh does (plain names, `[host]:port`, comma lists, and hashed `|1|salt|hmac`
//! entries, checked with HMAC-SHA1 here rather than by `ssh-keygen -F`, so the host needs no
//! ssh client). `present` adds the key, replacing another key of the same type for that host;
//! `absent` removes the host's keys (only that type when `key` is given). New entries are
//! hashed with `hash_host`. Written once through the editing modules' commit (check mode,
//! diff); a missing `~/.ssh` is made 0700.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::common::text::with_diff;
use crate::common::text::{commit, WriteOpts};
use crate::common::text::{read as probe, Found};
use async_trait::async_trait;
use base64::Engine;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;
use sha1::{Digest, Sha1};

const PARAMS: &[Param] = &[
    p("name", &["host"])
        .str()
        .required()
        .doc("The host (as written in the file: `host` or `[host]:port`)."),
    p("key", &[])
        .str()
        .doc("The key line (`HOST KEYTYPE BASE64`); required for present."),
    p("path", &[])
        .path()
        .default_str("~/.ssh/known_hosts")
        .doc("The known_hosts file."),
    p("hash_host", &[])
        .flag(false)
        .doc("Write the host name hashed."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the key should be there."),
];

/// `known_hosts`' declared arguments.
pub static SPEC: Spec = Spec::new(
    "known_hosts",
    "Add or remove a host from the known_hosts file",
    &[PARAMS],
);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// HMAC-SHA1 (RFC 2104), what ssh hashes host names with.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha1::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha1::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.into()
}

/// Whether one host pattern of a known_hosts line (plain or hashed) names `host`.
fn names_host(pattern: &str, host: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("|1|") {
        let Some((salt, mac)) = rest.split_once('|') else {
            return false;
        };
        let (Ok(salt), Ok(mac)) = (B64.decode(salt), B64.decode(mac)) else {
            return false;
        };
        return hmac_sha1(&salt, host.as_bytes()).as_slice() == mac.as_slice();
    }
    pattern == host
}

/// A line's (hosts, key type, key material), skipping a `@marker`; `None` for comments.
fn fields(line: &str) -> Option<(&str, &str, &str)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let mut f = t.split_whitespace();
    let mut hosts = f.next()?;
    if hosts.starts_with('@') {
        hosts = f.next()?;
    }
    Some((hosts, f.next()?, f.next().unwrap_or("")))
}

fn line_names(line: &str, host: &str) -> Option<(String, String)> {
    let (hosts, kt, k) = fields(line)?;
    hosts
        .split(',')
        .any(|h| names_host(h, host))
        .then(|| (kt.to_string(), k.to_string()))
}

/// The new file text: `key` = (type, material, line to write) for present, type filter for absent.
pub fn edit(
    text: &str,
    host: &str,
    present: Option<(&str, &str, &str)>,
    absent_type: Option<&str>,
) -> String {
    let mut out = String::new();
    let mut have = false;
    for line in text.split_inclusive('\n') {
        match (line_names(line, host), present) {
            (Some((kt, k)), Some((wt, wk, _))) if kt == wt => {
                if k == wk && !have {
                    have = true;
                    out.push_str(line);
                }
                // Another key of that type for this host (or a duplicate): dropped.
            }
            (Some((kt, _)), None) if absent_type.is_none_or(|t| t == kt) => {}
            _ => out.push_str(line),
        }
    }
    if let (Some((_, _, new_line)), false) = (present, have) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(new_line);
        out.push('\n');
    }
    out
}

pub struct KnownHostsModule;

#[async_trait]
impl Module for KnownHostsModule {
    fn name(&self) -> &'static str {
        "known_hosts"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("name")?.to_lowercase();
        let present = a.required_str("state")? == "present";
        let key = a.str("key")?;
        let hash = a.flag("hash_host");
        let mut path = a.required_str("path")?;
        if let Some(rest) = path.strip_prefix("~/") {
            let home = run_sh(ctx, "printf %s \"$HOME\"".into(), None)
                .await?
                .stdout_str();
            path = format!("{}/{rest}", home.trim_end_matches('/'));
        }
        // The key line, checked against the name.
        let parsed = match &key {
            Some(k) => {
                let (hosts, kt, km) = fields(k)
                    .ok_or_else(|| ModuleError::new(format!("Invalid key specified: {k}")))?;
                if km.is_empty() {
                    return Err(ModuleError::new(format!("Invalid key specified: {k}")));
                }
                if !hosts
                    .split(',')
                    .any(|h| names_host(&h.to_lowercase(), &name))
                {
                    return Err(ModuleError::new(
                        "Host parameter does not match hashed host field in supplied key",
                    ));
                }
                Some((kt.to_string(), km.to_string()))
            }
            None if present => {
                return Err(ModuleError::new(
                    "state is present but all of the following are missing: key",
                ))
            }
            None => None,
        };
        let probed = probe(ctx, &path).await?;
        let before = match &probed.found {
            Found::Directory => return Err(ModuleError::new(format!("{path} is a directory"))),
            Found::Missing => String::new(),
            Found::File { content, .. } => content.clone(),
        };
        let new_line = match &parsed {
            Some((kt, km)) => {
                let host_field = if hash {
                    let mut salt = [0u8; 20];
                    getrandom::fill(&mut salt)
                        .map_err(|e| ModuleError::new(format!("no randomness: {e}")))?;
                    format!(
                        "|1|{}|{}",
                        B64.encode(salt),
                        B64.encode(hmac_sha1(&salt, name.as_bytes()))
                    )
                } else {
                    name.clone()
                };
                format!("{host_field} {kt} {km}")
            }
            None => String::new(),
        };
        let after = if present {
            let (kt, km) = parsed
                .as_ref()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .unwrap_or(("", ""));
            edit(&before, &name, Some((kt, km, &new_line)), None)
        } else {
            edit(
                &before,
                &name,
                None,
                parsed.as_ref().map(|(t, _)| t.as_str()),
            )
        };
        let changed = after != before;
        if changed && !ctx.check_mode && !probed.exists() {
            let dir = crate::common::remote_dirname(&path);
            let out = run_sh(
                ctx,
                format!("[ -d {q} ] || mkdir -m 0700 -p {q}", q = sh_quote(&dir)),
                None,
            )
            .await?;
            if out.rc != 0 {
                return Err(ModuleError::new(format!(
                    "creating {dir} failed: {}",
                    out.stderr_str().trim()
                )));
            }
        }
        let opts = WriteOpts::default();
        commit(
            ctx,
            &path,
            &probed,
            changed.then_some(after.as_str()),
            &opts,
        )
        .await?;
        let r = ModuleResult::new(changed)
            .set("name", name.clone())
            .set("path", path.clone())
            .set("hash_host", hash)
            .set("state", if present { "present" } else { "absent" })
            .set("key", key.unwrap_or_default());
        Ok(with_diff(ctx, r, &path, &before, &after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOneKeyOneKeyOneKeyOneKeyOneKeyOneKey1";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOtwoKeyTwoKeyTwoKeyTwoKeyTwoKeyTwoK2";

    #[test]
    fn hashed_names_match_with_hmac_sha1() {
        // The RFC 2202 test case 2 for HMAC-SHA1.
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        let salt = [7u8; 20];
        let line = format!(
            "|1|{}|{} ssh-ed25519 {K1}\n",
            B64.encode(salt),
            B64.encode(hmac_sha1(&salt, b"node1"))
        );
        assert!(line_names(&line, "node1").is_some());
        assert!(line_names(&line, "node2").is_none());
        assert!(line_names(&format!("a,[node1]:2222 ssh-rsa {K1}"), "[node1]:2222").is_some());
    }

    crate::testutil::both_paths! {
    async fn adds_replaces_and_removes_a_hosts_key() {
        let d = tempfile::tempdir().expect("tempdir");
        let env = TestEnv::new(d.path());
        let path = d.path().join("ssh/known_hosts").to_string_lossy().into_owned();
        let other = format!("other ssh-ed25519 {K2}\n");
        let add = json!({"name": "node1", "key": format!("node1 ssh-ed25519 {K1}"), "path": path});
        let r = KnownHostsModule.run(&ctx(&env, false, false), args(add.clone())).await.map(|r| r.into_map()).expect("add");
        assert_eq!(r["changed"], json!(true));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.path().join("ssh")).expect("stat").permissions().mode() & 0o777, 0o700);
        std::fs::write(&path, format!("{other}node1 ssh-ed25519 {K1}\n")).expect("w");
        let r = KnownHostsModule.run(&ctx(&env, false, false), args(add)).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false));
        let replace = json!({"name": "node1", "key": format!("node1 ssh-ed25519 {K2}"), "path": path, "hash_host": true});
        let r = KnownHostsModule.run(&ctx(&env, true, true), args(replace.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&path).expect("r"), format!("{other}node1 ssh-ed25519 {K1}\n"), "check mode wrote");
        KnownHostsModule.run(&ctx(&env, false, false), args(replace.clone())).await.map(|r| r.into_map()).expect("replace");
        let text = std::fs::read_to_string(&path).expect("r");
        assert!(text.starts_with(&other) && text.contains(&format!(" ssh-ed25519 {K2}")) && !text.contains(K1), "{text}");
        assert!(text.lines().nth(1).is_some_and(|l| l.starts_with("|1|")), "{text}");
        let r = KnownHostsModule.run(&ctx(&env, false, false), args(replace)).await.map(|r| r.into_map()).expect("hashed again");
        assert_eq!(r["changed"], json!(false), "a hashed entry is recognised");
        let r = KnownHostsModule.run(&ctx(&env, false, false), args(json!({"name": "node1", "state": "absent", "path": path}))).await.map(|r| r.into_map()).expect("absent");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&path).expect("r"), other);
        let e = KnownHostsModule.run(&ctx(&env, false, false), args(json!({"name": "node9", "key": format!("node1 ssh-ed25519 {K1}"), "path": path}))).await.map(|r| r.into_map()).unwrap_err();
        assert_eq!(e.msg, "Host parameter does not match hashed host field in supplied key");
    }
    }
}
