//! `sysctl` (ansible.posix.sysctl): keep a kernel parameter in a sysctl file and, with
//! `sysctl_set`, in the running kernel. `query`: one round trip reads the running value and the
//! file; `plan` decides with Ansible's table and computes the new file; `apply` (only when
//! something differs) sets the value, writes the file atomically and reloads it.

use crate::common::args::{p, Param, Spec};
use crate::common::diff::text_diff;
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("name", &["key"])
        .required()
        .doc("The dot-separated kernel parameter (`net.ipv4.ip_forward`)."),
    p("value", &["val"]).doc("The desired value."),
    p("state", &[])
        .choices(&["present", "absent"])
        .default_str("present")
        .doc("Whether the entry should be in `sysctl_file`."),
    p("ignoreerrors", &[])
        .flag(false)
        .doc("Ignore errors about unknown keys."),
    p("reload", &[])
        .flag(true)
        .doc("Reload the file with `sysctl -p` when it changed."),
    p("sysctl_file", &[]).doc("The file holding the setting (default /etc/sysctl.conf)."),
    p("sysctl_set", &[])
        .flag(false)
        .doc("Also set the running value and compare against it."),
];

/// `sysctl`'s declared arguments.
pub static SPEC: Spec = Spec::new("sysctl", "Manage entries in sysctl.conf", &[PARAMS]);

/// `ansible.posix.sysctl`.
pub struct SysctlModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct SysctlArgs {
    pub name: String,
    /// Normalised as Ansible does: booleans become `1`/`0`, surrounding blanks go.
    pub value: Option<String>,
    pub state: Presence,
    pub ignoreerrors: bool,
    pub reload: bool,
    pub sysctl_file: String,
    pub sysctl_set: bool,
}

impl SysctlArgs {
    pub fn parse(args: Map) -> Result<SysctlArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.str("name")?.unwrap_or_default();
        let state = Presence::from_arg(&a, "state")?;
        let value = a.str("value")?.map(|v| normalise_value(&v));
        if name.trim().is_empty() {
            return Err(ModuleError::new("name cannot be blank"));
        }
        // A newline would add lines of its own to the sysctl file.
        if name.trim().chars().any(char::is_control) {
            return Err(ModuleError::new(format!(
                "name {name:?} contains control characters"
            )));
        }
        if let Some(v) = value
            .as_deref()
            .filter(|v| v.chars().any(|c| c.is_control() && c != '\t'))
        {
            return Err(ModuleError::new(format!(
                "value {v:?} contains control characters (only tabs may separate its words)"
            )));
        }
        if state == Presence::Present {
            match &value {
                None => return Err(ModuleError::new("value cannot be None")),
                Some(v) if v.is_empty() => return Err(ModuleError::new("value cannot be blank")),
                _ => {}
            }
        }
        Ok(SysctlArgs {
            name: name.trim().to_string(),
            value,
            state,
            ignoreerrors: a.flag("ignoreerrors"),
            reload: a.flag("reload"),
            sysctl_file: a
                .str("sysctl_file")?
                .unwrap_or_else(|| "/etc/sysctl.conf".into()),
            sysctl_set: a.flag("sysctl_set"),
        })
    }
}

/// Ansible's `_parse_value`: boolean words become `1`/`0`, other strings are stripped.
pub fn normalise_value(v: &str) -> String {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "y" | "t" => "1".into(),
        "no" | "off" | "false" | "n" | "f" => "0".into(),
        _ => v.trim().to_string(),
    }
}

/// Ansible's `_values_is_equal`: equal when the blank-separated words are equal
/// (`32768\t60999` from the kernel equals `32768 60999` in a playbook).
pub fn values_equal(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn is_comment_or_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with(';')
}

/// The `key = value` pairs of a sysctl file; a later line wins, as the kernel sees it.
pub fn file_value(content: &str, name: &str) -> Option<String> {
    let mut found = None;
    for line in content.lines() {
        if is_comment_or_blank(line) {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == name {
                found = Some(v.trim().to_string());
            }
        }
    }
    found
}

