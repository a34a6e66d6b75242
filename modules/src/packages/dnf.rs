//! `dnf` (and, through [`crate::yum`], `yum`): RPM packages. The read round trip asks `rpm -q`
//! which named packages are installed (and, for `latest`, `check-update` whether any has an
//! update); the change round trip runs one `dnf`/`yum` command and reports the package set
//! before and after, so `changed` reflects what really happened for groups and `.rpm` files too.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::planned::{Plan, Planned, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

pub(crate) const PARAMS: &[Param] = &[
    p("name", &["pkg"])
        .list()
        .doc("Package names or specs (a list or comma-separated)."),
    p("state", &[])
        .choices(&["absent", "installed", "latest", "present", "removed"])
        .doc("`present`/`installed`, `latest`, `absent`/`removed`."),
    p("list", &[]).doc("Not supported by kplay (use package_facts)."),
    p("enablerepo", &[])
        .list()
        .doc("Repositories to enable for this transaction."),
    p("disablerepo", &[])
        .list()
        .doc("Repositories to disable for this transaction."),
    p("conf_file", &[]).doc("Alternate dnf configuration file."),
    p("disable_gpg_check", &[])
        .flag(false)
        .doc("Skip GPG signature checks."),
    p("installroot", &[]).doc("Alternate installation root."),
    p("releasever", &[]).doc("Alternate release version."),
    p("autoremove", &[])
        .flag(false)
        .doc("Remove leaf packages no longer needed."),
    p("exclude", &[]).list().doc("Packages to exclude."),
    p("skip_broken", &[])
        .flag(false)
        .doc("Skip packages with broken dependencies."),
    p("update_cache", &["expire-cache"])
        .flag(false)
        .doc("Refresh the metadata cache first."),
    p("update_only", &[])
        .flag(false)
        .doc("With state=latest, only update installed packages."),
    p("security", &[])
        .flag(false)
        .doc("With state=latest, only security updates."),
    p("bugfix", &[])
        .flag(false)
        .doc("With state=latest, only bugfix updates."),
    p("enable_plugin", &[]).list().doc("Plugins to enable."),
    p("disable_plugin", &[]).list().doc("Plugins to disable."),
    p("disable_excludes", &[]).doc("Disable excludes (`all`, `main` or a repo id)."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Verify TLS certificates."),
    p("sslverify", &[])
        .flag(true)
        .doc("Verify the repositories' TLS certificates."),
    p("allow_downgrade", &[])
        .flag(false)
        .doc("Allow installing an older version."),
    p("install_repoquery", &[]).doc("Accepted (no effect)."),
    p("download_only", &[])
        .flag(false)
        .doc("Only download the packages."),
    p("download_dir", &[]).doc("Where `download_only` puts them."),
    p("lock_timeout", &[]).doc("Seconds to wait for the package lock."),
    p("cacheonly", &[]).flag(false).doc("Use only the cache."),
    p("allowerasing", &[])
        .flag(false)
        .doc("Allow removing packages to resolve conflicts."),
    p("nobest", &[])
        .flag(false)
        .doc("Do not insist on the best candidate."),
    p("best", &[])
        .flag(true)
        .doc("Insist on the best candidate."),
    p("install_weak_deps", &[])
        .flag(true)
        .doc("Install weak dependencies."),
    p("use_backend", &[])
        .choices(&["auto", "yum", "yum4", "dnf", "dnf4", "dnf5"])
        .doc("`auto`, `dnf`, `dnf4`, `dnf5` or `yum`."),
];

/// `dnf`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "dnf",
    "Manages packages with the dnf package manager",
    &[PARAMS],
);

/// `yum`'s declared arguments (kplay's `yum` is `dnf`, as on every current RPM system).
pub static YUM_SPEC: Spec = Spec::new(
    "yum",
    "Manages packages with the yum package manager",
    &[PARAMS],
);

/// Which executable runs the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpmTool {
    Dnf,
    Yum,
}

impl RpmTool {
    pub fn exe(self) -> &'static str {
        match self {
            RpmTool::Dnf => "dnf",
            RpmTool::Yum => "yum",
        }
    }
}

