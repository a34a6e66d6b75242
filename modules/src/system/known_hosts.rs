//! `known_hosts` (ansible.builtin.known_hosts): one host's key in an SSH known_hosts file,
//! matched as ssh does (plain names, `[host]:port`, comma lists, and hashed `|1|salt|hmac`
//! entries, checked with HMAC-SHA1 here rather than by `ssh-keygen -F`, so the host needs no
//! ssh client). `present` adds the key, replacing another key of the same type for that host;
//! `absent` removes the host's keys (only that type when `key` is given). New entries are
//! hashed with `hash_host`. `query` reads the file, `plan` computes the new text (and the
//! diff), `apply` writes it once through the editing modules' commit; a missing `~/.ssh` is
//! made 0700.

use crate::common::reads::ensure_status;
use crate::common::args::{p, Param, Spec};
use crate::common::attrs::path_info;
use crate::common::probe::{probe as probe_paths, PathStat, ProbeRequest};
use crate::common::run_sh;
use crate::common::text::{commit, WriteOpts};
use crate::common::text::{read as probe, Found, TextFile};
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use base64::Engine;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
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

/// `ansible.builtin.known_hosts`.
pub struct KnownHostsModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHostsArgs {
    /// Lower-cased, as ssh compares host names.
    pub name: String,
    /// As given (reported back).
    pub given_name: String,
    /// The `key` argument as given (reported back).
    pub key: Option<String>,
    /// The key's (type, base64 material), checked against `name`.
    pub parsed: Option<(String, String)>,
    /// As given; `~/` is resolved by `query`.
    pub path: String,
    pub hash: bool,
    pub state: Presence,
    /// The salt of a hashed new entry, drawn once here so `plan` stays pure.
    pub salt: [u8; 20],
}

impl KnownHostsArgs {
    pub fn parse(args: Map) -> Result<KnownHostsArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let given_name = a.required_str("name")?;
        let name = given_name.to_lowercase();
        let state = Presence::from_arg(&a, "state")?;
        let key = a.str("key")?.filter(|k| !k.is_empty());
        let parsed = match &key {
            Some(k) => {
                if name.trim_start().find(',').is_some_and(|i| i > 0) {
                    return Err(ModuleError::new("Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file."));
                }
                Some(parse_key(k, &name)?)
            }
            None if state == Presence::Present => {
                return Err(ModuleError::new("No key specified when adding a host"))
            }
            None => None,
        };
        let mut salt = [0u8; 20];
        getrandom::fill(&mut salt).map_err(|e| ModuleError::new(format!("no randomness: {e}")))?;
        Ok(KnownHostsArgs {
            name,
            given_name,
            key,
            parsed,
            path: a.required_str("path")?,
            hash: a.flag("hash_host"),
            state,
            salt,
        })
    }

    /// The line a present key is written as: the key as given, its host field hashed with
    /// `hash_host` (Ansible's `hash_host_key`).
    fn new_line(&self) -> Option<String> {
        let key = self.key.as_deref()?.trim();
        if !self.hash {
            return Some(key.to_string());
        }
        let mut parts: Vec<String> = key.split_whitespace().map(str::to_string).collect();
        let i = usize::from(parts.first().is_some_and(|p| p.starts_with('@')));
        if let Some(h) = parts.get_mut(i) {
            *h = format!(
                "|1|{}|{}",
                B64.encode(self.salt),
                B64.encode(hmac_sha1(&self.salt, self.name.as_bytes()))
            );
        }
        Some(parts.join(" "))
    }
}

/// A `key` argument's (type, material); its host field must name `name`.
fn parse_key(k: &str, name: &str) -> Result<(String, String), ModuleError> {
    let invalid = || ModuleError::new(format!("Invalid key specified: {k}"));
    let (hosts, kt, km) = fields(k).ok_or_else(invalid)?;
    if km.is_empty() {
        return Err(invalid());
    }
    if !hosts
        .split(',')
        .any(|h| names_host(&h.to_lowercase(), name))
    {
        return Err(ModuleError::new(
            "Host parameter does not match hashed host field in supplied key",
        ));
    }
    Ok((kt.to_string(), km.to_string()))
}

/// What `query` found: the file (by its resolved path) as read.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub file: TextFile,
}

/// What `apply` does: create the missing directory (0700), then write the new text.
#[derive(Debug, Clone)]
pub struct Changes {
    pub path: String,
    pub file: TextFile,
    pub mkdir: Option<String>,
    pub content: String,
}

