//! `hostname` (ansible.builtin.hostname) for Linux: the running (transient) and the permanent
//! host name. Strategies as Ansible picks them: `systemd` (hostnamectl) when systemd runs the
//! host, else the distribution's file (`/etc/hostname` for debian/generic/alpine,
//! `/etc/conf.d/hostname` for openrc, `/etc/sysconfig/network` for redhat, `/etc/HOSTNAME` for
//! sles) plus the `hostname` command. One round trip reads every candidate; one more changes
//! what differs. Returns `ansible_facts` and Ansible's `hostname = …` diff.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read, Replies};
use crate::common::run_sh;
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &[]).str().required().doc("Name of the host."),
    p("use", &[])
        .choices(USES)
        .doc("Which strategy to use to update the hostname."),
];

/// `hostname`'s declared arguments.
pub static SPEC: Spec = Spec::new("hostname", "Manage hostname", &[PARAMS]);

const USES: &[&str] = &[
    "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
    "redhat", "sles", "solaris", "systemd",
];

/// `ansible.builtin.hostname`; registered as `Planned(HostnameModule)`.
pub struct HostnameModule;

/// How the permanent name is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Systemd,
    /// `/etc/hostname` (debian, generic); `hostname NAME` for the running name.
    File,
    /// `/etc/hostname` and `hostname -F /etc/hostname`.
    Alpine,
    /// `/etc/conf.d/hostname` with `hostname="NAME"`.
    Openrc,
    /// `/etc/sysconfig/network` with `HOSTNAME=NAME`.
    Redhat,
    /// `/etc/HOSTNAME`.
    Sles,
}

impl Strategy {
    fn from_word(w: &str) -> Option<Strategy> {
        Some(match w {
            "systemd" => Strategy::Systemd,
            "debian" | "generic" => Strategy::File,
            "alpine" => Strategy::Alpine,
            "openrc" => Strategy::Openrc,
            "redhat" => Strategy::Redhat,
            "sles" => Strategy::Sles,
            _ => return None,
        })
    }

    /// The file holding the permanent name (systemd's hostnamectl writes /etc/hostname).
    pub fn file(self) -> &'static str {
        match self {
            Strategy::Systemd | Strategy::File | Strategy::Alpine => "/etc/hostname",
            Strategy::Openrc => "/etc/conf.d/hostname",
            Strategy::Redhat => "/etc/sysconfig/network",
            Strategy::Sles => "/etc/HOSTNAME",
        }
    }
}

/// The sh that names the strategy when `use` is not given (systemd when it runs the host).
pub const DETECT: &str = "if command -v hostnamectl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo systemd; elif [ -e /etc/alpine-release ]; then echo alpine; elif [ -e /etc/conf.d/hostname ] && command -v rc-service >/dev/null 2>&1; then echo openrc; elif [ ! -e /etc/hostname ] && grep -qs '^HOSTNAME=' /etc/sysconfig/network; then echo redhat; else echo debian; fi";

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnameArgs {
    pub name: String,
    pub strategy: Option<Strategy>,
}

impl HostnameArgs {
    pub fn parse(args: Map) -> Result<HostnameArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.str("name")?.unwrap_or_default().trim().to_string();
        let strategy = match a.choice("use", USES)? {
            None => None,
            Some(u) => Some(Strategy::from_word(&u).ok_or_else(|| {
                ModuleError::new(format!(
                    "hostname use={u} is not supported on Linux targets"
                ))
            })?),
        };
        if name.is_empty() {
            return Err(ModuleError::new("name cannot be blank"));
        }
        Ok(HostnameArgs { name, strategy })
    }
}

/// The permanent name as a strategy's file states it.
pub fn permanent_from_file(s: Strategy, content: &str) -> String {
    let lines = content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    match s {
        Strategy::Openrc => lines
            .filter_map(|l| l.strip_prefix("hostname="))
            .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
            .next_back()
            .unwrap_or_default(),
        Strategy::Redhat => lines
            .filter_map(|l| l.strip_prefix("HOSTNAME="))
            .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
            .next_back()
            .unwrap_or_default(),
        _ => lines.map(str::to_string).next().unwrap_or_default(),
    }
}