/// Ansible's `fix_lines`: comments and blank lines stay, each key keeps its first line
/// (rewritten `key=value`, later duplicates dropped), `name` is set or removed, and a missing
/// `name` is appended.
pub fn fix_lines(content: &str, name: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    let mut seen: Vec<String> = Vec::new();
    for line in content.lines() {
        let Some((k, v)) = line.split_once('=').filter(|_| !is_comment_or_blank(line)) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim());
        if seen.contains(&k) {
            continue;
        }
        if k == name {
            if let Some(val) = value {
                out.push_str(&format!("{k}={val}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
        seen.push(k);
    }
    if let Some(val) = value {
        if !seen.iter().any(|k| k == name) {
            out.push_str(&format!("{name}={val}\n"));
        }
    }
    out
}

/// What Ansible's decision table says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub changed: bool,
    pub write_file: bool,
    pub set_proc: bool,
    pub reload: bool,
}

/// Ansible's decision table (file first, then the running value when reloading or setting).
pub fn decide(a: &SysctlArgs, file_val: Option<&str>, proc_val: Option<&str>) -> Decision {
    let mut p = Decision::default();
    let present = a.state == Presence::Present;
    let want = a.value.as_deref().unwrap_or("");
    match (file_val, present) {
        (None, true) | (Some(_), false) => {
            p.changed = true;
            p.write_file = true;
        }
        (None, false) => {}
        (Some(f), true) if !values_equal(f, want) => {
            p.changed = true;
            p.write_file = true;
        }
        (Some(_), true) => {
            if a.reload && !proc_val.is_some_and(|v| values_equal(v, want)) {
                p.changed = true;
            }
        }
    }
    if a.sysctl_set && present {
        match proc_val {
            None => p.changed = true,
            Some(v) if !values_equal(v, want) => {
                p.changed = true;
                p.set_proc = true;
            }
            _ => {}
        }
    }
    p.reload = p.changed && a.reload;
    p
}

/// `sysctl -w name=value` for `sysctl_set`.
pub fn set_command(name: &str, value: &str) -> String {
    format!("sysctl -w {}", sh_quote(&format!("{name}={value}")))
}

/// `sysctl -p FILE` (`-e` with `ignoreerrors`) for `reload`.
pub fn reload_command(file: &str, ignoreerrors: bool) -> String {
    let e = if ignoreerrors { "-e " } else { "" };
    format!("sysctl {e}-p {}", sh_quote(file))
}

/// What `query` found: the running value (`None`: the kernel has no such key) and the file
/// (empty when it does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub proc_val: Option<String>,
    pub content: String,
}

/// What `apply` does, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// `sysctl -w name=value`.
    pub set_proc: bool,
    /// The file's new content.
    pub write: Option<String>,
    /// `sysctl -p FILE`.
    pub reload: bool,
}

