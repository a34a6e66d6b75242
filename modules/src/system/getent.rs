//! `getent` (ansible.builtin.getent): a database of the host's name service switch (`passwd`,
//! `group`, `hosts`, `services` …) read with `getent` and returned as the fact
//! `getent_<database>`: each line split (on `:` for passwd, shadow, group and gshadow, else on
//! white space, or on `split`), keyed by its first field; a key seen twice gets a list of
//! records, as Ansible does. Read-only, so check mode is a normal run.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::failure;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("database", &[])
        .str()
        .required()
        .doc("The database to read (`passwd`, `group`, `hosts`, `services`, `shadow` …)."),
    p("key", &[])
        .str()
        .doc("Only this entry; empty or not given: the whole database."),
    p("service", &[])
        .str()
        .doc("Override the name service (`getent -s`)."),
    p("split", &[])
        .str()
        .doc("Field separator; default `:` for passwd/shadow/group/gshadow, else white space."),
    p("fail_key", &[])
        .flag(true)
        .doc("Fail when `key` is not found (else return an empty result)."),
];

/// `getent`'s declared arguments.
pub static SPEC: Spec = Spec::new("getent", "A wrapper to the unix getent utility", &[PARAMS]);

const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// `getent`'s output as Ansible's fact: first field → the other fields (a list of such lists
/// when the first field repeats).
pub fn parse(out: &str, database: &str, split: Option<&str>) -> Map {
    let sep = split.or(COLON.contains(&database).then_some(":"));
    let mut res = Map::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for line in out.lines() {
        let rec: Vec<Value> = match sep {
            Some(s) => line.split(s).map(|f| Value::String(f.into())).collect(),
            None => line
                .split_whitespace()
                .map(|f| Value::String(f.into()))
                .collect(),
        };
        let Some(Value::String(first)) = rec.first().cloned() else {
            continue;
        };
        let rest = Value::Array(rec[1..].to_vec());
        let n = seen.entry(first.clone()).or_insert(0);
        *n += 1;
        match (*n, res.get_mut(&first)) {
            (1, _) | (_, None) => {
                res.insert(first, rest);
            }
            (2, Some(prev)) => {
                let old = prev.take();
                *prev = Value::Array(vec![old, rest]);
            }
            (_, Some(Value::Array(list))) => list.push(rest),
            (_, Some(other)) => *other = rest,
        }
    }
    res
}

/// Not query → plan → apply ([`crate::planned`]): Only reads the host (a database as facts): nothing to plan or change.
pub struct GetentModule;

#[async_trait]
impl Module for GetentModule {
    fn name(&self) -> &'static str {
        "getent"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let db = a.required_str("database")?;
        let key = a.str("key")?.filter(|k| !k.is_empty());
        let mut cmd = String::from("command -v getent >/dev/null || { echo 'getent not found on the host' >&2; exit 127; }; getent");
        if let Some(s) = a.str("service")? {
            cmd.push_str(&format!(" -s {}", sh_quote(&s)));
        }
        cmd.push_str(&format!(" {}", sh_quote(&db)));
        if let Some(k) = &key {
            cmd.push_str(&format!(" {}", sh_quote(k)));
        }
        let out = run_sh(ctx, cmd, None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        let msg = match out.rc {
            0 => None,
            1 => Some("Missing arguments, or database unknown.".to_string()),
            2 if !a.flag("fail_key") => None,
            2 => Some("One or more supplied key could not be found in the database.".to_string()),
            3 => Some("Enumeration not supported on this database.".to_string()),
            rc => Some(format!("getent failed (rc {rc}): {}", e.trim())),
        };
        if let Some(m) = msg {
            return Err(failure(m, out.rc, &o, &e));
        }
        let split = a.str("split")?;
        let mut facts = Map::new();
        facts.insert(
            format!("getent_{db}"),
            Value::Object(parse(&o, &db, split.as_deref())),
        );
        let mut r = ModuleResult::new(false).set("ansible_facts", Value::Object(facts));
        if out.rc == 2 {
            r.insert(
                "msg",
                "One or more supplied key could not be found in the database.",
            );
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[test]
    fn records_split_on_colon_or_white_space_and_repeated_keys_collect() {
        let m = parse("root:x:0:0:root:/root:/bin/bash\n", "passwd", None);
        assert_eq!(
            m["root"],
            json!(["x", "0", "0", "root", "/root", "/bin/bash"])
        );
        let m = parse(
            "::1 localhost ip6-localhost\n::1 h2\n::1 h3\n",
            "hosts",
            None,
        );
        assert_eq!(
            m["::1"],
            json!([["localhost", "ip6-localhost"], ["h2"], ["h3"]])
        );
        let m = parse("a-b-c\n", "x", Some("-"));
        assert_eq!(m["a"], json!(["b", "c"]));
    }

    crate::testutil::both_paths! {
    async fn reads_root_and_fails_on_a_missing_key_unless_told() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let r = GetentModule
            .run(&ctx(&env, true, false), args(json!({"database": "passwd", "key": "root"})))
            .await.map(|r| r.into_map())
            .expect("getent");
        assert_eq!(r["changed"], json!(false));
        assert_eq!(r["ansible_facts"]["getent_passwd"]["root"][1], json!("0"));
        let e = GetentModule
            .run(&ctx(&env, false, false), args(json!({"database": "passwd", "key": "no-such-user-kplay"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert_eq!(e.msg, "One or more supplied key could not be found in the database.");
        assert_eq!(e.result["rc"], json!(2));
        let r = GetentModule
            .run(&ctx(&env, false, false), args(json!({"database": "passwd", "key": "no-such-user-kplay", "fail_key": false})))
            .await.map(|r| r.into_map())
            .expect("getent");
        assert_eq!(r["ansible_facts"]["getent_passwd"], json!({}));
    }
    }
}
