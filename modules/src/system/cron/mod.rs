//! `cron` (ansible.builtin.cron): one named entry of a user's crontab or of a file in
//! /etc/cron.d, managed with Ansible's markers (`#Ansible: NAME` above the job line) so Ansible
//! and kplay can take turns on the same crontab; `env: true` manages a `NAME="value"` line
//! instead (placed with `insertafter`/`insertbefore`, default at the top). `query` reads the
//! crontab once, `plan` edits it in memory ([`crontab`]), `apply` writes it once
//! (`crontab [-u USER] -`, or an atomic write of the cron.d file, removed when its last job
//! goes).

pub mod crontab;
#[cfg(test)]
mod tests;

use crate::common::args::{p, Args, Param, Spec};
use crate::common::reads::{ensure_ok, failure};
use crate::common::run_sh;
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use crontab::{change, Crontab, Entry, Place};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &[]).str().required().doc(
        "The entry's description (its `#Ansible:` marker), or the variable's name with `env`.",
    ),
    p("job", &["value"])
        .str()
        .doc("The command (or, with `env`, the value)."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the entry should be there."),
    p("user", &[]).str().doc(
        "Whose crontab (default: the connecting user); with `cron_file`, the user the job runs as.",
    ),
    p("cron_file", &[])
        .path()
        .doc("A file in /etc/cron.d (relative names go there) instead of a user's crontab."),
    p("minute", &[]).str().default_str("*").doc("Minute field."),
    p("hour", &[]).str().default_str("*").doc("Hour field."),
    p("day", &["dom"])
        .str()
        .default_str("*")
        .doc("Day-of-month field."),
    p("month", &[]).str().default_str("*").doc("Month field."),
    p("weekday", &["dow"])
        .str()
        .default_str("*")
        .doc("Day-of-week field."),
    p("special_time", &[])
        .choices(&[
            "annually", "daily", "hourly", "monthly", "reboot", "weekly", "yearly",
        ])
        .doc("`@reboot`, `@daily` … instead of the five fields."),
    p("disabled", &[])
        .flag(false)
        .doc("Keep the job commented out."),
    p("env", &[])
        .flag(false)
        .doc("Manage an environment variable line instead of a job."),
    p("insertafter", &[])
        .str()
        .doc("With env: put a new variable after this one."),
    p("insertbefore", &[])
        .str()
        .doc("With env: put a new variable before this one."),
    p("backup", &[])
        .flag(false)
        .doc("Keep a copy of the crontab before changing it (`backup_file`)."),
];

/// `cron`'s declared arguments.
pub static SPEC: Spec = Spec::new("cron", "Manage cron.d and crontab entries", &[PARAMS])
    .mutually_exclusive(&[&["insertafter", "insertbefore"]]);

/// The entry the task asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub present: bool,
    pub entry: Entry,
    /// Ansible's warnings about the job (line breaks).
    pub warnings: Vec<String>,
}

impl Want {
    /// The entry, with Ansible's checks in its order; `file_user` is the user a cron.d job
    /// runs as (written into its line).
    pub fn from_args(a: &Args, file_user: Option<&str>) -> Result<Want, ModuleError> {
        let name = a.required_str("name")?;
        let present = a.required_str("state")? == "present";
        let env = a.flag("env");
        let job = a.str("job")?;
        let fields = ["minute", "hour", "day", "month", "weekday"]
            .iter()
            .map(|k| a.str(k).map(|v| v.unwrap_or_else(|| "*".into())))
            .collect::<Result<Vec<_>, _>>()?;
        let special = a.str("special_time")?;
        if special.is_some() && fields.iter().any(|f| f != "*") {
            return Err(ModuleError::new(
                "You must specify time and date fields or special time.",
            ));
        }
        let (after, before) = (a.str("insertafter")?, a.str("insertbefore")?);
        if present {
            if job.is_none() {
                return Err(ModuleError::new(
                    "You must specify 'job' to install a new cron job or variable",
                ));
            }
            if (after.is_some() || before.is_some()) && !env {
                return Err(ModuleError::new(
                    "Insertafter and insertbefore parameters are valid only with env=yes",
                ));
            }
        }
        let job = job.unwrap_or_else(|| "None".into());
        let mut warnings = Vec::new();
        let entry = if env {
            if name.contains(' ') {
                return Err(ModuleError::new("Invalid name for environment variable"));
            }
            let place = match (after, before) {
                (Some(o), _) => Place::After(o),
                (None, Some(o)) => Place::Before(o),
                (None, None) => Place::Top,
            };
            let decl = format!("{name}=\"{job}\"");
            Entry::Env { name, decl, place }
        } else {
            let job = job.trim_matches(['\r', '\n']);
            if present && job.contains(['\r', '\n']) {
                warnings.push("Job should not contain line breaks".to_string());
            }
            let when = match special {
                Some(s) => format!("@{s}"),
                None => fields.join(" "),
            };
            let prefix = if a.flag("disabled") { "#" } else { "" };
            let line = match file_user {
                Some(u) => format!("{prefix}{when} {u} {job}"),
                None => format!("{prefix}{when} {job}"),
            };
            Entry::Job { name, line }
        };
        Ok(Want {
            present,
            entry,
            warnings,
        })
    }
}

