//! `apt`: Debian packages through `dpkg-query`, `apt-cache` and `apt-get` on the host.
//!
//! One read round trip (refreshing the cache first when `update_cache`/`cache_valid_time` ask
//! for it, then `dpkg-query` and `apt-cache policy` for every named package and `dpkg-deb` for a
//! `deb`), then at most one change round trip (`apt-get install`/`remove`/…). Whether anything
//! must change is decided from the read, so a second run reports `changed: false` and check mode
//! reports the same plan without running apt-get.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::common::upload;
use crate::planned::{Plan, QueryPlanApply};
use crate::wait_for_connection::seconds;
use async_trait::async_trait;
use kplay_engine::module::{FileKind, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

const PARAMS: &[Param] = &[
    p("name", &["package", "pkg"])
        .list()
        .doc("Package names, optionally `=VERSION` or `=VERSION*` (a list or comma-separated)."),
    p("state", &[])
        .choices(STATES)
        .default_str("present")
        .doc("`present`, `absent`, `latest`, `build-dep` or `fixed`."),
    p("update_cache", &["update-cache"])
        .flag(false)
        .doc("Run `apt-get update` first."),
    p("update_cache_retries", &[]).doc("Attempts at `apt-get update`."),
    p("update_cache_retry_max_delay", &[]).doc("Longest wait between `apt-get update` attempts."),
    p("cache_valid_time", &[])
        .doc("Skip `update_cache` when the cache is younger than this many seconds."),
    p("purge", &[])
        .flag(false)
        .doc("Also remove configuration files (state=absent)."),
    p("default_release", &["default-release"])
        .doc("Target release (`-t`), e.g. `bookworm-backports`."),
    p("install_recommends", &["install-recommends"])
        .bool()
        .doc("Install recommended packages (unset: apt's configuration decides)."),
    p("force", &[])
        .flag(false)
        .doc("Allow unauthenticated packages, downgrades and removals (`--force-yes`)."),
    p("clean", &[]).flag(false).doc("Run `apt-get clean`."),
    p("upgrade", &[]).doc("`yes`/`safe`, `full`, `dist` or `no`."),
    p("dpkg_options", &[])
        .doc("Comma-separated dpkg options (default `force-confdef,force-confold`)."),
    p("deb", &[]).doc("Path or URL of a .deb to install."),
    p("autoremove", &[])
        .flag(false)
        .doc("Remove packages no longer needed."),
    p("autoclean", &[])
        .flag(false)
        .doc("Remove package files that can no longer be downloaded."),
    p("policy_rc_d", &[])
        .doc("Exit code of a temporary policy-rc.d (101 keeps services from starting)."),
    p("only_upgrade", &[])
        .flag(false)
        .doc("Only upgrade packages that are already installed."),
    p("fail_on_autoremove", &[]).doc("Fail instead of removing packages apt wants to remove."),
    p("force_apt_get", &[]).doc("Use apt-get (kplay always does)."),
    p("lock_timeout", &[]).doc("Seconds to wait for the dpkg lock."),
    p("allow_unauthenticated", &["allow-unauthenticated"])
        .flag(false)
        .doc("Allow packages that cannot be authenticated."),
    p(
        "allow_downgrade",
        &["allow-downgrade", "allow_downgrades", "allow-downgrades"],
    )
    .flag(false)
    .doc("Allow installing an older version than the installed one."),
    p("allow_change_held_packages", &[])
        .flag(false)
        .doc("Allow changing held packages."),
];

/// `apt`'s declared arguments.
pub static SPEC: Spec = Spec::new("apt", "Manages apt-packages", &[PARAMS])
    .mutually_exclusive(&[&["deb", "name"], &["deb", "upgrade"]]);

const STATES: &[&str] = &["absent", "build-dep", "latest", "present", "fixed"];

/// `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageState {
    Present,
    Absent,
    /// Installed at the candidate version.
    Latest,
    /// The build dependencies of the named packages (opaque: apt decides).
    BuildDep,
    /// `apt-get -f install` (opaque).
    Fixed,
}

/// A requested package: `name`, `name=version` (version may end in `*`) or `name>=version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgSpec {
    pub name: String,
    pub version: VersionReq,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionReq {
    Any,
    /// `=version`; a trailing `*` matches any suffix, as Ansible's fnmatch does.
    Exact(String),
    AtLeast(String),
}

