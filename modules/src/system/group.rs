//! `group` (ansible.builtin.group): a local group exists with a given GID, or does not exist.
//! `query`: one round trip reads the group (`getent group`, or `/etc/group` with `local`);
//! `plan` picks `groupadd`/`groupmod`/`groupdel` when something differs; `apply` runs it.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &[]).required().doc("Name of the group."),
    p("state", &[])
        .choices(&["present", "absent"])
        .default_str("present")
        .doc("Whether the group should exist."),
    p("force", &[])
        .flag(false)
        .doc("Remove the group even when it is some user's primary group."),
    p("gid", &[]).int().doc("The group's GID."),
    p("system", &[])
        .flag(false)
        .doc("Create a system group (GID from the system range)."),
    p("local", &[])
        .flag(false)
        .doc("Use the local tools (`lgroupadd`); /etc/group only."),
    p("non_unique", &[])
        .flag(false)
        .doc("Allow a GID that another group has."),
    p("gid_min", &[]).int().doc("Lowest GID for a new group."),
    p("gid_max", &[]).int().doc("Highest GID for a new group."),
];

/// `group`'s declared arguments.
pub static SPEC: Spec = Spec::new("group", "Add or remove groups", &[PARAMS]);

/// `ansible.builtin.group`.
pub struct GroupModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupArgs {
    pub name: String,
    pub state: Presence,
    pub force: bool,
    pub gid: Option<u32>,
    pub system: bool,
    pub local: bool,
    pub non_unique: bool,
    pub gid_min: Option<u32>,
    pub gid_max: Option<u32>,
}

impl GroupArgs {
    pub fn parse(args: Map) -> Result<GroupArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let g = GroupArgs {
            name: a.str("name")?.unwrap_or_default(),
            state: Presence::from_arg(&a, "state")?,
            force: a.flag("force"),
            gid: a.u32("gid")?,
            system: a.flag("system"),
            local: a.flag("local"),
            non_unique: a.flag("non_unique"),
            gid_min: a.u32("gid_min")?,
            gid_max: a.u32("gid_max")?,
        };
        if g.non_unique && g.gid.is_none() {
            return Err(ModuleError::new(
                "missing parameter(s) required by 'non_unique': gid",
            ));
        }
        Ok(g)
    }
}

/// The group's entry: `(name, gid, members)`.
pub fn parse_group_line(line: &str) -> Option<(String, u32, Vec<String>)> {
    let f: Vec<&str> = line.trim_end().split(':').collect();
    if f.len() < 4 {
        return None;
    }
    let members = f[3]
        .split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    Some((f[0].to_string(), f[2].parse().ok()?, members))
}

/// The sh reading one group (`local` reads /etc/group only, as Ansible does).
pub fn read_script(name: &str, local: bool) -> String {
    if local {
        format!(
            "grep -E '^{}:' /etc/group",
            regex::escape(name).replace('\'', "'\\''")
        )
    } else {
        format!("getent group {}", sh_quote(name))
    }
}

/// `groupadd` for a missing group.
pub fn add_command(g: &GroupArgs) -> String {
    let mut c = vec![if g.local { "lgroupadd" } else { "groupadd" }.to_string()];
    if let Some(gid) = g.gid {
        c.push(format!("-g {gid}"));
        if g.non_unique && !g.local {
            c.push("-o".into());
        }
    }
    if g.system {
        c.push("-r".into());
    }
    if !g.local {
        if let Some(m) = g.gid_min {
            c.push(format!("-K GID_MIN={m}"));
        }
        if let Some(m) = g.gid_max {
            c.push(format!("-K GID_MAX={m}"));
        }
    }
    c.push(sh_quote(&g.name));
    c.join(" ")
}