/// `text` (a `crontab -l` listing) with `w` applied, as rendered.
pub fn edit(text: &str, w: &Want) -> Result<String, ModuleError> {
    let mut tab = Crontab::from_listing(text);
    change(&mut tab, &w.entry, w.present)?;
    Ok(tab.render())
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronArgs {
    pub want: Want,
    pub user: Option<String>,
    /// Absolute (a relative name is taken in /etc/cron.d).
    pub cron_file: Option<String>,
    pub backup: bool,
    pub warnings: Vec<String>,
}

impl CronArgs {
    pub fn parse(args: Map) -> Result<CronArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let user = a.str("user")?;
        let cron_file = a.str("cron_file")?.map(|f| {
            if f.starts_with('/') {
                f
            } else {
                format!("/etc/cron.d/{f}")
            }
        });
        let mut warnings = Vec::new();
        if let Some(f) = &cron_file {
            if f == "/etc/crontab" {
                return Err(ModuleError::new(
                    "Will not manage /etc/crontab via cron_file, see documentation.",
                ));
            }
            let base = crate::common::basename(f);
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if base.is_empty() || !base.chars().all(plain) {
                warnings.push(format!("Filename portion of cron_file (\"{base}\") should consist solely of upper- and lower-case letters, digits, underscores, and hyphens"));
            }
        }
        let present = a.required_str("state")? == "present";
        if present && cron_file.is_some() && user.is_none() {
            return Err(ModuleError::new(
                "To use cron_file=... parameter you must specify user=... as well",
            ));
        }
        let file_user = cron_file
            .as_ref()
            .map(|_| user.as_deref().unwrap_or("None"));
        let want = Want::from_args(&a, file_user)?;
        warnings.extend(want.warnings.iter().cloned());
        Ok(CronArgs {
            want,
            user,
            cron_file,
            backup: a.flag("backup"),
            warnings,
        })
    }

    /// The diff's header for the crontab.
    fn header(&self) -> String {
        match (&self.cron_file, &self.user) {
            (Some(f), _) => f.clone(),
            (None, Some(u)) => format!("crontab for user \"{u}\""),
            (None, None) => "crontab".into(),
        }
    }

    /// ` -u USER` when the crontab is another user's (sh, checked on the host).
    fn user_opt(&self) -> String {
        match &self.user {
            Some(u) => {
                let q = sh_quote(u);
                format!("$(if [ \"$(id -un)\" = {q} ]; then :; else printf -- '-u %s' {q}; fi)")
            }
            None => String::new(),
        }
    }
}

/// What `query` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub tab: Crontab,
    /// The cron.d file exists.
    pub file_exists: bool,
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Install this crontab text (after a backup of `old`, with `backup`).
    Write {
        text: String,
        old: String,
        new_file: bool,
    },
    /// Remove the cron.d file (its last job went).
    RemoveFile { old: String },
}

/// `cron`: Ansible's markers, one read, one write.
pub struct CronModule;

/// sh that exits 127 with get_bin_path's wording when the host has no `crontab`.
const NEED_CRONTAB: &str = "command -v crontab >/dev/null 2>&1 || { printf 'Failed to find required executable \"crontab\" in paths: %s\\n' \"$PATH\" >&2; exit 127; }\n";

