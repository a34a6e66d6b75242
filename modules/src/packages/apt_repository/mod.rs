//! `apt_repository` (ansible.builtin.apt_repository): an APT source line is present (enabled)
//! or absent in /etc/apt/sources.list and /etc/apt/sources.list.d/*.list, with ansible-core's
//! rules ([`sources`]): lines compare with whitespace collapsed; commented-out copies are
//! enabled in place; a new line goes to `sources.list.d/FILENAME.list` (by default named after
//! the URI) with `mode`; a file left without lines is deleted; the package cache
//! is refreshed after a change (`update_cache`, retried with backoff; on failure the files
//! are put back). Results as ansible-core's: `sources_added`/`sources_removed` are the files
//! created/deleted, and the diff shows those files. PPAs need Launchpad on the network and
//! are refused (kplay installs offline). `query` reads the files, `plan` edits them in memory,
//! `apply` writes through the repository modules' shared pipeline ([`super::repo_files`]).

pub mod sources;
#[cfg(test)]
mod tests;

use super::repo_files::{plan_file, query_file, remove_file, FileChange, FileEdit};
use crate::common::args::{p, Param, Spec};
use crate::common::attrs::AttrSpec;
use crate::common::mode::ModeSpec;
use crate::common::reads::failure;
use crate::common::run_sh;
use crate::common::text::{TextFile, WriteOpts};
use crate::common::write::{write_file, WriteRequest};
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{Diff, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use sources::Line;

const PARAMS: &[Param] = &[
    p("repo", &[])
        .str()
        .required()
        .doc("The source line (`deb [arch=amd64] http://host/path suite comp`)."),
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the source should be there."),
    p("filename", &[]).str().doc(
        "Name (without `.list`) of the file in sources.list.d for a new line, or an absolute path.",
    ),
    p("mode", &[]).doc("Mode of a file a line is added to (default: the umask decides for a new file; an existing one keeps its mode)."),
    p("update_cache", &["update-cache"])
        .flag(true)
        .doc("Run `apt-get update` after a change."),
    p("update_cache_retries", &[])
        .int()
        .default_int(5)
        .doc("Attempts at the cache update."),
    p("update_cache_retry_max_delay", &[])
        .int()
        .default_int(12)
        .doc("Longest wait (seconds) between attempts; waits double from 1 second."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Accepted (used only to fetch PPA keys, which kplay refuses)."),
    p("codename", &[])
        .str()
        .doc("Accepted (used only for PPAs, which kplay refuses)."),
    p("install_python_apt", &[])
        .flag(true)
        .doc("Accepted; kplay needs no Python on the target."),
];

/// `apt_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "apt_repository",
    "Add and remove APT repositories",
    &[PARAMS],
);

/// `ansible.builtin.apt_repository`. `root` prefixes /etc/apt (empty on a real host; a temp
/// dir in tests).
#[derive(Default)]
pub struct AptRepositoryModule {
    pub root: String,
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct AptRepoArgs {
    /// `repo` as given (the result reports it so).
    pub repo: String,
    /// The source it names, blanks collapsed.
    pub source: String,
    pub state: Presence,
    /// Where a new line goes.
    pub new_file: String,
    /// Mode of the file a line is added to; without it a new file gets the umask's mode and
    /// an existing one keeps its own (ansible-core's `mode: None`).
    pub mode: Option<ModeSpec>,
    pub update_cache: bool,
    pub retries: u32,
    pub max_delay: u64,
}

impl AptRepoArgs {
    pub fn parse(args: Map, root: &str) -> Result<AptRepoArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let repo = a.required_str("repo")?;
        if repo.is_empty() {
            return Err(ModuleError::new(
                "Please set argument 'repo' to a non-empty value",
            ));
        }
        if repo.trim().starts_with("ppa:") {
            return Err(ModuleError::new(
                "PPA repositories need Launchpad on the network, which kplay does not use (offline installs): give the `deb` line of a local mirror instead",
            ));
        }
        let source = sources::repo_source(&repo)
            .map_err(|l| ModuleError::new(format!("Invalid repository string: {l}")))?;
        let dir = format!("{root}/etc/apt/sources.list.d");
        let new_file = match a.str("filename")? {
            Some(f) if f.starts_with('/') => format!("{f}.list"),
            Some(f) if f.contains('/') => {
                return Err(ModuleError::new(format!(
                    "filename '{f}' must be a plain name (it goes to {dir}) or an absolute path"
                )))
            }
            Some(f) => format!("{dir}/{f}.list"),
            None => format!("{dir}/{}", sources::suggest_filename(&source)),
        };
        let mode = a
            .raw("mode")
            .map(|m| ModeSpec::parse(m, false))
            .transpose()?;
        Ok(AptRepoArgs {
            repo,
            source,
            state: Presence::from_arg(&a, "state")?,
            new_file,
            mode,
            update_cache: a.flag("update_cache"),
            retries: a.u32("update_cache_retries")?.unwrap_or(5),
            max_delay: a.int("update_cache_retry_max_delay").unwrap_or(12).max(0) as u64,
        })
    }
}

/// What `query` found: each sources file (and the file a new line would go to) as read.
#[derive(Debug, Clone)]
pub struct Seen {
    pub files: Vec<(String, TextFile)>,
}

/// One file to change and how to write it.
#[derive(Debug, Clone)]
pub struct Edit {
    pub file: FileEdit,
    pub opts: WriteOpts,
}

/// What `apply` does: the edits, then the cache update.
#[derive(Debug, Clone)]
pub struct Changes {
    pub edits: Vec<Edit>,
    pub update_cache: bool,
}

#[async_trait]
impl QueryPlanApply for AptRepositoryModule {
    type Args = AptRepoArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "apt_repository"
    }

    fn parse(&self, args: Map) -> Result<AptRepoArgs, ModuleError> {
        AptRepoArgs::parse(args, &self.root)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &AptRepoArgs) -> Result<Seen, ModuleError> {
        let etc = format!("{}/etc/apt", self.root);
        let list = format!(
            "for f in {e}/sources.list {e}/sources.list.d/*.list; do [ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; exit 0",
            e = sh_quote(&etc)
        );
        let out = run_sh(ctx, list, None).await?;
        let mut paths: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
        if !paths.contains(&a.new_file) {
            paths.push(a.new_file.clone());
        }
        let mut files = Vec::new();
        for p in paths {
            let f = query_file(ctx, &p).await?;
            files.push((p, f));
        }
        Ok(Seen { files })
    }

    fn plan(a: &AptRepoArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let mut files: Vec<(String, Vec<Line>)> = seen
            .files
            .iter()
            .filter_map(|(p, f)| f.content().map(|c| (p.clone(), sources::parse(c))))
            .collect();
        let before: Vec<(String, Option<String>)> = files
            .iter()
            .map(|(p, l)| (p.clone(), sources::dump(l)))
            .collect();
        let appended = match a.state {
            Presence::Present => sources::add(&mut files, &a.source, &a.new_file),
            Presence::Absent => {
                sources::remove(&mut files, &a.source);
                false
            }
        };
        let mut report = Report::default();
        let mut edits = Vec::new();
        for (path, lines) in &files {
            let was = before
                .iter()
                .find(|(p, _)| p == path)
                .and_then(|(_, d)| d.clone());
            let now = sources::dump(lines);
            if was == now {
                continue;
            }
            report.note(path, was.as_deref(), now.as_deref());
            let attrs = AttrSpec {
                mode: a.mode.clone().filter(|_| appended && *path == a.new_file),
                ..Default::default()
            };
            if let Some(edit) = edit_for(seen, path, now.as_deref(), attrs) {
                edits.push(edit);
            }
        }
        let result = report.result(a);
        if edits.is_empty() {
            return Ok(Plan::nothing(result));
        }
        let update_cache = a.update_cache;
        Ok(Plan::change(
            Changes {
                edits,
                update_cache,
            },
            result,
        ))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &AptRepoArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        for e in &c.edits {
            if let Err(err) = e.file.apply(ctx, &e.opts).await {
                revert(ctx, &c.edits).await;
                return Err(err);
            }
        }
        if c.update_cache {
            if let Err(err) = update_cache(ctx, a.retries, a.max_delay).await {
                revert(ctx, &c.edits).await;
                return Err(err);
            }
        }
        Ok(result)
    }
}