/// Checked `dnf`/`yum` arguments.
/// `state` (`installed`/`removed` folded into `Present`/`Absent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpmState {
    Present,
    Latest,
    Absent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RpmArgs {
    /// The module's name (`dnf`, `yum`) for messages.
    pub module: &'static str,
    pub names: Vec<String>,
    pub state: RpmState,
    pub enablerepo: Vec<String>,
    pub disablerepo: Vec<String>,
    pub exclude: Vec<String>,
    pub disable_plugin: Vec<String>,
    pub enable_plugin: Vec<String>,
    pub conf_file: Option<String>,
    pub installroot: Option<String>,
    pub releasever: Option<String>,
    pub download_dir: Option<String>,
    pub disable_excludes: Option<String>,
    pub disable_gpg_check: bool,
    pub autoremove: bool,
    pub skip_broken: bool,
    pub update_cache: bool,
    pub update_only: bool,
    pub security: bool,
    pub bugfix: bool,
    pub sslverify: bool,
    pub allow_downgrade: bool,
    pub download_only: bool,
    pub cacheonly: bool,
    pub allowerasing: bool,
    pub nobest: Option<bool>,
    pub install_weak_deps: bool,
    pub lock_timeout: u64,
    /// `use_backend` when it names a tool.
    pub backend: Option<RpmTool>,
}

impl RpmArgs {
    pub fn parse(module: &'static str, args: Map) -> Result<RpmArgs, ModuleError> {
        let spec = if module == "yum" { &YUM_SPEC } else { &SPEC };
        let a = spec.parse(args)?;
        if a.has("list") {
            return Err(ModuleError::new(format!(
                "{module}: 'list' is not supported by kplay; use the package_facts module"
            )));
        }
        let names = a.list("name");
        let state = match a.choice(
            "state",
            &["absent", "installed", "latest", "present", "removed"],
        )? {
            Some(s) if s == "installed" || s == "present" => RpmState::Present,
            Some(s) if s == "latest" => RpmState::Latest,
            Some(_) => RpmState::Absent,
            // Ansible: no state with autoremove means absent, else present.
            None if a.flag("autoremove") => RpmState::Absent,
            None => RpmState::Present,
        };
        if names.is_empty()
            && !a.flag("update_cache")
            && !(state == RpmState::Absent && a.flag("autoremove"))
        {
            return Err(ModuleError::new(
                "one of the following is required: name, list, update_cache",
            ));
        }
        let backend = match a
            .choice(
                "use_backend",
                &["auto", "yum", "yum4", "dnf", "dnf4", "dnf5"],
            )?
            .as_deref()
        {
            Some("yum") => Some(RpmTool::Yum),
            Some("dnf" | "dnf4" | "dnf5" | "yum4") => Some(RpmTool::Dnf),
            _ => None,
        };
        let best = if a.has("best") {
            Some(!a.flag("best"))
        } else {
            None
        };
        let nobest = if a.has("nobest") {
            Some(a.flag("nobest"))
        } else {
            best
        };
        let lock_timeout = crate::wait_for_connection::seconds(&a, "lock_timeout", 30.0)? as u64;
        Ok(RpmArgs {
            module,
            names,
            state,
            enablerepo: a.list("enablerepo"),
            disablerepo: a.list("disablerepo"),
            exclude: a.list("exclude"),
            disable_plugin: a.list("disable_plugin"),
            enable_plugin: a.list("enable_plugin"),
            conf_file: a.str("conf_file")?,
            installroot: a.str("installroot")?.filter(|r| r != "/"),
            releasever: a.str("releasever")?,
            download_dir: a.str("download_dir")?,
            disable_excludes: a.str("disable_excludes")?,
            disable_gpg_check: a.flag("disable_gpg_check"),
            autoremove: a.flag("autoremove"),
            skip_broken: a.flag("skip_broken"),
            update_cache: a.flag("update_cache"),
            update_only: a.flag("update_only"),
            security: a.flag("security"),
            bugfix: a.flag("bugfix"),
            sslverify: a.flag("sslverify") && a.flag("validate_certs"),
            allow_downgrade: a.flag("allow_downgrade"),
            download_only: a.flag("download_only"),
            cacheonly: a.flag("cacheonly"),
            allowerasing: a.flag("allowerasing"),
            nobest,
            install_weak_deps: a.flag("install_weak_deps"),
            lock_timeout,
            backend,
        })
    }