impl PkgSpec {
    pub fn parse(s: &str) -> PkgSpec {
        let s = s.trim();
        if let Some((n, v)) = s.split_once(">=") {
            return PkgSpec {
                name: n.trim().into(),
                version: VersionReq::AtLeast(v.trim().into()),
            };
        }
        match s.split_once('=') {
            Some((n, v)) => PkgSpec {
                name: n.trim().into(),
                version: VersionReq::Exact(v.trim().into()),
            },
            None => PkgSpec {
                name: s.into(),
                version: VersionReq::Any,
            },
        }
    }

    /// The package name without an `:arch` qualifier, as `dpkg-query ${Package}` prints it.
    pub fn base_name(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }

    /// The word handed to apt-get (`name=version`; `>=` installs the candidate).
    pub fn apt_word(&self) -> String {
        match &self.version {
            VersionReq::Exact(v) => format!("{}={v}", self.name),
            _ => self.name.clone(),
        }
    }

    /// Whether an installed version satisfies the request.
    pub fn satisfied_by(&self, installed: &str) -> bool {
        match &self.version {
            VersionReq::Any => true,
            VersionReq::Exact(v) => match v.strip_suffix('*') {
                Some(prefix) => installed.starts_with(prefix),
                None => installed == v,
            },
            VersionReq::AtLeast(v) => compare_versions(installed, v) != Ordering::Less,
        }
    }
}

/// Debian version ordering (epoch, upstream, revision; `~` sorts before everything), as
/// Debian Policy §5.6.12 defines it.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rfind('-') {
            Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
            None => (epoch, rest, ""),
        }
    }
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    fn part(mut a: &[u8], mut b: &[u8]) -> Ordering {
        while !a.is_empty() || !b.is_empty() {
            // Non-digit prefix, compared with the modified ASCII order.
            loop {
                let ca = a.first().copied().filter(|c| !c.is_ascii_digit());
                let cb = b.first().copied().filter(|c| !c.is_ascii_digit());
                if ca.is_none() && cb.is_none() {
                    break;
                }
                let o = order(ca).cmp(&order(cb));
                if o != Ordering::Equal {
                    return o;
                }
                a = &a[1..];
                b = &b[1..];
            }
            let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let na = std::str::from_utf8(&a[..da])
                .ok()
                .and_then(|s| s.trim_start_matches('0').parse::<u128>().ok())
                .unwrap_or(0);
            let nb = std::str::from_utf8(&b[..db])
                .ok()
                .and_then(|s| s.trim_start_matches('0').parse::<u128>().ok())
                .unwrap_or(0);
            let o = na.cmp(&nb);
            if o != Ordering::Equal {
                return o;
            }
            a = &a[da..];
            b = &b[db..];
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| part(ra.as_bytes(), rb.as_bytes()))
}

/// What dpkg knows of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgEntry {
    /// `${Status}`: `install ok installed`, `deinstall ok config-files` …
    pub status: String,
    pub version: String,
}

impl DpkgEntry {
    pub fn installed(&self) -> bool {
        self.status.ends_with(" installed")
    }
    /// Removed but its configuration files are still there (`purge` removes them).
    pub fn config_files(&self) -> bool {
        self.status.ends_with(" config-files")
    }
}

/// The read round trip's reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AptState {
    pub dpkg: HashMap<String, DpkgEntry>,
    /// `apt-cache policy` candidates (`None` for `(none)`).
    pub candidates: HashMap<String, Option<String>>,
    pub now: i64,
    pub cache_mtime: i64,
    /// Exit code of the `apt-get update` run in the read, if one ran.
    pub update_rc: Option<i32>,
    /// `dpkg-deb -f` Package and Version of the `deb`.
    pub deb: Option<(String, String)>,
}

/// Parse the reply: `Q\tname\tstatus\tversion`, `T now mtime`, `U rc`, `D name\tversion`,
/// and the `apt-cache policy` text between `POLICY` and `END`.
pub fn parse_state(out: &str) -> AptState {
    let mut st = AptState::default();
    let mut in_policy = false;
    let mut current: Option<String> = None;
    for line in out.lines() {
        if in_policy {
            if line == "END" {
                in_policy = false;
            } else if !line.starts_with(' ') && line.ends_with(':') {
                let n = line.trim_end_matches(':').to_string();
                st.candidates.entry(n.clone()).or_insert(None);
                current = Some(n);
            } else if let (Some(n), Some(c)) = (&current, line.trim().strip_prefix("Candidate:")) {
                let c = c.trim();
                st.candidates
                    .insert(n.clone(), (c != "(none)").then(|| c.to_string()));
            }
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["Q", name, status, version] => {
                st.dpkg.insert(
                    name.to_string(),
                    DpkgEntry {
                        status: status.to_string(),
                        version: version.to_string(),
                    },
                );
            }
            ["D", name, version] => st.deb = Some((name.to_string(), version.to_string())),
            _ if line == "POLICY" => in_policy = true,
            _ => {
                let w: Vec<&str> = line.split_whitespace().collect();
                match w.as_slice() {
                    ["T", now, mt] => {
                        st.now = now.parse().unwrap_or(0);
                        st.cache_mtime = mt.parse().unwrap_or(0);
                    }
                    ["U", rc] => st.update_rc = rc.parse().ok(),
                    _ => {}
                }
            }
        }
    }
    st
}