/// The write or removal that brings `path` to `now` (`None`: no lines, deleted).
fn edit_for(seen: &Seen, path: &str, now: Option<&str>, attrs: AttrSpec) -> Option<Edit> {
    let (_, file) = seen.files.iter().find(|(p, _)| p == path)?;
    let change: FileChange = plan_file(file, now, &attrs).change?;
    Some(Edit {
        file: change.on(path, file),
        opts: WriteOpts {
            attrs,
            ..Default::default()
        },
    })
}

/// ansible-core's report of the files created and deleted, and their diff.
#[derive(Debug, Default)]
struct Report {
    added: Vec<String>,
    removed: Vec<String>,
    diff: Vec<Map>,
}

impl Report {
    fn note(&mut self, path: &str, was: Option<&str>, now: Option<&str>) {
        match (was, now) {
            (None, Some(_)) => self.added.push(path.to_string()),
            (Some(_), None) => self.removed.push(path.to_string()),
            _ => return,
        }
        let header = |side: Option<&str>| if side.is_some() { path } else { "/dev/null" };
        let mut d = Map::new();
        d.insert("before".into(), was.unwrap_or_default().into());
        d.insert("after".into(), now.unwrap_or_default().into());
        d.insert("before_header".into(), header(was).into());
        d.insert("after_header".into(), header(now).into());
        self.diff.push(d);
    }

