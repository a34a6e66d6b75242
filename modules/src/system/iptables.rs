//! `iptables` (ansible.builtin.iptables): a chain's default `policy`, a `flush` of a table or
//! chain, or one rule present/absent, through `iptables` (`ip6tables` for ip_version=ipv6).
//! Like Ansible, a rule's presence is asked with `-C` (so iptables itself normalises it) and it
//! is appended (`-A`) or inserted (`-I`, optionally at `rule_num`) only when missing, deleted
//! (`-D`) only when there; a flush always reports changed. The rule's arguments come in
//! Ansible's order. `query` asks (`-L` or `-C`), `plan` picks the one command, `apply` runs it.

use crate::common::args::{p, Args, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("table", &[])
        .choices(&["filter", "nat", "mangle", "raw", "security"])
        .default_str("filter")
        .doc("The table."),
    p("chain", &[])
        .str()
        .doc("The chain (`INPUT`, a user chain)."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the rule should be there."),
    p("action", &[])
        .choices(&["append", "insert"])
        .default_str("append")
        .doc("Where a missing rule goes."),
    p("rule_num", &[])
        .str()
        .doc("With action=insert: the position."),
    p("ip_version", &[])
        .choices(&["ipv4", "ipv6"])
        .default_str("ipv4")
        .doc("iptables or ip6tables."),
    p("policy", &[])
        .choices(&["ACCEPT", "DROP", "QUEUE", "RETURN"])
        .doc("Set the chain's default policy (rule arguments are then ignored)."),
    p("flush", &[])
        .flag(false)
        .doc("Flush the chain (or every chain of the table)."),
    p("protocol", &[]).str().doc("`-p`: tcp, udp, icmp, all, …"),
    p("source", &[])
        .str()
        .doc("`-s`: source address or network."),
    p("destination", &[])
        .str()
        .doc("`-d`: destination address or network."),
    p("match", &[]).list().doc("`-m` match extensions."),
    p("jump", &[]).str().doc("`-j`: the target."),
    p("gateway", &[])
        .str()
        .doc("`--gateway` for the TEE target."),
    p("in_interface", &[])
        .str()
        .doc("`-i`: incoming interface."),
    p("out_interface", &[])
        .str()
        .doc("`-o`: outgoing interface."),
    p("source_port", &[]).str().doc("`--source-port`."),
    p("destination_port", &[])
        .str()
        .doc("`--destination-port`."),
    p("to_ports", &[])
        .str()
        .doc("`--to-ports` (REDIRECT, MASQUERADE)."),
    p("to_destination", &[])
        .str()
        .doc("`--to-destination` (DNAT)."),
    p("to_source", &[]).str().doc("`--to-source` (SNAT)."),
    p("set_dscp_mark", &[])
        .str()
        .doc("`--set-dscp` (DSCP target)."),
    p("set_counters", &[])
        .str()
        .doc("`-c`: packet and byte counters."),
    p("ctstate", &[]).list().doc("`-m conntrack --ctstate`."),
    p("src_range", &[]).str().doc("`-m iprange --src-range`."),
    p("dst_range", &[]).str().doc("`-m iprange --dst-range`."),
    p("limit", &[]).str().doc("`-m limit --limit`."),
    p("limit_burst", &[]).str().doc("`--limit-burst`."),
    p("uid_owner", &[]).str().doc("`-m owner --uid-owner`."),
    p("gid_owner", &[]).str().doc("`-m owner --gid-owner`."),
    p("reject_with", &[])
        .str()
        .doc("`-j REJECT --reject-with`."),
    p("icmp_type", &[]).str().doc("`--icmp-type`."),
    p("fragment", &[]).str().doc("`-f` fragments."),
    p("comment", &[]).str().doc("`-m comment --comment`."),
    p("wait", &[])
        .str()
        .doc("`-w`: seconds to wait for the xtables lock."),
];

/// `iptables`' declared arguments.
pub static SPEC: Spec = Spec::new("iptables", "Modify iptables rules", &[PARAMS]);

/// `ansible.builtin.iptables`.
pub struct IptablesModule;

fn push_opt(out: &mut Vec<String>, flag: &str, v: Option<String>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        let (neg, v) = match v.strip_prefix('!') {
            Some(rest) => (true, rest.trim().to_string()),
            None => (false, v),
        };
        if neg {
            out.push("!".into());
        }
        out.push(flag.into());
        out.push(v);
    }
}