/// Checked `apt` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct AptArgs {
    pub packages: Vec<PkgSpec>,
    pub state: PackageState,
    pub update_cache: bool,
    pub cache_valid_time: u64,
    pub purge: bool,
    pub default_release: Option<String>,
    pub install_recommends: Option<bool>,
    pub force: bool,
    pub allow_unauthenticated: bool,
    pub allow_downgrade: bool,
    pub allow_change_held_packages: bool,
    pub only_upgrade: bool,
    pub autoremove: bool,
    pub autoclean: bool,
    pub clean: bool,
    pub upgrade: Option<String>,
    pub dpkg_options: String,
    pub deb: Option<String>,
}

impl AptArgs {
    pub fn parse(args: Map) -> Result<AptArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = match a.choice("state", STATES)?.as_deref() {
            Some("absent") => PackageState::Absent,
            Some("build-dep") => PackageState::BuildDep,
            Some("latest") => PackageState::Latest,
            Some("fixed") => PackageState::Fixed,
            _ => PackageState::Present,
        };
        let upgrade = match a.raw("upgrade") {
            None => None,
            Some(v) => match kplay_engine::value::ansible_bool(v) {
                Some(false) => None,
                Some(true) => Some("yes".to_string()),
                None => a
                    .choice("upgrade", &["dist", "full", "no", "safe", "yes"])?
                    .filter(|u| u != "no"),
            },
        };
        let install_recommends = match a.has("install_recommends") {
            true => Some(a.flag("install_recommends")),
            false => None,
        };
        let cache_valid_time = seconds(&a, "cache_valid_time", 0.0)? as u64;
        for b in ["policy_rc_d", "fail_on_autoremove", "force_apt_get"] {
            if b != "policy_rc_d" {
                a.bool(b, false)?;
            }
        }
        Ok(AptArgs {
            packages: a.list("name").iter().map(|n| PkgSpec::parse(n)).collect(),
            state,
            // Since Ansible 2.4 an explicit cache_valid_time implies update_cache.
            update_cache: a.flag("update_cache") || a.has("cache_valid_time"),
            cache_valid_time,
            purge: a.flag("purge"),
            default_release: a.str("default_release")?,
            install_recommends,
            force: a.flag("force"),
            allow_unauthenticated: a.flag("allow_unauthenticated"),
            allow_downgrade: a.flag("allow_downgrade"),
            allow_change_held_packages: a.flag("allow_change_held_packages"),
            only_upgrade: a.flag("only_upgrade"),
            autoremove: a.flag("autoremove"),
            autoclean: a.flag("autoclean"),
            clean: a.flag("clean"),
            upgrade,
            dpkg_options: a
                .str("dpkg_options")?
                .unwrap_or_else(|| "force-confdef,force-confold".into()),
            deb: a.str("deb")?,
        })
    }

    /// Options every apt-get call of this task gets.
    fn common_opts(&self) -> String {
        let mut o = String::from("-y");
        for d in self
            .dpkg_options
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            o.push_str(&format!(
                " -o {}",
                sh_quote(&format!("Dpkg::Options::=--{d}"))
            ));
        }
        if self.force {
            o.push_str(" --allow-unauthenticated --allow-downgrades --allow-remove-essential --allow-change-held-packages");
        } else {
            if self.allow_unauthenticated {
                o.push_str(" --allow-unauthenticated");
            }
            if self.allow_downgrade {
                o.push_str(" --allow-downgrades");
            }
            if self.allow_change_held_packages {
                o.push_str(" --allow-change-held-packages");
            }
        }
        if let Some(r) = &self.default_release {
            o.push_str(&format!(" -t {}", sh_quote(r)));
        }
        o
    }

    /// `apt-get install` for `words`.
    pub fn install_cmd(&self, words: &[String]) -> String {
        let mut c = format!("apt-get {}", self.common_opts());
        match self.install_recommends {
            Some(true) => c.push_str(" -o APT::Install-Recommends=yes"),
            Some(false) => c.push_str(" -o APT::Install-Recommends=no"),
            None => {}
        }
        if self.only_upgrade {
            c.push_str(" --only-upgrade");
        }
        if self.autoremove {
            c.push_str(" --auto-remove");
        }
        apt_verb(c, "install", words)
    }

    /// `apt-get remove` (or `--purge`) for `names`.
    pub fn remove_cmd(&self, names: &[String]) -> String {
        let mut c = format!("apt-get {}", self.common_opts());
        if self.purge {
            c.push_str(" --purge");
        }
        if self.autoremove {
            c.push_str(" --auto-remove");
        }
        apt_verb(c, "remove", names)
    }

    /// `apt-get build-dep`, `apt-get -f install`, `upgrade`/`dist-upgrade`, `autoremove`.
    pub fn other_cmd(&self, verb: &str, names: &[String]) -> String {
        let mut c = format!("apt-get {}", self.common_opts());
        if verb == "autoremove" && self.purge {
            c.push_str(" --purge");
        }
        apt_verb(c, verb, names)
    }
}