#[async_trait]
impl QueryPlanApply for KnownHostsModule {
    type Args = KnownHostsArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "known_hosts"
    }

    fn parse(&self, args: Map) -> Result<KnownHostsArgs, ModuleError> {
        KnownHostsArgs::parse(args)
    }

    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        a: &KnownHostsArgs,
    ) -> Result<Seen, ModuleError> {
        let mut path = a.path.clone();
        if let Some(rest) = path.strip_prefix("~/") {
            let home = run_sh(ctx, "printf %s \"$HOME\"".into(), None)
                .await?
                .stdout_str();
            path = format!("{}/{rest}", home.trim_end_matches('/'));
        }
        let file = probe(ctx, &path).await?;
        Ok(Seen { path, file })
    }

    fn plan(a: &KnownHostsArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let path = &seen.path;
        let before = match &seen.file.found {
            Found::Directory => return Err(ModuleError::new(format!("{path} is a directory"))),
            Found::Missing => "",
            Found::File { content, .. } => content.as_str(),
        };
        let before_header = match seen.file.found {
            Found::Missing => "/dev/null",
            _ => path.as_str(),
        };
        let after = match (a.state, a.new_line(), &a.parsed) {
            (Presence::Present, Some(line), Some((kt, km))) => {
                edit(before, &a.name, Some((kt, km, &line)), None)
            }
            (_, _, parsed) => edit(
                before,
                &a.name,
                None,
                parsed.as_ref().map(|(t, _)| t.as_str()),
            ),
        };
        let result = ModuleResult::new(false)
            .set("name", a.given_name.clone())
            .set("path", path.clone())
            .set("hash_host", a.hash)
            .set("state", a.state.as_str())
            .set("key", a.key.clone().map_or(Value::Null, Value::String))
            .with_diff(before_header, path, before, &after);
        if after == before {
            // Ansible's `add_path_info` on the file as it is (`state` becomes `file`).
            let mut result = result;
            let absent = PathStat::absent(path);
            path_info(seen.file.stat().unwrap_or(&absent), &mut result.extra);
            return Ok(Plan::nothing(result));
        }
        let mkdir = (!seen.file.exists()).then(|| crate::common::remote_dirname(path));
        let changes = Changes {
            path: path.clone(),
            file: seen.file.clone(),
            mkdir,
            content: after,
        };
        Ok(Plan::change(changes, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &KnownHostsArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        if let Some(dir) = &c.mkdir {
            let q = sh_quote(dir);
            let out = run_sh(ctx, format!("[ -d {q} ] || mkdir -m 0700 -p {q}"), None).await?;
            ensure_status(&out, |e| format!("creating {dir} failed: {e}"))?;
        }
        commit(
            ctx,
            &c.path,
            &c.file,
            Some(&c.content),
            &WriteOpts::default(),
        )
        .await?;
        // Ansible's `add_path_info` on the file written (`state` becomes `file`).
        let mut result = result;
        let req = ProbeRequest::new(&c.path).follow(true).checksum(None);
        if let Some(st) = probe_paths(ctx, &[req]).await?.paths.first() {
            path_info(st, &mut result.extra);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::{Diff, Module};
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
        let r = Planned(KnownHostsModule).run(&ctx(&env, false, false), args(add.clone())).await.map(|r| r.into_map()).expect("add");
        assert_eq!(r["changed"], json!(true));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.path().join("ssh")).expect("stat").permissions().mode() & 0o777, 0o700);
        std::fs::write(&path, format!("{other}node1 ssh-ed25519 {K1}\n")).expect("w");
        let r = Planned(KnownHostsModule).run(&ctx(&env, false, false), args(add)).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false));
        let replace = json!({"name": "node1", "key": format!("node1 ssh-ed25519 {K2}"), "path": path, "hash_host": true});
        let r = Planned(KnownHostsModule).run(&ctx(&env, true, true), args(replace.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&path).expect("r"), format!("{other}node1 ssh-ed25519 {K1}\n"), "check mode wrote");
        Planned(KnownHostsModule).run(&ctx(&env, false, false), args(replace.clone())).await.map(|r| r.into_map()).expect("replace");
        let text = std::fs::read_to_string(&path).expect("r");
        assert!(text.starts_with(&other) && text.contains(&format!(" ssh-ed25519 {K2}")) && !text.contains(K1), "{text}");
        assert!(text.lines().nth(1).is_some_and(|l| l.starts_with("|1|")), "{text}");
        let r = Planned(KnownHostsModule).run(&ctx(&env, false, false), args(replace)).await.map(|r| r.into_map()).expect("hashed again");
        assert_eq!(r["changed"], json!(false), "a hashed entry is recognised");
        let r = Planned(KnownHostsModule).run(&ctx(&env, false, false), args(json!({"name": "node1", "state": "absent", "path": path}))).await.map(|r| r.into_map()).expect("absent");
        assert_eq!(r["changed"], json!(true));
        assert_eq!(std::fs::read_to_string(&path).expect("r"), other);
        let e = Planned(KnownHostsModule).run(&ctx(&env, false, false), args(json!({"name": "node9", "key": format!("node1 ssh-ed25519 {K1}"), "path": path}))).await.map(|r| r.into_map()).unwrap_err();
        assert_eq!(e.msg, "Host parameter does not match hashed host field in supplied key");
    }
    }

    fn kh(v: serde_json::Value) -> KnownHostsArgs {
        KnownHostsArgs::parse(args(v)).expect("args")
    }

    /// What `query` would find at /k: `None` = no file.
    fn seen(text: Option<&str>) -> Seen {
        let found = match text {
            None => Found::Missing,
            Some(t) => Found::File {
                stat: Box::new(crate::common::probe::PathStat::absent("/k")),
                content: t.to_string(),
            },
        };
        Seen {
            path: "/k".into(),
            file: TextFile {
                found,
                real_path: "/k".into(),
                host: Default::default(),
            },
        }
    }

    #[test]
    fn plan_adds_a_key_to_a_new_file_and_makes_its_directory() {
        let a =
            kh(json!({"name": "Node1", "key": format!("node1 ssh-ed25519 {K1}"), "path": "/s/k"}));
        let p = KnownHostsModule::plan(&a, &seen(None)).expect("plan");
        let c = p.changes.expect("changes");
        assert_eq!(c.content, format!("node1 ssh-ed25519 {K1}\n"));
        assert_eq!(c.mkdir.as_deref(), Some("/"));
        assert!(p.result.changed);
        assert_eq!(p.result.extra["name"], json!("Node1"));
        assert!(
            matches!(&p.result.diff, Diff::Many(d) if d[0]["before"] == "" && d[0]["after"] == c.content.as_str())
        );
    }

    #[test]
    fn plan_keeps_a_present_key_and_replaces_another_of_its_type() {
        let line = format!("node1 ssh-ed25519 {K1}\n");
        let a = kh(json!({"name": "node1", "key": line.trim(), "path": "/k"}));
        let p = KnownHostsModule::plan(&a, &seen(Some(&line))).expect("plan");
        assert!(p.changes.is_none() && !p.result.changed);
        let a2 = kh(
            json!({"name": "node1", "key": format!("node1 ssh-ed25519 {K2}"), "hash_host": true}),
        );
        let p = KnownHostsModule::plan(&a2, &seen(Some(&line))).expect("plan");
        let c = p.changes.expect("changes");
        assert!(c.mkdir.is_none());
        assert!(
            c.content.starts_with("|1|") && c.content.ends_with(&format!(" ssh-ed25519 {K2}\n")),
            "{}",
            c.content
        );
        assert!(line_names(&c.content, "node1").is_some());
        let again = KnownHostsModule::plan(&a2, &seen(Some(&c.content))).expect("plan");
        assert!(again.changes.is_none(), "a hashed entry is recognised");
    }

    #[test]
    fn plan_removes_the_hosts_keys_or_only_the_given_type() {
        let text = format!("node1 ssh-ed25519 {K1}\nnode1 ssh-rsa {K2}\nother ssh-rsa {K2}\n");
        let all = kh(json!({"name": "node1", "state": "absent"}));
        let c = KnownHostsModule::plan(&all, &seen(Some(&text)))
            .expect("plan")
            .changes
            .expect("changes");
        assert_eq!(c.content, format!("other ssh-rsa {K2}\n"));
        let rsa =
            kh(json!({"name": "node1", "state": "absent", "key": format!("node1 ssh-rsa {K2}")}));
        let c = KnownHostsModule::plan(&rsa, &seen(Some(&text)))
            .expect("plan")
            .changes
            .expect("changes");
        assert_eq!(
            c.content,
            format!("node1 ssh-ed25519 {K1}\nother ssh-rsa {K2}\n")
        );
        assert!(KnownHostsModule::plan(&all, &seen(None))
            .expect("plan")
            .changes
            .is_none());
    }

    #[test]
    fn plan_refuses_a_directory_and_parse_checks_the_key() {
        let mut s = seen(None);
        s.file.found = Found::Directory;
        let a = kh(json!({"name": "node1", "state": "absent"}));
        assert_eq!(
            KnownHostsModule::plan(&a, &s).unwrap_err().msg,
            "/k is a directory"
        );
        let e = KnownHostsArgs::parse(args(json!({"name": "node1"}))).unwrap_err();
        assert_eq!(e.msg, "No key specified when adding a host");
        let e = KnownHostsArgs::parse(args(json!({"name": "node1", "key": "node1 ssh-rsa"})))
            .unwrap_err();
        assert_eq!(e.msg, "Invalid key specified: node1 ssh-rsa");
    }
}