/// The strategy's file with the permanent name set to `name` (other lines kept).
pub fn file_with_name(s: Strategy, content: &str, name: &str) -> String {
    let (key, value) = match s {
        Strategy::Openrc => ("hostname=", format!("hostname=\"{name}\"")),
        Strategy::Redhat => ("HOSTNAME=", format!("HOSTNAME={name}")),
        _ => return format!("{name}\n"),
    };
    let mut out = String::new();
    let mut done = false;
    for line in content.lines() {
        if line.trim_start().starts_with(key) {
            if !done {
                out.push_str(&value);
                out.push('\n');
                done = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(&value);
        out.push('\n');
    }
    out
}

fn reads() -> Vec<Read> {
    vec![
        Read::new("strategy", DETECT),
        Read::new(
            "current",
            "hostname 2>/dev/null || cat /proc/sys/kernel/hostname",
        ),
        Read::new("static", "hostnamectl --static"),
        Read::new("etc_hostname", "cat /etc/hostname"),
        Read::new("conf_d", "cat /etc/conf.d/hostname"),
        Read::new("sysconfig", "cat /etc/sysconfig/network"),
        Read::new("sles", "cat /etc/HOSTNAME"),
        Read::new("fqdn", "hostname -f"),
    ]
}

/// What the host has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub strategy: Strategy,
    pub current: String,
    pub permanent: String,
    pub file_content: String,
    pub fqdn: String,
}

pub fn seen(a: &HostnameArgs, r: &Replies) -> Seen {
    let strategy = a
        .strategy
        .or_else(|| Strategy::from_word(r.get("strategy").out.trim()))
        .unwrap_or(Strategy::File);
    let file_content = match strategy {
        Strategy::Systemd | Strategy::File | Strategy::Alpine => r.get("etc_hostname").out,
        Strategy::Openrc => r.get("conf_d").out,
        Strategy::Redhat => r.get("sysconfig").out,
        Strategy::Sles => r.get("sles").out,
    };
    let st = r.get("static");
    let permanent = if strategy == Strategy::Systemd && st.ok() {
        st.out.trim().to_string()
    } else {
        permanent_from_file(strategy, &file_content)
    };
    let current = r.get("current").out.trim().to_string();
    let f = r.get("fqdn");
    let fqdn = if f.ok() && !f.out.trim().is_empty() {
        f.out.trim().to_string()
    } else {
        current.clone()
    };
    Seen {
        strategy,
        current,
        permanent,
        file_content,
        fqdn,
    }
}

/// The strategy's file and its new content, when the permanent name is kept in a file
/// (systemd's hostnamectl writes its own) and differs.
pub fn file_change(name: &str, s: &Seen) -> Option<(&'static str, String)> {
    (s.strategy != Strategy::Systemd && s.permanent != name).then(|| {
        (
            s.strategy.file(),
            file_with_name(s.strategy, &s.file_content, name),
        )
    })
}

/// The change commands (after [`file_change`] is written), `None` when both names already
/// match.
pub fn change_script(name: &str, s: &Seen) -> Option<String> {
    let q = sh_quote(name);
    let mut sh = Vec::new();
    let set_current = s.current != name;
    let set_permanent = s.permanent != name;
    match s.strategy {
        Strategy::Systemd => {
            if set_current {
                sh.push(format!("hostnamectl --transient set-hostname {q}"));
            }
            if set_permanent {
                sh.push(format!("hostnamectl --pretty --static set-hostname {q}"));
            }
        }
        other => {
            if set_current {
                sh.push(if other == Strategy::Alpine {
                    "hostname -F /etc/hostname".to_string()
                } else {
                    format!("hostname {q}")
                });
            }
        }
    }
    if !set_current && !set_permanent {
        None
    } else {
        sh.push("hostname -f 2>/dev/null || hostname".into());
        Some(sh.join(" &&\n"))
    }
}

/// `ansible_facts` for the new name.
pub fn facts(name: &str, fqdn: &str) -> Value {
    let mut f = Map::new();
    f.insert(
        "ansible_hostname".into(),
        Value::String(name.split('.').next().unwrap_or(name).to_string()),
    );
    f.insert("ansible_nodename".into(), Value::String(name.to_string()));
    f.insert("ansible_fqdn".into(), Value::String(fqdn.to_string()));
    f.insert(
        "ansible_domain".into(),
        Value::String(
            fqdn.split_once('.')
                .map(|(_, d)| d.to_string())
                .unwrap_or_default(),
        ),
    );
    Value::Object(f)
}

/// hostnamectl's limit, checked as Ansible does: only when the name is about to be set (so
/// check mode reports the change rather than failing).
pub fn check_length(a: &HostnameArgs, s: &Seen) -> Result<(), ModuleError> {
    if s.strategy == Strategy::Systemd && a.name.len() > 64 {
        return Err(ModuleError::new(
            "name cannot be longer than 64 characters on systemd servers, try a shorter name",
        ));
    }
    Ok(())
}

/// What apply does: the strategy's file (when it keeps the name and differs), then the
/// commands that set what differs and print the new fully qualified name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub file: Option<(&'static str, String)>,
    pub script: String,
    /// What query saw (the length check needs the strategy).
    pub seen: Seen,
}