/// The rule's arguments in Ansible's order (after `-A/-C/-D CHAIN`).
pub fn rule_args(a: &Args) -> Result<Vec<String>, ModuleError> {
    let mut r = Vec::new();
    push_opt(&mut r, "-p", a.str("protocol")?);
    push_opt(&mut r, "-s", a.str("source")?);
    push_opt(&mut r, "-d", a.str("destination")?);
    for m in a.list("match") {
        r.push("-m".into());
        r.push(m);
    }
    push_opt(&mut r, "-j", a.str("jump")?);
    push_opt(&mut r, "--set-dscp", a.str("set_dscp_mark")?);
    push_opt(&mut r, "--to-destination", a.str("to_destination")?);
    push_opt(&mut r, "--to-source", a.str("to_source")?);
    push_opt(&mut r, "--gateway", a.str("gateway")?);
    push_opt(&mut r, "-i", a.str("in_interface")?);
    push_opt(&mut r, "-o", a.str("out_interface")?);
    push_opt(&mut r, "-f", a.str("fragment")?);
    push_opt(&mut r, "-c", a.str("set_counters")?);
    push_opt(&mut r, "--source-port", a.str("source_port")?);
    push_opt(&mut r, "--destination-port", a.str("destination_port")?);
    push_opt(&mut r, "--to-ports", a.str("to_ports")?);
    let ct = a.list("ctstate");
    if !ct.is_empty() {
        r.extend([
            "-m".into(),
            "conntrack".into(),
            "--ctstate".into(),
            ct.join(","),
        ]);
    }
    let (src, dst) = (a.str("src_range")?, a.str("dst_range")?);
    if src.is_some() || dst.is_some() {
        r.extend(["-m".into(), "iprange".into()]);
        push_opt(&mut r, "--src-range", src);
        push_opt(&mut r, "--dst-range", dst);
    }
    if let Some(l) = a.str("limit")? {
        r.extend(["-m".into(), "limit".into(), "--limit".into(), l]);
        push_opt(&mut r, "--limit-burst", a.str("limit_burst")?);
    }
    let (uid, gid) = (a.str("uid_owner")?, a.str("gid_owner")?);
    if uid.is_some() || gid.is_some() {
        r.extend(["-m".into(), "owner".into()]);
        push_opt(&mut r, "--uid-owner", uid);
        push_opt(&mut r, "--gid-owner", gid);
    }
    push_opt(&mut r, "--reject-with", a.str("reject_with")?);
    if let Some(t) = a.str("icmp_type")? {
        let flag = if a.required_str("ip_version")? == "ipv6" {
            "--icmpv6-type"
        } else {
            "--icmp-type"
        };
        r.extend([flag.into(), t]);
    }
    if let Some(c) = a.str("comment")? {
        r.extend(["-m".into(), "comment".into(), "--comment".into(), c]);
    }
    Ok(r)
}

/// The policy `iptables -L CHAIN` printed in its header (`Chain INPUT (policy ACCEPT)`).
pub fn current_policy(listing: &str) -> Option<String> {
    let head = listing.lines().next()?;
    let rest = head.split("(policy ").nth(1)?;
    rest.split_whitespace()
        .next()
        .map(|s| s.trim_end_matches(')').to_string())
}

fn sh_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the task asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// `flush`: empty the table or chain (always a change).
    Flush,
    /// `policy` of `chain`.
    Policy(String),
    /// One rule, present or absent; `insert` with its optional `rule_num`.
    Rule {
        rule: Vec<String>,
        state: Presence,
        insert: Option<Option<String>>,
    },
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IptablesArgs {
    /// `iptables`/`ip6tables`, `-w`, `-t TABLE`.
    pub base: Vec<String>,
    pub bin: &'static str,
    pub table: String,
    pub chain: Option<String>,
    pub ip_version: String,
    pub want: Want,
}

/// What `query` found: the chain's policy, or whether the rule is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing to read (flush).
    Nothing,
    Policy(Option<String>),
    RuleExists(bool),
}