#[async_trait]
impl QueryPlanApply for SysctlModule {
    type Args = SysctlArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "sysctl"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix", "community.general"]
    }

    fn parse(&self, args: Map) -> Result<SysctlArgs, ModuleError> {
        SysctlArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &SysctlArgs) -> Result<Seen, ModuleError> {
        let file_q = sh_quote(&a.sysctl_file);
        let replies = read_all(
            ctx,
            &[
                Read::new("proc", format!("sysctl -n {}", sh_quote(&a.name))),
                Read::new(
                    "file",
                    format!("[ -e {file_q} ] || exit 3; cat -- {file_q}"),
                )
                .merged(),
            ],
        )
        .await?;
        let proc = replies.get("proc");
        let file = replies.get("file");
        let content = match file.rc {
            0 => file.out,
            3 => String::new(),
            _ => {
                return Err(ModuleError::new(format!(
                    "Failed to open {}: {}",
                    a.sysctl_file,
                    file.out.trim()
                )))
            }
        };
        Ok(Seen {
            proc_val: proc.ok().then(|| proc.out.trim().to_string()),
            content,
        })
    }

    fn plan(a: &SysctlArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let file_val = file_value(&seen.content, &a.name);
        let d = decide(a, file_val.as_deref(), seen.proc_val.as_deref());
        let mut result = ModuleResult::new(false);
        let write = d.write_file.then(|| {
            let present = a.state == Presence::Present;
            let new = fix_lines(
                &seen.content,
                &a.name,
                a.value.as_deref().filter(|_| present),
            );
            result.insert(
                "diff",
                text_diff(&a.sysctl_file, &a.sysctl_file, &seen.content, &new),
            );
            new
        });
        if !d.changed {
            return Ok(Plan::nothing(result));
        }
        let changes = Changes {
            set_proc: d.set_proc,
            write,
            reload: d.reload,
        };
        Ok(Plan::change(changes, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &SysctlArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        if c.set_proc {
            let value = a.value.as_deref().unwrap_or("");
            let out = crate::common::run_sh(ctx, set_command(&a.name, value), None).await?;
            ensure_ok(&out, |o, e| {
                format!("setting {} failed: {}", a.name, format!("{o}{e}").trim())
            })?;
        }
        if let Some(new) = &c.write {
            write_file(
                ctx,
                &WriteRequest {
                    dest: &a.sysctl_file,
                    data: new.as_bytes(),
                    ..Default::default()
                },
            )
            .await?;
        }
        if c.reload {
            let out =
                crate::common::run_sh(ctx, reload_command(&a.sysctl_file, a.ignoreerrors), None)
                    .await?;
            if !a.ignoreerrors {
                ensure_ok(&out, |o, e| {
                    format!("Failed to reload sysctl: {}", format!("{o}{e}").trim())
                })?;
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A newline in a name or value would add lines of its own to the sysctl file.
    #[test]
    fn control_characters_are_refused() {
        let bad = [
            json!({"name": "net.ipv4.ip_forward\nkernel.x", "value": "1"}),
            json!({"name": "net.ipv4.ip_forward", "value": "1\nkernel.core_pattern = |/tmp/x"}),
            json!({"name": "net.ipv4.ip_forward", "value": "1\r2"}),
        ];
        for a in bad {
            let m = match a {
                serde_json::Value::Object(m) => m,
                _ => Map::new(),
            };
            let e = SysctlArgs::parse(m)
                .err()
                .unwrap_or_else(|| panic!("accepted"));
            assert!(e.msg.contains("control characters"), "{}", e.msg);
        }
        let ok = json!({"name": "net.ipv4.ip_local_port_range", "value": "32768\t60999"});
        if let serde_json::Value::Object(m) = ok {
            assert!(SysctlArgs::parse(m).is_ok());
        }
    }
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
    use serde_json::json;

    fn sa(v: serde_json::Value) -> SysctlArgs {
        SysctlArgs::parse(args(v)).unwrap()
    }

    #[test]
    fn unknown_parameter_is_rejected() {
        let e = SysctlArgs::parse(args(json!({"name": "a", "value": 1, "foo": 1}))).unwrap_err();
        assert!(
            e.msg
                .starts_with("Unsupported parameters for (sysctl) module: foo."),
            "{}",
            e.msg
        );
    }

    #[test]
    fn free_form_is_not_accepted() {
        let e = SysctlArgs::parse(args(json!({"_raw_params": "a=1"}))).unwrap_err();
        assert!(e.msg.contains("_raw_params"));
    }

    #[test]
    fn present_needs_a_value() {
        assert_eq!(
            SysctlArgs::parse(args(json!({"name": "a"})))
                .unwrap_err()
                .msg,
            "value cannot be None"
        );
        assert_eq!(
            SysctlArgs::parse(args(json!({"name": "a", "value": " "})))
                .unwrap_err()
                .msg,
            "value cannot be blank"
        );
        assert!(SysctlArgs::parse(args(json!({"name": "a", "state": "absent"}))).is_ok());
    }

    #[test]
    fn boolean_values_become_digits() {
        assert_eq!(
            sa(json!({"key": "a", "val": "yes"})).value.as_deref(),
            Some("1")
        );
        assert_eq!(
            sa(json!({"name": "a", "value": false})).value.as_deref(),
            Some("0")
        );
        assert_eq!(
            sa(json!({"name": "a", "value": " 4096  87380 "}))
                .value
                .as_deref(),
            Some("4096  87380")
        );
    }

    #[test]
    fn values_compare_by_words() {
        assert!(values_equal("32768\t60999", "32768 60999"));
        assert!(!values_equal("1", "0"));
    }

    #[test]
    fn fix_lines_replaces_first_drops_duplicates_keeps_comments() {
        let c = "# c\n a = 1\nb=2\n\na=3\n";
        assert_eq!(fix_lines(c, "a", Some("5")), "# c\na=5\nb=2\n\n");
        assert_eq!(fix_lines(c, "a", None), "# c\nb=2\n\n");
        assert_eq!(fix_lines("", "x.y", Some("1")), "x.y=1\n");
    }

    #[test]
    fn file_value_takes_the_last_line() {
        assert_eq!(file_value("a=1\n;a=2\na = 3 \n", "a").as_deref(), Some("3"));
        assert_eq!(file_value("# a=1\n", "a"), None);
    }

    #[test]
    fn plan_reloads_when_file_matches_but_kernel_differs() {
        let a = sa(json!({"name": "a", "value": 1}));
        assert_eq!(decide(&a, Some("1"), Some("1")), Decision::default());
        let p = decide(&a, Some("1"), Some("0"));
        assert!(p.changed && p.reload && !p.write_file);
        let no_reload = sa(json!({"name": "a", "value": 1, "reload": false}));
        assert!(!decide(&no_reload, Some("1"), Some("0")).changed);
    }

    #[test]
    fn plan_sets_the_kernel_with_sysctl_set() {
        let a = sa(json!({"name": "a", "value": 1, "sysctl_set": true, "reload": false}));
        let p = decide(&a, Some("1"), Some("0"));
        assert!(p.changed && p.set_proc && !p.reload);
    }

    fn seen(proc_val: Option<&str>, content: &str) -> Seen {
        Seen {
            proc_val: proc_val.map(str::to_string),
            content: content.into(),
        }
    }

    #[test]
    fn plan_writes_the_fixed_file_with_its_diff() {
        let a = sa(json!({"name": "a.b", "value": "2", "sysctl_file": "/etc/s.conf"}));
        let p = SysctlModule::plan(&a, &seen(Some("1"), "# c\na.b = 1\nx=1\n")).unwrap();
        let c = p.changes.unwrap();
        assert_eq!(c.write.as_deref(), Some("# c\na.b=2\nx=1\n"));
        assert!(c.reload && !c.set_proc);
        let d = p.result.into_map();
        assert_eq!(d["changed"], json!(true));
        assert_eq!(d["diff"]["before"], json!("# c\na.b = 1\nx=1\n"));
        assert_eq!(d["diff"]["after"], json!("# c\na.b=2\nx=1\n"));
        assert_eq!(d["diff"]["after_header"], json!("/etc/s.conf"));
    }

    #[test]
    fn plan_is_empty_when_file_and_kernel_agree() {
        let a = sa(json!({"name": "a.b", "value": "1 2", "sysctl_set": true}));
        let p = SysctlModule::plan(&a, &seen(Some("1\t2"), "a.b = 1   2\n")).unwrap();
        assert!(p.changes.is_none() && !p.result.changed && p.result.diff.is_none());
    }

    #[test]
    fn plan_removes_an_absent_key_and_leaves_the_kernel() {
        let a = sa(json!({"name": "a.b", "state": "absent", "reload": false}));
        let p = SysctlModule::plan(&a, &seen(Some("1"), "a.b=1\nc=2\n")).unwrap();
        let c = p.changes.unwrap();
        assert_eq!(c.write.as_deref(), Some("c=2\n"));
        assert!(!c.reload && !c.set_proc);
        let gone = SysctlModule::plan(&a, &seen(Some("1"), "c=2\n")).unwrap();
        assert!(gone.changes.is_none());
    }

    #[test]
    fn plan_sets_the_kernel_without_touching_a_matching_file() {
        let a = sa(json!({"name": "a.b", "value": 1, "sysctl_set": true, "reload": false}));
        let p = SysctlModule::plan(&a, &seen(Some("0"), "a.b=1\n")).unwrap();
        let c = p.changes.unwrap();
        assert!(c.set_proc && c.write.is_none() && !c.reload);
        assert!(p.result.diff.is_none());
    }

    #[test]
    fn commands_quote_their_arguments() {
        assert_eq!(set_command("net.x", "1 2"), "sysctl -w 'net.x=1 2'");
        assert_eq!(
            reload_command("/etc/s c.conf", true),
            "sysctl -e -p '/etc/s c.conf'"
        );
    }

    async fn run(dir: &std::path::Path, check: bool, v: serde_json::Value) -> Map {
        let env = TestEnv::new(dir);
        Planned(SysctlModule)
            .run(&ctx(&env, check, true), args(v))
            .await
            .unwrap()
            .into_map()
    }

    #[tokio::test]
    async fn writes_temp_file_idempotently_and_check_mode_touches_nothing() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("99-test.conf");
        std::fs::write(&f, "# keep\nvm.swappiness = 10\n").unwrap();
        let spec = json!({"name": "kernel.kplay_test", "value": "1  2", "sysctl_file": f.to_string_lossy(), "reload": false});
        let r = run(d.path(), true, spec.clone()).await;
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            r["diff"]["after"],
            json!("# keep\nvm.swappiness=10\nkernel.kplay_test=1  2\n")
        );
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# keep\nvm.swappiness = 10\n"
        );
        let r = run(d.path(), false, spec.clone()).await;
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# keep\nvm.swappiness=10\nkernel.kplay_test=1  2\n"
        );
        let spec2 = json!({"name": "kernel.kplay_test", "value": "1 2", "sysctl_file": f.to_string_lossy(), "reload": false});
        assert_eq!(run(d.path(), false, spec2).await["changed"], json!(false));
        let absent = json!({"name": "kernel.kplay_test", "state": "absent", "sysctl_file": f.to_string_lossy(), "reload": false});
        assert_eq!(
            run(d.path(), false, absent.clone()).await["changed"],
            json!(true)
        );
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# keep\nvm.swappiness=10\n"
        );
        assert_eq!(run(d.path(), false, absent).await["changed"], json!(false));
    }
}