/// `options` (`apt-get` and its options), then `verb` and `words` quoted for sh.
fn apt_verb(mut options: String, verb: &str, words: &[String]) -> String {
    options.push(' ');
    options.push_str(verb);
    for w in words {
        options.push(' ');
        options.push_str(&sh_quote(w));
    }
    options
}

/// sh that exports the environment every apt call needs.
const APT_ENV: &str =
    "export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C\n";

/// The read round trip: refresh the cache when it is too old (not in check mode), then report
/// times, dpkg states, apt candidates and the deb's identity.
pub fn read_script(a: &AptArgs, refresh: bool, deb_path: Option<&str>) -> String {
    let mut s = String::from(APT_ENV);
    s.push_str("kmt() { stat -c %Y /var/lib/apt/periodic/update-success-stamp 2>/dev/null || stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0; }\n");
    s.push_str("now=$(date +%s); mt=$(kmt)\n");
    if refresh {
        s.push_str(&format!(
            "if [ $((now - mt)) -gt {} ] || [ {} = 0 ]; then apt-get update -q >&2; printf 'U %s\\n' $?; now=$(date +%s); mt=$now; fi\n",
            a.cache_valid_time, a.cache_valid_time
        ));
    }
    s.push_str("printf 'T %s %s\\n' \"$now\" \"$mt\"\n");
    let mut names: Vec<String> = a
        .packages
        .iter()
        .map(|p| p.base_name().to_string())
        .collect();
    if let Some(d) = deb_path {
        let q = sh_quote(d);
        s.push_str(&format!(
            "[ -f {q} ] && dpkg-deb -f {q} Package Version | {{ read -r n; read -r v; printf 'D\\t%s\\t%s\\n' \"${{n#Package: }}\" \"${{v#Version: }}\"; }}\n\
             kdn=$(dpkg-deb -f {q} Package 2>/dev/null)\n[ -n \"$kdn\" ] && dpkg-query -W -f='Q\\t${{Package}}\\t${{Status}}\\t${{Version}}\\n' \"$kdn\" 2>/dev/null\n"
        ));
    }
    names.dedup();
    if !names.is_empty() {
        let words: Vec<String> = names.iter().map(|n| sh_quote(n)).collect();
        s.push_str(&format!(
            "dpkg-query -W -f='Q\\t${{Package}}\\t${{Status}}\\t${{Version}}\\n' {} 2>/dev/null\n",
            words.join(" ")
        ));
        s.push_str(&format!(
            "echo POLICY; apt-cache policy {} 2>/dev/null; echo END\n",
            words.join(" ")
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// What the run will do, decided from the read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub install: Vec<String>,
    pub remove: Vec<String>,
    /// Commands whose effect cannot be known beforehand (upgrade, build-dep …): changed is
    /// decided from apt-get's summary line.
    pub opaque: Vec<String>,
    pub missing: Vec<String>,
}

/// Decide installs/removals for the named packages from the dpkg/apt state.
pub fn decide(a: &AptArgs, st: &AptState) -> Decision {
    let mut p = Decision::default();
    for spec in &a.packages {
        let entry = st.dpkg.get(spec.base_name());
        let installed = entry.filter(|e| e.installed());
        match a.state {
            PackageState::Absent => {
                let present =
                    installed.is_some() || (a.purge && entry.is_some_and(|e| e.config_files()));
                if present && spec.version == VersionReq::Any
                    || installed.is_some_and(|e| spec.satisfied_by(&e.version))
                {
                    p.remove.push(spec.name.clone());
                }
            }
            PackageState::Present | PackageState::Latest => {
                let candidate = st.candidates.get(spec.base_name()).cloned().flatten();
                let needs = match installed {
                    None => true,
                    Some(e) if !spec.satisfied_by(&e.version) => true,
                    Some(e) => {
                        a.state == PackageState::Latest
                            && spec.version == VersionReq::Any
                            && candidate.as_deref().is_some_and(|c| c != e.version)
                    }
                };
                if needs {
                    if installed.is_none() && candidate.is_none() && !spec.name.contains('*') {
                        p.missing.push(spec.name.clone());
                    } else if !(a.only_upgrade && installed.is_none()) {
                        p.install.push(spec.apt_word());
                    }
                }
            }
            _ => {}
        }
    }
    match a.state {
        PackageState::BuildDep if !a.packages.is_empty() => {
            let names: Vec<String> = a.packages.iter().map(|s| s.name.clone()).collect();
            p.opaque.push(a.other_cmd("build-dep", &names));
        }
        PackageState::Fixed => p
            .opaque
            .push(format!("{} -f install", a.other_cmd("", &[]).trim_end())),
        _ => {}
    }
    if let Some(u) = &a.upgrade {
        let verb = if u == "dist" || u == "full" {
            "dist-upgrade"
        } else {
            "upgrade"
        };
        p.opaque.push(a.other_cmd(verb, &[]));
    }
    if a.autoremove && a.packages.is_empty() && a.deb.is_none() {
        p.opaque.push(a.other_cmd("autoremove", &[]));
    }
    p
}

/// Whether apt-get's summary (`N upgraded, M newly installed, K to remove …`) reports work.
pub fn summary_changed(stdout: &str) -> bool {
    let re = regex::Regex::new(
        r"(\d+) upgraded, (\d+) newly installed(?:, (\d+) downgraded)?, (\d+) to remove",
    )
    .ok();
    let Some(re) = re else { return true };
    match re.captures_iter(stdout).last() {
        Some(c) => (1..=4).any(|i| {
            c.get(i)
                .and_then(|m| m.as_str().parse::<u64>().ok())
                .unwrap_or(0)
                > 0
        }),
        None => false,
    }
}

pub struct AptModule;

/// Upload a controller `.deb` into a private directory on the host (see [`upload`]).
async fn upload_deb(
    ctx: &ModuleContext<'_>,
    deb: &str,
) -> Result<Option<upload::Upload>, ModuleError> {
    let Some(local) = ctx.env.find_file(FileKind::Files, deb) else {
        return Ok(None);
    };
    let mut name = crate::common::basename(deb);
    if !name.ends_with(".deb") {
        name.push_str(".deb");
    }
    upload::upload(ctx, &local, &name).await.map(Some)
}

/// What `query` found (and did: the cache refresh, the upload of a controller `.deb`).
#[derive(Debug, Default)]
pub struct Seen {
    pub state: AptState,
    /// The cache was refreshed (or, in check mode, would be).
    pub cache_updated: bool,
    /// The `.deb` to install, as the host sees it.
    pub deb_path: Option<String>,
    /// A controller `.deb` uploaded for the read (removed by `finish`).
    pub uploaded: Option<upload::Upload>,
    /// Check mode only: `apt-get --simulate` of the opaque commands reports work.
    pub simulated_change: bool,
}

/// What `apply` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub cmds: Vec<String>,
    /// Installs or removals: `changed` is known; otherwise apt-get's summary decides it.
    pub known_change: bool,
}

#[async_trait]
impl QueryPlanApply for AptModule {
    type Args = AptArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "apt"
    }

    fn parse(&self, args: Map) -> Result<AptArgs, ModuleError> {
        AptArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &AptArgs) -> Result<Seen, ModuleError> {
        let refresh = a.update_cache && !ctx.check_mode;
        let mut seen = Seen {
            deb_path: a.deb.clone(),
            ..Default::default()
        };
        if let Some(d) = &a.deb {
            if d.contains("://") {
                return Err(ModuleError::new("deb URLs are not supported by kplay's apt; download the file with get_url first"));
            }
        }
        let out = run_sh(ctx, read_script(a, refresh, seen.deb_path.as_deref()), None).await?;
        seen.state = parse_state(&out.stdout_str());
        if let (Some(d), None) = (&a.deb, &seen.state.deb) {
            // Not on the host: a controller file, sent to a temp path and read again.
            let Some(up) = upload_deb(ctx, d).await? else {
                return Err(ModuleError::new(format!(
                    "Unable to install package: {d} does not exist"
                )));
            };
            seen.deb_path = Some(up.path.clone());
            seen.uploaded = Some(up);
            let again = run_sh(ctx, read_script(a, false, seen.deb_path.as_deref()), None).await;
            let again = match again {
                Ok(out) => parse_state(&out.stdout_str()),
                Err(e) => {
                    self.finish(ctx, &seen).await;
                    return Err(e);
                }
            };
            seen.state.deb = again.deb;
            seen.state.dpkg.extend(again.dpkg);
        }
        let st = &seen.state;
        seen.cache_updated = st.update_rc == Some(0)
            || (ctx.check_mode
                && a.update_cache
                && (a.cache_valid_time == 0
                    || st.now - st.cache_mtime > a.cache_valid_time as i64));
        let opaque = decide(a, st).opaque;
        if ctx.check_mode && !opaque.is_empty() {
            // Ask apt what it would do: --simulate changes nothing.
            let sim: Vec<String> = opaque
                .iter()
                .map(|c| c.replacen("apt-get -y", "apt-get -y --simulate", 1))
                .collect();
            let out = run_sh(ctx, format!("{APT_ENV}{}", sim.join("\n")), None).await;
            match out {
                Ok(out) => seen.simulated_change = summary_changed(&out.stdout_str()),
                Err(e) => {
                    self.finish(ctx, &seen).await;
                    return Err(e);
                }
            }
        }
        Ok(seen)
    }

    fn plan(a: &AptArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let st = &seen.state;
        if let Some(rc) = st.update_rc.filter(|rc| *rc != 0) {
            return Err(ModuleError::new(format!(
                "Failed to update apt cache: apt-get update exited with {rc}"
            )));
        }
        let mut plan = decide(a, st);
        if let Some(m) = plan.missing.first() {
            return Err(ModuleError::new(format!(
                "No package matching '{m}' is available"
            )));
        }
        if let (Some(path), Some(deb_in)) = (seen.deb_path.as_deref(), a.deb.as_ref()) {
            let (name, version) = st.deb.clone().ok_or_else(|| {
                ModuleError::new(format!(
                    "Unable to install package: {deb_in} is not a Debian package"
                ))
            })?;
            let have = st
                .dpkg
                .get(&name)
                .filter(|e| e.installed())
                .map(|e| e.version.clone());
            if a.force || have.as_deref() != Some(version.as_str()) {
                let abs = if path.starts_with('/') {
                    path.to_string()
                } else {
                    format!("./{path}")
                };
                plan.install.push(abs);
            }
        }
        let mut cmds = Vec::new();
        if !plan.install.is_empty() {
            cmds.push(a.install_cmd(&plan.install));
        }
        if !plan.remove.is_empty() {
            cmds.push(a.remove_cmd(&plan.remove));
        }
        let known_change = !plan.install.is_empty() || !plan.remove.is_empty();
        cmds.extend(plan.opaque.iter().cloned());
        if a.autoclean {
            cmds.push(a.other_cmd("autoclean", &[]));
        }
        if a.clean {
            cmds.push("apt-get clean".into());
        }
        let nothing_else = a.packages.is_empty() && a.deb.is_none() && plan.opaque.is_empty();
        let changed = known_change
            || (nothing_else && seen.cache_updated)
            || (!plan.opaque.is_empty() && seen.simulated_change);
        let mut r = ModuleResult::new(changed)
            .set("cache_updated", seen.cache_updated)
            .set("cache_update_time", st.cache_mtime);
        if known_change {
            let mut prepared = String::new();
            if !plan.install.is_empty() {
                prepared.push_str(&format!("Install: {}\n", plan.install.join(" ")));
            }
            if !plan.remove.is_empty() {
                let verb = if a.purge { "Purge" } else { "Remove" };
                prepared.push_str(&format!("{verb}: {}\n", plan.remove.join(" ")));
            }
            let mut d = Map::new();
            d.insert("prepared".into(), Value::String(prepared));
            r.insert("diff", Value::Object(d));
        }
        let changes = (!cmds.is_empty()).then_some(Changes { cmds, known_change });
        Ok(Plan { changes, result: r })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &AptArgs,
        c: Changes,
        mut r: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let script = format!("{APT_ENV}set -e\n{}\n", c.cmds.join("\n"));
        let out = run_sh(ctx, script, None).await?;
        let stdout = out.stdout_str();
        let stderr = out.stderr_str();
        r.insert("stdout", stdout.as_str());
        r.insert("stderr", stderr.as_str());
        if out.rc != 0 {
            r.insert("rc", out.rc);
            let msg = format!("'{}' failed: {}", c.cmds.join("; "), stderr.trim());
            return Err(ModuleError::with_result(msg, r.into_map()));
        }
        if !c.known_change && summary_changed(&stdout) {
            r.insert("changed", true);
        }
        Ok(r)
    }

    async fn finish(&self, ctx: &ModuleContext<'_>, seen: &Seen) {
        if let Some(up) = &seen.uploaded {
            upload::remove(ctx, up).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::args;
    use serde_json::json;

    #[test]
    fn apt_verb_quotes_each_word_after_the_verb() {
        let words = ["a b".to_string(), "c".to_string()];
        assert_eq!(apt_verb("apt-get -y".into(), "install", &words), "apt-get -y install 'a b' c");
        assert_eq!(apt_verb("apt-get".into(), "autoremove", &[]), "apt-get autoremove");
    }

    fn parse(v: serde_json::Value) -> AptArgs {
        AptArgs::parse(args(v)).unwrap()
    }

    fn state(lines: &str) -> AptState {
        parse_state(lines)
    }

    #[test]
    fn names_come_from_lists_or_comma_strings() {
        assert_eq!(parse(json!({"name": "a, b,c"})).packages.len(), 3);
        let a = parse(json!({"name": ["a", "b=1.0"]}));
        assert_eq!(a.packages[1].base_name(), "b");
    }

    #[test]
    fn package_specs_parse_exact_and_minimum_versions() {
        assert_eq!(
            PkgSpec::parse("nginx=1.18*").version,
            VersionReq::Exact("1.18*".into())
        );
        assert_eq!(
            PkgSpec::parse("nginx>=1.2").version,
            VersionReq::AtLeast("1.2".into())
        );
        assert_eq!(PkgSpec::parse("libc6:amd64").base_name(), "libc6");
        assert!(PkgSpec::parse("x=1.18*").satisfied_by("1.18.0-6"));
        assert!(!PkgSpec::parse("x=1.18").satisfied_by("1.18.0-6"));
        assert!(PkgSpec::parse("x>=1.2").satisfied_by("1.10-1"));
    }

    #[test]
    fn debian_versions_order_epochs_tildes_and_numbers() {
        assert_eq!(compare_versions("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare_versions("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0-1", "1.0-1"), Ordering::Equal);
        assert_eq!(compare_versions("1.0a", "1.0+"), Ordering::Less);
    }

    #[test]
    fn dpkg_query_and_policy_output_are_parsed() {
        let st = state("T 100 40\nQ\tcurl\tinstall ok installed\t7.88.1-10\nQ\tvim\tdeinstall ok config-files\t2:9.0\nPOLICY\ncurl:\n  Installed: 7.88.1-10\n  Candidate: 7.88.1-11\nnope:\n  Installed: (none)\n  Candidate: (none)\nEND\n");
        assert!(st.dpkg["curl"].installed());
        assert!(st.dpkg["vim"].config_files() && !st.dpkg["vim"].installed());
        assert_eq!(st.candidates["curl"].as_deref(), Some("7.88.1-11"));
        assert_eq!(st.candidates["nope"], None);
        assert_eq!((st.now, st.cache_mtime), (100, 40));
    }

    #[test]
    fn present_installs_only_missing_packages() {
        let a = parse(json!({"name": ["curl", "jq"]}));
        let st = state("Q\tcurl\tinstall ok installed\t1\nPOLICY\ncurl:\n  Candidate: 2\njq:\n  Candidate: 1.6\nEND\n");
        let p = decide(&a, &st);
        assert_eq!(p.install, vec!["jq"]);
        assert!(p.remove.is_empty());
    }

    fn seen(lines: &str) -> Seen {
        Seen {
            state: state(lines),
            ..Default::default()
        }
    }

    #[test]
    fn plan_installs_missing_packages_with_a_prepared_diff() {
        let a = parse(json!({"name": ["curl", "jq"], "state": "present"}));
        assert_eq!(a.state, PackageState::Present);
        let p = AptModule::plan(&a, &seen("Q\tcurl\tinstall ok installed\t1\nPOLICY\ncurl:\n  Candidate: 2\njq:\n  Candidate: 1.6\nEND\n")).unwrap();
        let c = p.changes.unwrap();
        assert!(
            c.known_change && c.cmds.len() == 1 && c.cmds[0].ends_with(" jq"),
            "{:?}",
            c.cmds
        );
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["diff"]["prepared"], json!("Install: jq\n"));
        assert_eq!(r["cache_updated"], json!(false));
    }

    #[test]
    fn plan_fails_for_unknown_packages_and_failed_cache_updates() {
        let a = parse(json!({"name": "nope"}));
        let e = AptModule::plan(&a, &seen("POLICY\nEND\n")).unwrap_err();
        assert_eq!(e.msg, "No package matching 'nope' is available");
        let e = AptModule::plan(&a, &seen("U 100\nT 5 5\n")).unwrap_err();
        assert_eq!(
            e.msg,
            "Failed to update apt cache: apt-get update exited with 100"
        );
    }

    #[test]
    fn plan_of_an_upgrade_is_changed_only_when_simulation_says_so() {
        let a = parse(json!({"upgrade": "dist"}));
        let mut s = seen("T 5 5\n");
        let p = AptModule::plan(&a, &s).unwrap();
        assert!(!p.result.changed);
        let c = p.changes.unwrap();
        assert!(
            !c.known_change && c.cmds[0].contains("dist-upgrade"),
            "{:?}",
            c.cmds
        );
        s.simulated_change = true;
        assert!(AptModule::plan(&a, &s).unwrap().result.changed);
    }

    #[test]
    fn plan_of_a_cache_update_alone_is_changed_without_commands() {
        let a = parse(json!({"update_cache": true}));
        let s = Seen {
            cache_updated: true,
            ..seen("U 0\nT 5 5\n")
        };
        let p = AptModule::plan(&a, &s).unwrap();
        assert!(p.changes.is_none() && p.result.changed);
    }

    #[test]
    fn latest_upgrades_when_candidate_differs() {
        let a = parse(json!({"name": "curl", "state": "latest"}));
        let st = state("Q\tcurl\tinstall ok installed\t1\nPOLICY\ncurl:\n  Candidate: 2\nEND\n");
        assert_eq!(decide(&a, &st).install, vec!["curl"]);
        let same = state("Q\tcurl\tinstall ok installed\t2\nPOLICY\ncurl:\n  Candidate: 2\nEND\n");
        assert!(decide(&a, &same).install.is_empty());
    }

    #[test]
    fn absent_removes_installed_and_purges_config_files() {
        let a = parse(json!({"name": "vim,curl,jq", "state": "absent"}));
        let st = state("Q\tcurl\tinstall ok installed\t1\nQ\tvim\tdeinstall ok config-files\t1\n");
        assert_eq!(decide(&a, &st).remove, vec!["curl"]);
        let a = parse(json!({"name": "vim,curl", "state": "absent", "purge": true}));
        assert_eq!(decide(&a, &st).remove, vec!["vim", "curl"]);
    }

    #[test]
    fn unknown_package_is_reported_missing() {
        let a = parse(json!({"name": "nope"}));
        let st = state("POLICY\nEND\n");
        assert_eq!(decide(&a, &st).missing, vec!["nope"]);
    }

    #[test]
    fn install_command_carries_options_and_quotes_words() {
        let a = parse(
            json!({"name": "x", "install_recommends": false, "default_release": "bookworm-backports", "allow_downgrade": true}),
        );
        assert_eq!(
            a.install_cmd(&["x=1.0 beta".into()]),
            "apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --allow-downgrades -t bookworm-backports -o APT::Install-Recommends=no install 'x=1.0 beta'"
        );
    }

    #[test]
    fn remove_command_purges_and_autoremoves() {
        let a = parse(
            json!({"name": "x", "state": "absent", "purge": "yes", "autoremove": true, "dpkg_options": "force-confnew"}),
        );
        assert_eq!(
            a.remove_cmd(&["x".into()]),
            "apt-get -y -o Dpkg::Options::=--force-confnew --purge --auto-remove remove x"
        );
    }

    #[test]
    fn cache_valid_time_implies_update_cache() {
        let a = parse(json!({"cache_valid_time": 3600}));
        assert!(a.update_cache);
        assert!(read_script(&a, true, None).contains("-gt 3600"));
    }

    #[test]
    fn upgrade_dist_plans_dist_upgrade() {
        let a = parse(json!({"upgrade": "dist"}));
        let p = decide(&a, &AptState::default());
        assert!(p.opaque[0].ends_with(" dist-upgrade"));
        assert!(AptArgs::parse(args(json!({"upgrade": "sideways"}))).is_err());
    }

    #[test]
    fn unknown_parameter_and_bad_state_are_rejected() {
        let e = AptArgs::parse(args(json!({"name": "x", "bogus": 1}))).unwrap_err();
        assert!(e
            .msg
            .starts_with("Unsupported parameters for (apt) module: bogus."));
        let e = AptArgs::parse(args(json!({"name": "x", "state": "installed"}))).unwrap_err();
        assert!(e.msg.contains("value of state must be one of"));
    }

    #[test]
    fn apt_summary_line_decides_opaque_changes() {
        assert!(!summary_changed(
            "0 upgraded, 0 newly installed, 0 to remove and 3 not upgraded.\n"
        ));
        assert!(summary_changed(
            "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        ));
    }
}