#[async_trait]
impl QueryPlanApply for CronModule {
    type Args = CronArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "cron"
    }

    fn parse(&self, args: Map) -> Result<CronArgs, ModuleError> {
        CronArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &CronArgs) -> Result<Seen, ModuleError> {
        let read = match &a.cron_file {
            Some(f) => format!("[ -e {q} ] || exit 3; cat -- {q}", q = sh_quote(f)),
            // rc 1 is "no crontab" for every cron.
            None => format!("{NEED_CRONTAB}crontab {} -l 2>/dev/null", a.user_opt()),
        };
        let out = run_sh(ctx, read, None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        Ok(match (&a.cron_file, out.rc) {
            (Some(_), 0) => Seen {
                tab: Crontab::from_file(&o),
                file_exists: true,
            },
            (Some(_), 3) => Seen::default(),
            (None, 0 | 1) => Seen {
                tab: Crontab::from_listing(&o),
                file_exists: false,
            },
            (None, 127) => return Err(failure(e.trim().to_string(), 127, &o, &e)),
            (None, rc) => return Err(failure("Unable to read crontab", rc, &o, &e)),
            (Some(f), rc) => {
                return Err(failure(
                    format!("Unable to read {f}: {}", e.trim()),
                    rc,
                    &o,
                    &e,
                ))
            }
        })
    }

    fn plan(a: &CronArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let mut tab = seen.tab.clone();
        let old = tab.render();
        let mut changed = change(&mut tab, &a.want.entry, a.want.present)?;
        let header = a.header();
        let job_removed = changed && !a.want.present && matches!(a.want.entry, Entry::Job { .. });
        if let (Some(f), true) = (&a.cron_file, job_removed && tab.is_empty()) {
            // Ansible's early exit: the emptied cron.d file goes.
            let result = ModuleResult::new(false)
                .set("cron_file", f.clone())
                .set("state", "absent")
                .with_diff(&header, "/dev/null", &seen.tab.existing, "");
            return Ok(match seen.file_exists {
                true => Plan::change(Changes::RemoveFile { old }, result),
                false => Plan::nothing(result),
            });
        }
        // An existing crontab without a final newline is rewritten with one.
        let e = &seen.tab.existing;
        changed |= !e.is_empty() && !e.ends_with(['\r', '\n']);
        let names = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
        let mut result = ModuleResult::new(false)
            .set("jobs", names(tab.job_names()))
            .set("envs", names(tab.env_names()));
        result.warnings = a.warnings.clone();
        if let Some(f) = &a.cron_file {
            result.insert("cron_file", f.clone());
        }
        if !changed {
            return Ok(Plan::nothing(result));
        }
        let text = tab.render();
        let result = result.with_diff(&header, &header, e, &text);
        let new_file = a.cron_file.is_some() && !seen.file_exists;
        Ok(Plan::change(
            Changes::Write {
                text,
                old,
                new_file,
            },
            result,
        ))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &CronArgs,
        c: Changes,
        mut result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let old = match &c {
            Changes::Write { old, .. } | Changes::RemoveFile { old } => old,
        };
        if a.backup {
            result.insert("backup_file", backup(ctx, old).await?);
        }
        match (&c, &a.cron_file) {
            (Changes::RemoveFile { .. }, Some(f)) => {
                let out = run_sh(ctx, format!("rm -f -- {}", sh_quote(f)), None).await?;
                ensure_ok(&out, |_, e| format!("removing {f} failed: {}", e.trim()))?;
            }
            (Changes::Write { text, new_file, .. }, Some(f)) => {
                let req = WriteRequest {
                    dest: f,
                    data: text.as_bytes(),
                    mode: new_file.then_some(0o644),
                    ..Default::default()
                };
                write_file(ctx, &req).await?;
            }
            (Changes::Write { text, .. }, None) => {
                let sh = format!("{NEED_CRONTAB}crontab {} -", a.user_opt());
                let out = run_sh(ctx, sh, Some(text.clone().into_bytes())).await?;
                ensure_ok(&out, |_, e| e.trim().to_string())?;
            }
            (Changes::RemoveFile { .. }, None) => {}
        }
        Ok(result)
    }
}

/// Ansible's backup: the crontab before the change, in a new `/tmp/crontabXXXXXXXX`.
async fn backup(ctx: &ModuleContext<'_>, old: &str) -> Result<String, ModuleError> {
    let sh = "umask 077; f=$(mktemp \"${TMPDIR:-/tmp}/crontabXXXXXXXX\") && cat > \"$f\" && printf %s \"$f\"";
    let out = run_sh(ctx, sh.into(), Some(old.as_bytes().to_vec())).await?;
    let (o, e) = (out.stdout_str(), out.stderr_str());
    if out.rc != 0 || o.trim().is_empty() {
        return Err(failure(
            format!("backing up the crontab failed: {}", e.trim()),
            out.rc,
            &o,
            &e,
        ));
    }
    Ok(o.trim().to_string())
}