    fn result(self, a: &AptRepoArgs) -> ModuleResult {
        let list = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
        let mut r = ModuleResult::new(false)
            .set("repo", a.repo.as_str())
            .set("state", a.state.as_str())
            .set("sources_added", list(self.added))
            .set("sources_removed", list(self.removed));
        r.diff = Diff::Many(self.diff);
        r
    }
}

/// `apt-get update`, tried `retries` times, waiting 1, 2, 4 … (at most `max_delay`) seconds
/// between attempts; ansible-core's message when every attempt failed.
async fn update_cache(
    ctx: &ModuleContext<'_>,
    retries: u32,
    max_delay: u64,
) -> Result<(), ModuleError> {
    let mut last = None;
    for attempt in 0..retries.max(1) {
        if attempt > 0 {
            let delay = 2u64.saturating_pow(attempt - 1).min(max_delay);
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        }
        let out = run_sh(ctx, "apt-get update -q".to_string(), None).await?;
        if out.rc == 0 {
            return Ok(());
        }
        last = Some(out);
    }
    let out = last.ok_or_else(|| ModuleError::new("Failed to update apt cache: unknown reason"))?;
    let (o, e) = (out.stdout_str(), out.stderr_str());
    let why = if e.trim().is_empty() {
        "unknown reason"
    } else {
        e.trim()
    };
    Err(failure(
        format!("Failed to update apt cache: {why}"),
        out.rc,
        &o,
        &e,
    ))
}

/// Put the files back as `query` read them (a new file is deleted), as ansible-core does when
/// the cache update fails; best effort, the task fails anyway.
async fn revert(ctx: &ModuleContext<'_>, edits: &[Edit]) {
    for e in edits {
        let seen = &e.file.seen;
        let _ = match (seen.content(), seen.stat()) {
            (Some(content), Some(st)) => {
                let req = WriteRequest {
                    dest: &seen.real_path,
                    data: content.as_bytes(),
                    mode: Some(st.mode),
                    ..Default::default()
                };
                write_file(ctx, &req).await.map(drop)
            }
            _ => remove_file(ctx, &e.file.path).await,
        };
    }
}