    /// Global options for `tool`, in a stable order.
    pub fn options(&self, tool: RpmTool) -> String {
        let mut o = String::from("-y");
        let mut push = |s: String| {
            o.push(' ');
            o.push_str(&s);
        };
        if let Some(c) = &self.conf_file {
            push(format!("-c {}", sh_quote(c)));
        }
        if self.disable_gpg_check {
            push("--nogpgcheck".into());
        }
        for r in &self.disablerepo {
            push(format!("--disablerepo={}", sh_quote(r)));
        }
        for r in &self.enablerepo {
            push(format!("--enablerepo={}", sh_quote(r)));
        }
        for e in &self.exclude {
            push(format!("--exclude={}", sh_quote(e)));
        }
        for pl in &self.disable_plugin {
            push(format!("--disableplugin={}", sh_quote(pl)));
        }
        for pl in &self.enable_plugin {
            push(format!("--enableplugin={}", sh_quote(pl)));
        }
        if let Some(d) = &self.disable_excludes {
            push(format!("--disableexcludes={}", sh_quote(d)));
        }
        if let Some(r) = &self.installroot {
            push(format!("--installroot={}", sh_quote(r)));
        }
        if let Some(r) = &self.releasever {
            push(format!("--releasever={}", sh_quote(r)));
        }
        if self.skip_broken {
            push("--skip-broken".into());
        }
        if self.security {
            push("--security".into());
        }
        if self.bugfix {
            push("--bugfix".into());
        }
        if self.cacheonly {
            push("--cacheonly".into());
        }
        if self.update_cache && tool == RpmTool::Dnf {
            push("--refresh".into());
        }
        if !self.sslverify {
            push("--setopt=sslverify=0".into());
        }
        if self.download_only {
            push("--downloadonly".into());
            if let Some(d) = &self.download_dir {
                push(format!("--downloaddir={}", sh_quote(d)));
            }
        }
        if tool == RpmTool::Dnf {
            if self.allowerasing {
                push("--allowerasing".into());
            }
            if !self.install_weak_deps {
                push("--setopt=install_weak_deps=False".into());
            }
            if let Some(nb) = self.nobest {
                push(if nb {
                    "--nobest".into()
                } else {
                    "--best".into()
                });
            }
        }
        o
    }

    /// One transaction: `verb` (`install`, `upgrade`, `remove`, `autoremove`, `makecache`).
    pub fn command(&self, tool: RpmTool, verb: &str, names: &[String]) -> String {
        let mut c = format!("{} {} {verb}", tool.exe(), self.options(tool));
        for n in names {
            c.push(' ');
            c.push_str(&sh_quote(n));
        }
        c
    }
}

/// Group (`@x`), file (`.rpm`) and URL specs: rpm cannot tell beforehand whether they are in.
fn opaque_spec(n: &str) -> bool {
    n.starts_with('@') || n.ends_with(".rpm") || n.contains("://") || n.contains('*')
}

/// The read round trip: which executable, which names `rpm -q` knows, updates available.
pub fn read_script(a: &RpmArgs, preferred: RpmTool) -> String {
    let order = match a.backend.unwrap_or(preferred) {
        RpmTool::Dnf => "dnf yum",
        RpmTool::Yum => "yum dnf",
    };
    let mut s = format!("LC_ALL=C; export LC_ALL\nfor t in {order}; do command -v $t >/dev/null 2>&1 && {{ echo \"X $t\"; break; }}; done\n");
    let root = a
        .installroot
        .as_ref()
        .map(|r| format!(" --root {}", sh_quote(r)))
        .unwrap_or_default();
    for n in a.names.iter().filter(|n| !opaque_spec(n)) {
        let q = sh_quote(n);
        s.push_str(&format!(
            "rpm -q{root} {q} >/dev/null 2>&1 && printf 'I %s\\n' {q}\n"
        ));
    }
    s
}

/// Parse the read: the tool found and the installed names.
pub fn parse_read(out: &str) -> (Option<RpmTool>, Vec<String>) {
    let mut tool = None;
    let mut installed = Vec::new();
    for l in out.lines() {
        match l.split_once(' ') {
            Some(("X", "dnf")) => tool = Some(RpmTool::Dnf),
            Some(("X", "yum")) => tool = Some(RpmTool::Yum),
            Some(("I", n)) => installed.push(n.to_string()),
            _ => {}
        }
    }
    (tool, installed)
}

/// The transaction to run, decided from what is installed; `None` when nothing is to do.
/// `maybe` is true when the outcome can only be known by running it (latest, groups, files).
pub fn transaction(a: &RpmArgs, tool: RpmTool, installed: &[String]) -> Option<(String, bool)> {
    let is_in = |n: &String| installed.contains(n);
    match a.state {
        RpmState::Absent => {
            let gone: Vec<String> = a
                .names
                .iter()
                .filter(|n| is_in(n) || opaque_spec(n))
                .cloned()
                .collect();
            if gone.is_empty() {
                return (a.autoremove && a.names.is_empty())
                    .then(|| (a.command(tool, "autoremove", &[]), true));
            }
            Some((
                a.command(tool, "remove", &gone),
                gone.iter().any(|n| opaque_spec(n)),
            ))
        }
        RpmState::Latest => {
            if a.names.iter().any(|n| n == "*") {
                return Some((a.command(tool, "upgrade", &[]), true));
            }
            let (have, missing): (Vec<String>, Vec<String>) =
                a.names.iter().cloned().partition(|n| is_in(n));
            let mut cmds = Vec::new();
            if !missing.is_empty() && !a.update_only {
                cmds.push(a.command(tool, "install", &missing));
            }
            if !have.is_empty() {
                cmds.push(a.command(tool, "upgrade", &have));
            }
            (!cmds.is_empty()).then(|| (cmds.join(" && "), true))
        }
        _ => {
            let missing: Vec<String> = a.names.iter().filter(|n| !is_in(n)).cloned().collect();
            if missing.is_empty() {
                return a
                    .update_cache
                    .then(|| (a.command(tool, "makecache", &[]), true));
            }
            Some((
                a.command(tool, "install", &missing),
                missing.iter().any(|n| opaque_spec(n)),
            ))
        }
    }
}