fn words(base: &[String], more: &[&str], rest: &[String]) -> String {
    let mut v = base.to_vec();
    v.extend(more.iter().map(|s| s.to_string()));
    v.extend(rest.iter().cloned());
    sh_words(&v)
}

#[async_trait]
impl QueryPlanApply for IptablesModule {
    type Args = IptablesArgs;
    type Seen = Seen;
    /// The command that changes the table.
    type Changes = String;

    fn name(&self) -> &'static str {
        "iptables"
    }

    fn parse(&self, args: Map) -> Result<IptablesArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let ip_version = a.required_str("ip_version")?;
        let bin = if ip_version == "ipv6" {
            "ip6tables"
        } else {
            "iptables"
        };
        let table = a.required_str("table")?;
        let chain = a.str("chain")?;
        let mut base = vec![bin.to_string()];
        if let Some(w) = a.str("wait")? {
            base.extend(["-w".into(), w]);
        }
        base.extend(["-t".into(), table.clone()]);
        let want = if a.flag("flush") {
            Want::Flush
        } else if let Some(policy) = a.str("policy")? {
            if chain.is_none() {
                return Err(ModuleError::new(
                    "parameters are required together: policy, chain",
                ));
            }
            Want::Policy(policy)
        } else {
            if chain.is_none() {
                return Err(ModuleError::new("a rule needs 'chain'"));
            }
            let insert = (a.required_str("action")? == "insert")
                .then(|| a.str("rule_num"))
                .transpose()?;
            Want::Rule {
                rule: rule_args(&a)?,
                state: Presence::from_arg(&a, "state")?,
                insert,
            }
        };
        Ok(IptablesArgs {
            base,
            bin,
            table,
            chain,
            ip_version,
            want,
        })
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &IptablesArgs) -> Result<Seen, ModuleError> {
        let chain = a.chain.clone().unwrap_or_default();
        match &a.want {
            Want::Flush => Ok(Seen::Nothing),
            Want::Policy(_) => {
                let list = words(&a.base, &["-L", &chain, "-n"], &[]);
                let r = read_all(ctx, &[Read::new("list", list).merged()]).await?;
                let l = r.get("list");
                if !l.ok() {
                    return Err(ModuleError::new(format!(
                        "{} -L {chain} failed: {}",
                        a.bin,
                        l.out.trim()
                    )));
                }
                Ok(Seen::Policy(current_policy(&l.out)))
            }
            Want::Rule { rule, .. } => {
                let check = words(&a.base, &["-C", &chain], rule);
                let r = read_all(ctx, &[Read::new("check", check)]).await?;
                Ok(Seen::RuleExists(r.get("check").ok()))
            }
        }
    }

    fn plan(a: &IptablesArgs, seen: &Seen) -> Result<Plan<String>, ModuleError> {
        let chain = a.chain.clone().unwrap_or_default();
        let result = ModuleResult::new(false)
            .set("table", a.table.as_str())
            .set("chain", chain.as_str())
            .set("ip_version", a.ip_version.as_str())
            .set("flush", a.want == Want::Flush);
        let (cmd, result) = match (&a.want, seen) {
            (Want::Flush, _) => {
                let c: Vec<&str> = std::iter::once("-F").chain(a.chain.as_deref()).collect();
                (Some(words(&a.base, &c, &[])), result)
            }
            (Want::Policy(p), Seen::Policy(cur)) => (
                (cur.as_deref() != Some(p.as_str()))
                    .then(|| words(&a.base, &["-P", &chain, p], &[])),
                result.set("policy", p.as_str()),
            ),
            (
                Want::Rule {
                    rule,
                    state,
                    insert,
                },
                Seen::RuleExists(exists),
            ) => {
                let present = *state == Presence::Present;
                let cmd = (*exists != present).then(|| {
                    let mut verb = vec![];
                    match insert {
                        _ if !present => verb.extend(["-D", chain.as_str()]),
                        Some(num) => {
                            verb.extend(["-I", chain.as_str()]);
                            verb.extend(num.as_deref());
                        }
                        None => verb.extend(["-A", chain.as_str()]),
                    }
                    words(&a.base, &verb, rule)
                });
                let r = result
                    .set("rule", rule.join(" "))
                    .set("state", state.as_str());
                (cmd, r)
            }
            _ => {
                return Err(ModuleError::new(
                    "iptables: the read does not match the task",
                ))
            }
        };
        Ok(Plan::maybe(cmd, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &IptablesArgs,
        cmd: String,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let out = run_sh(ctx, cmd, None).await?;
        ensure_ok(&out, |_, e| e.trim().to_string())?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: serde_json::Value) -> Args {
        SPEC.parse(v.as_object().cloned().unwrap_or_default())
            .unwrap()
    }

    #[test]
    fn rule_arguments_follow_ansible_order_and_negation() {
        let a = args(
            json!({"chain": "INPUT", "protocol": "tcp", "source": "!10.0.0.0/8",
            "destination_port": "6443", "jump": "ACCEPT", "ctstate": ["NEW", "ESTABLISHED"], "comment": "api"}),
        );
        assert_eq!(
            rule_args(&a).unwrap().join(" "),
            "-p tcp ! -s 10.0.0.0/8 -j ACCEPT --destination-port 6443 -m conntrack --ctstate NEW,ESTABLISHED -m comment --comment api"
        );
    }

    fn ia(v: serde_json::Value) -> IptablesArgs {
        IptablesModule
            .parse(v.as_object().cloned().unwrap_or_default())
            .unwrap()
    }

    #[test]
    fn plan_appends_inserts_or_deletes_a_rule_only_when_needed() {
        let a = ia(json!({"chain": "INPUT", "protocol": "tcp", "jump": "ACCEPT", "wait": "5"}));
        let p = IptablesModule::plan(&a, &Seen::RuleExists(false)).unwrap();
        assert_eq!(
            p.changes.as_deref(),
            Some("iptables -w 5 -t filter -A INPUT -p tcp -j ACCEPT")
        );
        let r = p.result.into_map();
        assert_eq!(
            (&r["changed"], &r["state"]),
            (&json!(true), &json!("present"))
        );
        assert!(IptablesModule::plan(&a, &Seen::RuleExists(true))
            .unwrap()
            .changes
            .is_none());
        let ins = ia(
            json!({"chain": "INPUT", "jump": "DROP", "action": "insert", "rule_num": "2", "ip_version": "ipv6"}),
        );
        assert_eq!(
            IptablesModule::plan(&ins, &Seen::RuleExists(false))
                .unwrap()
                .changes
                .as_deref(),
            Some("ip6tables -t filter -I INPUT 2 -j DROP")
        );
        let del = ia(json!({"chain": "INPUT", "jump": "DROP", "state": "absent"}));
        assert_eq!(
            IptablesModule::plan(&del, &Seen::RuleExists(true))
                .unwrap()
                .changes
                .as_deref(),
            Some("iptables -t filter -D INPUT -j DROP")
        );
    }

    #[test]
    fn plan_sets_a_differing_policy_and_always_flushes() {
        let a = ia(json!({"chain": "FORWARD", "policy": "ACCEPT"}));
        let p = IptablesModule::plan(&a, &Seen::Policy(Some("DROP".into()))).unwrap();
        assert_eq!(
            p.changes.as_deref(),
            Some("iptables -t filter -P FORWARD ACCEPT")
        );
        assert_eq!(p.result.into_map()["policy"], json!("ACCEPT"));
        let same = IptablesModule::plan(&a, &Seen::Policy(Some("ACCEPT".into()))).unwrap();
        assert!(same.changes.is_none());
        let f = ia(json!({"flush": true, "table": "nat"}));
        let p = IptablesModule::plan(&f, &Seen::Nothing).unwrap();
        assert_eq!(p.changes.as_deref(), Some("iptables -t nat -F"));
        assert_eq!(p.result.into_map()["flush"], json!(true));
        let e = IptablesModule.parse(
            json!({"policy": "DROP"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert_eq!(
            e.unwrap_err().msg,
            "parameters are required together: policy, chain"
        );
    }

    #[test]
    fn policy_is_read_from_the_listing_header() {
        assert_eq!(
            current_policy("Chain FORWARD (policy DROP)\ntarget prot opt source destination\n")
                .as_deref(),
            Some("DROP")
        );
        assert_eq!(current_policy("Chain KUBE (1 references)\n"), None);
    }
}