/// `groupmod` when the GID differs, `None` when nothing does.
pub fn modify_command(g: &GroupArgs, current_gid: u32) -> Option<String> {
    let gid = g.gid.filter(|&w| w != current_gid)?;
    let cmd = if g.local { "lgroupmod" } else { "groupmod" };
    let o = if g.non_unique && !g.local { " -o" } else { "" };
    Some(format!("{cmd} -g {gid}{o} {}", sh_quote(&g.name)))
}

/// `groupdel` (with `-f` when `force`).
pub fn delete_command(g: &GroupArgs) -> String {
    let cmd = if g.local { "lgroupdel" } else { "groupdel" };
    let f = if g.force && !g.local { " -f" } else { "" };
    format!("{cmd}{f} {}", sh_quote(&g.name))
}

/// The group as `query` found it: `(name, gid, members)`, `None` when it does not exist.
pub type Seen = Option<(String, u32, Vec<String>)>;

#[async_trait]
impl QueryPlanApply for GroupModule {
    type Args = GroupArgs;
    type Seen = Seen;
    /// The `groupadd`/`groupmod`/`groupdel` command.
    type Changes = String;

    fn name(&self) -> &'static str {
        "group"
    }

    fn parse(&self, args: Map) -> Result<GroupArgs, ModuleError> {
        GroupArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, g: &GroupArgs) -> Result<Seen, ModuleError> {
        let replies = read_all(ctx, &[Read::new("group", read_script(&g.name, g.local))]).await?;
        let r = replies.get("group");
        Ok(if r.ok() {
            parse_group_line(r.out.lines().next().unwrap_or(""))
        } else {
            None
        })
    }

    fn plan(g: &GroupArgs, current: &Seen) -> Result<Plan<String>, ModuleError> {
        let present = g.state == Presence::Present;
        let cmd = match (current, present) {
            (None, true) => Some(add_command(g)),
            (Some((_, gid, _)), true) => modify_command(g, *gid),
            (Some(_), false) => Some(delete_command(g)),
            (None, false) => None,
        };
        let mut result = ModuleResult::new(false);
        result.insert("name", g.name.as_str());
        result.insert("state", g.state.as_str());
        if present {
            result.insert("system", g.system);
            let gid = g.gid.or(current.as_ref().map(|c| c.1));
            if let Some(gid) = gid {
                result.insert("gid", gid);
            }
        }
        Ok(Plan::maybe(cmd, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        g: &GroupArgs,
        cmd: String,
        mut result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        // The group is read again afterwards for the GID the system picked.
        let after = format!(
            "{cmd} >&2 || exit $?\n{} || true\n",
            read_script(&g.name, g.local)
        );
        let out = run_sh(ctx, after, None).await?;
        ensure_ok(&out, |_, e| e.trim().to_string()).map_err(|mut err| {
            err.result
                .insert("name".into(), Value::String(g.name.clone()));
            err
        })?;
        if g.state == Presence::Present {
            if let Some((_, gid, _)) =
                parse_group_line(out.stdout_str().lines().next().unwrap_or(""))
            {
                result.insert("gid", gid);
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
    use serde_json::json;

    fn ga(v: serde_json::Value) -> GroupArgs {
        GroupArgs::parse(args(v)).unwrap()
    }

    #[test]
    fn name_is_required_and_unknown_rejected() {
        assert_eq!(
            GroupArgs::parse(args(json!({}))).unwrap_err().msg,
            "missing required arguments: name"
        );
        assert!(GroupArgs::parse(args(json!({"name": "g", "members": []})))
            .unwrap_err()
            .msg
            .starts_with("Unsupported parameters for (group) module: members."));
    }

    #[test]
    fn gid_must_be_an_integer() {
        assert!(GroupArgs::parse(args(json!({"name": "g", "gid": "abc"})))
            .unwrap_err()
            .msg
            .contains("unable to convert to int"));
        assert_eq!(ga(json!({"name": "g", "gid": "1500"})).gid, Some(1500));
    }

    #[test]
    fn groupadd_carries_gid_system_and_non_unique() {
        assert_eq!(
            add_command(&ga(
                json!({"name": "web", "gid": 900, "system": true, "non_unique": true})
            )),
            "groupadd -g 900 -o -r web"
        );
        assert_eq!(add_command(&ga(json!({"name": "a b"}))), "groupadd 'a b'");
    }

    #[test]
    fn groupmod_only_when_gid_differs() {
        let g = ga(json!({"name": "web", "gid": 900}));
        assert_eq!(modify_command(&g, 900), None);
        assert_eq!(
            modify_command(&g, 901).as_deref(),
            Some("groupmod -g 900 web")
        );
        assert_eq!(modify_command(&ga(json!({"name": "web"})), 5), None);
    }

    #[test]
    fn plan_adds_a_missing_group_and_reports_the_asked_gid() {
        let p = GroupModule::plan(&ga(json!({"name": "web", "gid": 900})), &None).unwrap();
        assert_eq!(p.changes.as_deref(), Some("groupadd -g 900 web"));
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!((&r["gid"], &r["state"]), (&json!(900), &json!("present")));
        assert_eq!(r["system"], json!(false));
    }

    #[test]
    fn plan_keeps_an_existing_group_and_reports_its_gid() {
        let seen = Some(("web".to_string(), 901, vec![]));
        let p = GroupModule::plan(&ga(json!({"name": "web"})), &seen).unwrap();
        assert!(p.changes.is_none() && !p.result.changed);
        assert_eq!(p.result.into_map()["gid"], json!(901));
        let p = GroupModule::plan(&ga(json!({"name": "web", "gid": 900})), &seen).unwrap();
        assert_eq!(p.changes.as_deref(), Some("groupmod -g 900 web"));
    }

    #[test]
    fn plan_deletes_only_an_existing_group() {
        let g = ga(json!({"name": "web", "state": "absent", "force": true}));
        let seen = Some(("web".to_string(), 901, vec![]));
        let p = GroupModule::plan(&g, &seen).unwrap();
        assert_eq!(p.changes.as_deref(), Some("groupdel -f web"));
        let r = p.result.into_map();
        assert!(r.get("gid").is_none() && r["state"] == json!("absent"));
        assert!(GroupModule::plan(&g, &None).unwrap().changes.is_none());
    }

    #[test]
    fn group_line_parses_members() {
        assert_eq!(
            parse_group_line("wheel:x:10:a,b\n"),
            Some(("wheel".into(), 10, vec!["a".into(), "b".into()]))
        );
    }

    fn have_groupadd() -> bool {
        std::path::Path::new("/usr/sbin/groupadd").exists() && nix_is_root()
    }

    fn nix_is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn throwaway_group_is_created_changed_and_removed_idempotently() {
        if !have_groupadd() {
            return;
        }
        let name = format!("kpg{}", std::process::id());
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let run = |check: bool, v: serde_json::Value| {
            let env = &env;
            async move {
                Planned(GroupModule)
                    .run(&ctx(env, check, false), args(v))
                    .await
                    .unwrap()
                    .into_map()
            }
        };
        let present = json!({"name": name, "gid": 64901});
        assert_eq!(run(true, present.clone()).await["changed"], json!(true));
        assert!(std::process::Command::new("getent")
            .args(["group", &name])
            .output()
            .unwrap()
            .stdout
            .is_empty());
        let r = run(false, present.clone()).await;
        assert_eq!(
            (r["changed"].clone(), r["gid"].clone()),
            (json!(true), json!(64901))
        );
        assert_eq!(run(false, present).await["changed"], json!(false));
        let r = run(false, json!({"name": name, "gid": 64902})).await;
        assert_eq!(
            (r["changed"].clone(), r["gid"].clone()),
            (json!(true), json!(64902))
        );
        let absent = json!({"name": name, "state": "absent"});
        assert_eq!(run(true, absent.clone()).await["changed"], json!(true));
        assert_eq!(run(false, absent.clone()).await["changed"], json!(true));
        assert_eq!(run(false, absent).await["changed"], json!(false));
    }
}