/// `dnf` and `yum` (the same module under two names, preferring their own executable).
pub struct RpmModule {
    pub name: &'static str,
    pub preferred: RpmTool,
}

/// `ansible.builtin.dnf` (also `dnf5`).
pub const DNF: RpmModule = RpmModule {
    name: "dnf",
    preferred: RpmTool::Dnf,
};

/// `ansible.builtin.yum`.
pub const YUM: RpmModule = RpmModule {
    name: "yum",
    preferred: RpmTool::Yum,
};

/// What `query` found: the tool the host has and the installed packages asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub tool: Option<RpmTool>,
    pub installed: Vec<String>,
}

/// The transaction to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub cmd: String,
    /// A latest/group/file transaction may do nothing: the package set before and after
    /// decides `changed`.
    pub maybe: bool,
}

/// Run the whole module as `module` preferring `preferred` (`package` on RPM hosts).
pub async fn run_rpm(
    ctx: &ModuleContext<'_>,
    module: &'static str,
    preferred: RpmTool,
    args: Map,
) -> Result<ModuleResult, ModuleError> {
    Planned(RpmModule {
        name: module,
        preferred,
    })
    .run(ctx, args)
    .await
}

#[async_trait]
impl QueryPlanApply for RpmModule {
    type Args = RpmArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        self.name
    }

    fn aliases(&self) -> &'static [&'static str] {
        if self.name == "dnf" {
            &["dnf5"]
        } else {
            &[]
        }
    }

    fn parse(&self, args: Map) -> Result<RpmArgs, ModuleError> {
        RpmArgs::parse(self.name, args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &RpmArgs) -> Result<Seen, ModuleError> {
        let out = run_sh(ctx, read_script(a, self.preferred), None).await?;
        let (tool, installed) = parse_read(&out.stdout_str());
        Ok(Seen { tool, installed })
    }

    fn plan(a: &RpmArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let tool = seen.tool.ok_or_else(|| {
            ModuleError::new(format!(
                "{}: neither dnf nor yum is installed on the host",
                a.module
            ))
        })?;
        Ok(match transaction(a, tool, &seen.installed) {
            None => Plan::nothing(
                ModuleResult::new(false)
                    .set("msg", "Nothing to do")
                    .set("results", Value::Array(vec![])),
            ),
            // What check mode reports; `apply` reports the transaction's own output instead.
            Some((cmd, maybe)) => {
                let r = ModuleResult::new(true)
                    .set("msg", format!("Check mode: would run {cmd}"))
                    .set("results", Value::Array(vec![]));
                Plan::change(Changes { cmd, maybe }, r)
            }
        })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &RpmArgs,
        c: Changes,
        _check_mode_result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let cmd = c.cmd;
        // The package set before and after tells whether a latest/group/file transaction did anything.
        let script = format!(
            "LC_ALL=C; export LC_ALL\nb=$(rpm -qa | sort | cksum)\n{cmd}\nrc=$?\na=$(rpm -qa | sort | cksum)\n[ \"$b\" = \"$a\" ] && echo __KPLAY_RPM_SAME__ >&2\nexit $rc\n"
        );
        let out = run_sh(ctx, script, None).await?;
        let stderr = out.stderr_str();
        let same = stderr.contains("__KPLAY_RPM_SAME__");
        let stderr = stderr.replace("__KPLAY_RPM_SAME__\n", "");
        let stdout = out.stdout_str();
        let changed = if c.maybe { !same } else { true };
        let r = ModuleResult::new(changed && out.rc == 0)
            .set("rc", out.rc)
            .set(
                "msg",
                if out.rc == 0 {
                    String::new()
                } else {
                    stderr.trim().to_string()
                },
            )
            .set(
                "results",
                Value::Array(
                    stdout
                        .lines()
                        .map(|l| Value::String(l.to_string()))
                        .collect(),
                ),
            )
            .set("stdout", stdout.as_str())
            .set("stderr", stderr.as_str());
        if out.rc != 0 {
            let msg = format!("'{cmd}' failed: {}", stderr.trim());
            return Err(ModuleError::with_result(msg, r.into_map()));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::args;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> RpmArgs {
        RpmArgs::parse("dnf", args(v)).unwrap()
    }

    #[test]
    fn plan_reports_nothing_to_do_or_the_transaction_check_mode_would_run() {
        let a = parse(json!({"name": ["git", "jq"]}));
        let seen = Seen {
            tool: Some(RpmTool::Dnf),
            installed: vec!["git".into()],
        };
        let p = RpmModule::plan(&a, &seen).unwrap();
        let c = p.changes.unwrap();
        assert!(c.cmd.ends_with("install jq") && !c.maybe, "{}", c.cmd);
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["msg"], json!(format!("Check mode: would run {}", c.cmd)));
        let all = Seen {
            installed: vec!["git".into(), "jq".into()],
            ..seen
        };
        let p = RpmModule::plan(&a, &all).unwrap();
        assert!(p.changes.is_none());
        assert_eq!(p.result.into_map()["msg"], json!("Nothing to do"));
        let none = Seen {
            tool: None,
            installed: vec![],
        };
        assert_eq!(
            RpmModule::plan(&a, &none).unwrap_err().msg,
            "dnf: neither dnf nor yum is installed on the host"
        );
    }

    #[test]
    fn installed_and_removed_are_synonyms() {
        assert_eq!(
            parse(json!({"name": "x", "state": "installed"})).state,
            RpmState::Present
        );
        assert_eq!(
            parse(json!({"name": "x", "state": "removed"})).state,
            RpmState::Absent
        );
    }

    #[test]
    fn present_installs_only_what_rpm_does_not_know() {
        let a = parse(
            json!({"name": ["httpd", "vim"], "enablerepo": "epel", "disable_gpg_check": true}),
        );
        let (cmd, maybe) = transaction(&a, RpmTool::Dnf, &["vim".into()]).unwrap();
        assert_eq!(cmd, "dnf -y --nogpgcheck --enablerepo=epel install httpd");
        assert!(!maybe);
        assert!(transaction(&a, RpmTool::Dnf, &["vim".into(), "httpd".into()]).is_none());
    }

    #[test]
    fn latest_installs_missing_and_upgrades_present() {
        let a = parse(json!({"name": "a,b", "state": "latest"}));
        let (cmd, maybe) = transaction(&a, RpmTool::Yum, &["b".into()]).unwrap();
        assert_eq!(cmd, "yum -y install a && yum -y upgrade b");
        assert!(maybe);
    }

    #[test]
    fn absent_removes_installed_and_groups() {
        let a = parse(json!({"name": ["a", "@dev", "c"], "state": "absent", "autoremove": true}));
        let (cmd, _) = transaction(&a, RpmTool::Dnf, &["a".into()]).unwrap();
        assert_eq!(cmd, "dnf -y remove a @dev");
    }

    #[test]
    fn dnf_only_options_are_left_out_for_yum() {
        let a = parse(
            json!({"name": "x", "allowerasing": true, "install_weak_deps": false, "update_cache": true, "exclude": ["k*"]}),
        );
        assert_eq!(
            a.options(RpmTool::Dnf),
            "-y --exclude='k*' --refresh --allowerasing --setopt=install_weak_deps=False"
        );
        assert_eq!(a.options(RpmTool::Yum), "-y --exclude='k*'");
    }

    #[test]
    fn read_reports_tool_and_installed_names() {
        let (tool, inst) = parse_read("X yum\nI vim\nI curl\n");
        assert_eq!(tool, Some(RpmTool::Yum));
        assert_eq!(inst, vec!["vim", "curl"]);
        let s = read_script(
            &parse(json!({"name": ["vim", "@g"], "installroot": "/mnt"})),
            RpmTool::Dnf,
        );
        assert!(s.contains("for t in dnf yum"));
        assert!(s.contains("rpm -q --root /mnt vim"));
        assert!(!s.contains("@g"));
    }

    #[test]
    fn name_or_update_cache_is_required() {
        let e = RpmArgs::parse("dnf", Map::new()).unwrap_err();
        assert_eq!(
            e.msg,
            "one of the following is required: name, list, update_cache"
        );
        assert!(RpmArgs::parse("dnf", args(json!({"name": "x", "state": "bogus"}))).is_err());
    }
}