/// Ansible's decision: change what differs; the diff names the running name when that is the
/// one that differs, else the permanent one; facts from the name (the fqdn as the host has
/// it now — apply reads the new one).
pub fn plan(a: &HostnameArgs, s: &Seen) -> Result<Plan<Changes>, ModuleError> {
    let result = ModuleResult::new(false)
        .set("name", a.name.as_str())
        .set("ansible_facts", facts(&a.name, &s.fqdn));
    let Some(script) = change_script(&a.name, s) else {
        return Ok(Plan::nothing(result));
    };
    let before = if a.name != s.current {
        &s.current
    } else {
        &s.permanent
    };
    let mut d = Map::new();
    d.insert(
        "before".into(),
        Value::String(format!("hostname = {before}\n")),
    );
    d.insert(
        "after".into(),
        Value::String(format!("hostname = {}\n", a.name)),
    );
    let changes = Changes {
        file: file_change(&a.name, s),
        script,
        seen: s.clone(),
    };
    Ok(Plan::change(changes, result.set("diff", Value::Object(d))))
}

#[async_trait]
impl QueryPlanApply for HostnameModule {
    type Args = HostnameArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "hostname"
    }

    fn parse(&self, args: Map) -> Result<HostnameArgs, ModuleError> {
        HostnameArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &HostnameArgs) -> Result<Seen, ModuleError> {
        Ok(seen(a, &read_all(ctx, &reads()).await?))
    }

    fn plan(a: &HostnameArgs, s: &Seen) -> Result<Plan<Changes>, ModuleError> {
        plan(a, s)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &HostnameArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        check_length(a, &c.seen)?;
        if let Some((file, content)) = c.file {
            // The one atomic write of the common facade: never a half-written name.
            let req = WriteRequest {
                dest: file,
                data: content.as_bytes(),
                mode: Some(0o644),
                ..Default::default()
            };
            write_file(ctx, &req).await?;
        }
        let out = run_sh(ctx, c.script, None).await?;
        ensure_ok(&out, |o, e| {
            format!(
                "Command failed rc={}, out={}, err={}",
                out.rc,
                o.trim(),
                e.trim()
            )
        })?;
        Ok(result.set("ansible_facts", facts(&a.name, out.stdout_str().trim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::args;
    use kplay_engine::module::Module;
    use serde_json::json;

    fn seen_with(strategy: Strategy, current: &str, permanent: &str, file: &str) -> Seen {
        Seen {
            strategy,
            current: current.into(),
            permanent: permanent.into(),
            file_content: file.into(),
            fqdn: current.into(),
        }
    }

    fn hn(name: &str) -> HostnameArgs {
        HostnameArgs::parse(args(json!({ "name": name }))).expect("args")
    }

    #[test]
    fn plan_is_nothing_when_both_names_match() {
        let s = seen_with(Strategy::File, "web1", "web1", "web1\n");
        let p = plan(&hn("web1"), &s).expect("plan");
        assert!(p.changes.is_none() && !p.result.changed && p.result.diff.is_none());
        assert_eq!(p.result.extra["name"], "web1");
        assert_eq!(
            p.result
                .facts
                .as_ref()
                .map(|f| f["ansible_nodename"].clone()),
            Some(json!("web1"))
        );
    }

    #[test]
    fn plan_writes_the_file_and_diffs_the_name_that_differs() {
        let s = seen_with(Strategy::File, "old", "old", "old\n");
        let p = plan(&hn("new"), &s).expect("plan");
        let c = p.changes.expect("changes");
        assert_eq!(c.file, Some(("/etc/hostname", "new\n".to_string())));
        assert!(c.script.starts_with("hostname new"), "{}", c.script);
        let d = p.result.diff.to_value().expect("diff");
        assert_eq!(d["before"], "hostname = old\n");
        assert_eq!(d["after"], "hostname = new\n");
        // Only the permanent name differs: the diff names it.
        let s = seen_with(Strategy::Systemd, "new", "perm", "");
        let p = plan(&hn("new"), &s).expect("plan");
        assert_eq!(
            p.result.diff.to_value().expect("diff")["before"],
            "hostname = perm\n"
        );
        assert_eq!(p.changes.expect("changes").file, None);
    }

    #[test]
    fn long_names_are_refused_on_systemd_only_when_applied() {
        let long = "a".repeat(65);
        let s = seen_with(Strategy::Systemd, "x", "x", "");
        // Check mode reports the change, as Ansible's does.
        assert!(plan(&hn(&long), &s).expect("plan").result.changed);
        assert!(check_length(&hn(&long), &s)
            .unwrap_err()
            .msg
            .contains("64 characters"));
        let s = seen_with(Strategy::File, "x", "x", "");
        assert!(check_length(&hn(&long), &s).is_ok());
    }

    #[test]
    fn name_is_required_and_non_linux_use_refused() {
        assert_eq!(
            HostnameArgs::parse(args(json!({}))).unwrap_err().msg,
            "missing required arguments: name"
        );
        assert!(
            HostnameArgs::parse(args(json!({"name": "a", "use": "freebsd"})))
                .unwrap_err()
                .msg
                .contains("not supported")
        );
        assert!(
            HostnameArgs::parse(args(json!({"name": "a", "use": "nope"})))
                .unwrap_err()
                .msg
                .starts_with("value of use must be one of")
        );
    }

    #[test]
    fn systemd_sets_only_what_differs() {
        let s = seen_with(Strategy::Systemd, "web1", "old", "old\n");
        let sh = change_script("web1", &s).unwrap();
        assert!(!sh.contains("--transient"));
        assert!(sh.contains("hostnamectl --pretty --static set-hostname web1"));
        assert_eq!(
            change_script("web1", &seen_with(Strategy::Systemd, "web1", "web1", "")),
            None
        );
    }

    #[test]
    fn file_strategy_writes_etc_hostname_atomically_and_sets_running_name() {
        let s = seen_with(Strategy::File, "old", "old", "old\n");
        assert_eq!(
            file_change("db.example.com", &s),
            Some(("/etc/hostname", "db.example.com\n".to_string()))
        );
        let sh = change_script("db.example.com", &s).unwrap();
        assert!(sh.contains("hostname db.example.com"));
        assert!(
            !sh.contains("/etc/hostname"),
            "the file goes through the atomic write"
        );
        // Only the permanent name differs: the file is written, the command only reads.
        let s = seen_with(Strategy::File, "db", "old", "old\n");
        assert!(file_change("db", &s).is_some());
        assert_eq!(
            change_script("db", &s).as_deref(),
            Some("hostname -f 2>/dev/null || hostname")
        );
        let systemd = seen_with(Strategy::Systemd, "db", "old", "old\n");
        assert_eq!(file_change("db", &systemd), None);
    }

    #[test]
    fn openrc_and_redhat_files_keep_other_lines() {
        assert_eq!(
            file_with_name(Strategy::Openrc, "# c\nhostname=\"old\"\n", "new"),
            "# c\nhostname=\"new\"\n"
        );
        assert_eq!(
            file_with_name(Strategy::Redhat, "NETWORKING=yes\n", "new"),
            "NETWORKING=yes\nHOSTNAME=new\n"
        );
        assert_eq!(
            permanent_from_file(Strategy::Openrc, "hostname=\"h1\"\n"),
            "h1"
        );
        assert_eq!(permanent_from_file(Strategy::File, "# x\n\nh2\n"), "h2");
    }

    #[test]
    fn facts_split_short_name_and_domain() {
        let f = facts("web1.example.com", "web1.example.com");
        assert_eq!(f["ansible_hostname"], "web1");
        assert_eq!(f["ansible_domain"], "example.com");
        assert_eq!(facts("web1", "web1")["ansible_domain"], "");
    }

    #[test]
    fn seen_prefers_hostnamectl_for_systemd() {
        let mut r = Replies::default();
        r.insert("strategy", "systemd\n", 0);
        r.insert("current", "a\n", 0);
        r.insert("static", "b\n", 0);
        r.insert("etc_hostname", "c\n", 0);
        let a = HostnameArgs::parse(args(json!({"name": "a"}))).unwrap();
        let s = seen(&a, &r);
        assert_eq!(
            (s.strategy, s.current.as_str(), s.permanent.as_str()),
            (Strategy::Systemd, "a", "b")
        );
    }

    #[tokio::test]
    async fn check_mode_reports_facts_and_changes_nothing() {
        // Asking for the machine's current name in check mode is safe and must be a no-op
        // unless the permanent name differs.
        let d = tempfile::tempdir().unwrap();
        let env = crate::testutil::TestEnv::new(d.path());
        let cur = std::process::Command::new("hostname")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if cur.is_empty() {
            return;
        }
        let r = Planned(HostnameModule)
            .run(
                &crate::testutil::ctx(&env, true, true),
                args(json!({"name": cur})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ansible_facts"]["ansible_nodename"], json!(cur));
        let r2 = Planned(HostnameModule)
            .run(
                &crate::testutil::ctx(&env, true, true),
                args(json!({"name": "kplay-never-applied"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r2["changed"], json!(true));
        assert_eq!(
            r2["diff"]["after"],
            json!("hostname = kplay-never-applied\n")
        );
        let now = std::process::Command::new("hostname")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        assert_eq!(now, cur);
    }
}
