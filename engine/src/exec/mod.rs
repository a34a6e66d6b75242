//! The executor: runs plays over hosts following the plan's DAG, with at most `forks` hosts
//! busy at once, and reports through an [`Output`].

mod args;
mod call;
mod conditions;
pub mod connection;
pub mod fact_cache;
pub mod hoststate;
mod include;
pub mod interrupt;
mod inventory_actions;
mod invoke;
pub mod loops;
mod meta;
mod nolog;
pub mod once;
mod outcome;
mod pause;
pub mod play;
pub mod prompt;
mod record;
mod retry;
pub mod slot;
mod stats;
mod step;
mod target;
mod task;
mod task_loop;
pub mod taskenv;
pub mod trace;

use crate::error::LoadError;
use crate::inventory::Inventory;
use crate::module::ModuleRegistry;
use crate::output::{Event, HostStats, Output};
use crate::plan::TagFilter;
use crate::playbook::{load_playbook, LoadContext, Playbook};
use crate::template::Templar;
use crate::value::Map;
use crate::vars::RunVars;
use connection::{ConnectionDefaults, Connections};
use indexmap::IndexMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Exit codes as ansible-playbook returns them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const HOST_FAILED: i32 = 2;
    pub const HOST_UNREACHABLE: i32 = 4;
    pub const BAD_OPTIONS: i32 = 5;
}

/// Everything a run needs from the command line.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub extra_vars: Map,
    pub limit: Option<String>,
    pub forks: usize,
    pub check: bool,
    pub diff: bool,
    pub tags: TagFilter,
    pub start_at_task: Option<String>,
    pub verbosity: u8,
    pub force_handlers: bool,
    pub roles_path: Vec<PathBuf>,
    pub connection: ConnectionDefaults,
    /// `-b`/`--become-user`/`--become-method`/`-K` from the command line.
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub become_password: Option<String>,
    /// `gathering` from ansible.cfg: `implicit` (default) or `explicit`.
    pub gathering_explicit: bool,
    /// `gathering = smart`: a host whose facts are known (gathered earlier in the run, or
    /// fresh in the fact cache) is not gathered again.
    pub gathering_smart: bool,
    /// `fact_caching = jsonfile`: facts kept between runs.
    pub fact_cache: Option<fact_cache::FactCache>,
    /// The strategy of plays that set none (ansible.cfg `strategy`, `ANSIBLE_STRATEGY`).
    pub strategy: Option<String>,
    /// `--step`: confirm each task on the terminal before it runs.
    pub step: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            extra_vars: Map::new(),
            limit: None,
            forks: 5,
            check: false,
            diff: false,
            tags: TagFilter::default(),
            start_at_task: None,
            verbosity: 0,
            force_handlers: false,
            roles_path: vec![],
            connection: ConnectionDefaults::default(),
            become_: None,
            become_user: None,
            become_method: None,
            become_password: None,
            gathering_explicit: false,
            gathering_smart: false,
            fact_cache: None,
            strategy: None,
            step: false,
        }
    }
}

/// State shared by every play of a run.
pub struct Runner {
    pub opts: RunOptions,
    pub registry: Arc<ModuleRegistry>,
    pub templar: Arc<Templar>,
    pub vars: Arc<RunVars>,
    pub out: Arc<dyn Output>,
    pub conns: Connections,
    pub stats: Mutex<IndexMap<String, HostStats>>,
    /// Hosts that failed or were unreachable: they take no part in later plays.
    pub failed_hosts: Mutex<HashSet<String>>,
    pub unreachable_hosts: Mutex<HashSet<String>>,
    pub forks: Arc<Semaphore>,
    /// `any_errors_fatal` fired: the run stops at the next barrier.
    pub abort: AtomicBool,
    /// The output as the run sees it: shut when the run is interrupted.
    gate: Arc<crate::output::gate::Gate>,
    /// Next [`crate::output::TaskId`] to hand out (ids grow in plan order through the run).
    next_task_id: std::sync::atomic::AtomicU64,
    /// `--start-at-task` found its task: later plays run whole.
    pub start_at_done: AtomicBool,
    /// `async` jobs started with `poll: 0`.
    pub jobs: call::Jobs,
    /// `set_stats` data: per host, and run-wide under [`stats::RUN`].
    pub custom_stats: Mutex<IndexMap<String, Map>>,
    /// `--step`: the user answered "continue".
    pub step_continue: AtomicBool,
    /// The recap's counts when the run was interrupted (what finished before; the tasks being
    /// stopped fail after that and must not count).
    frozen_stats: Mutex<Option<IndexMap<String, HostStats>>>,
    /// A file included at run time could not be loaded (unknown action, bad YAML …): like
    /// ansible-core, the whole run stops there with that load error (exit 4, no recap).
    load_failure: Mutex<Option<String>>,
    /// Hosts whose cached facts were looked up already.
    facts_loaded: Mutex<HashSet<String>>,
}

impl Runner {
    pub fn new(
        opts: RunOptions,
        registry: Arc<ModuleRegistry>,
        inventory: Inventory,
        playbook_dir: &Path,
        out: Arc<dyn Output>,
    ) -> Arc<Runner> {
        let templar = Arc::new(Templar::new());
        let info = crate::vars::RunInfo {
            verbosity: opts.verbosity,
            run_tags: opts.tags.only.iter().cloned().collect(),
            skip_tags: opts.tags.skip.iter().cloned().collect(),
            default_connection: opts.connection.connection.clone(),
        };
        let vars = RunVars::new(
            inventory,
            opts.extra_vars.clone(),
            templar.clone(),
            playbook_dir.to_path_buf(),
            info,
        );
        let forks = Arc::new(Semaphore::new(opts.forks.max(1)));
        let conns = Connections::new(opts.connection.clone());
        let gate = Arc::new(crate::output::gate::Gate::new(out));
        let out: Arc<dyn Output> = gate.clone();
        conns.set_trace(out.clone(), opts.verbosity);
        Arc::new(Runner {
            opts,
            registry,
            templar,
            vars,
            out,
            gate,
            next_task_id: std::sync::atomic::AtomicU64::new(1),
            start_at_done: AtomicBool::new(false),
            jobs: call::Jobs::default(),
            custom_stats: Mutex::new(IndexMap::new()),
            step_continue: AtomicBool::new(false),
            frozen_stats: Mutex::new(None),
            load_failure: Mutex::new(None),
            facts_loaded: Mutex::new(HashSet::new()),
            conns,
            stats: Mutex::new(IndexMap::new()),
            failed_hosts: Mutex::new(HashSet::new()),
            unreachable_hosts: Mutex::new(HashSet::new()),
            forks,
            abort: AtomicBool::new(false),
        })
    }

    /// Reserve `n` consecutive task ids; returns the first.
    pub(crate) fn task_ids(&self, n: usize) -> crate::output::TaskId {
        self.next_task_id
            .fetch_add(n as u64 + 1, std::sync::atomic::Ordering::SeqCst)
    }

    /// `-vvv`/`-vvvv` detail about `host` (built only when it will be shown).
    pub fn trace(&self, host: &str, level: u8, text: impl FnOnce() -> String) {
        if self.opts.verbosity >= level {
            self.out.emit(&Event::Trace {
                host: host.to_string(),
                level,
                text: text(),
            });
        }
    }

    /// Stop the run now (Ctrl-C, closed stdout): nothing more is shown but the recap, no new
    /// task starts, and the commands running on hosts are stopped.
    pub async fn interrupt(self: &Arc<Self>) {
        if let (Ok(mut f), Ok(s)) = (self.frozen_stats.lock(), self.stats.lock()) {
            *f = Some(s.clone());
        }
        self.gate.shut();
        self.abort.store(true, std::sync::atomic::Ordering::SeqCst);
        self.conns.interrupt_all().await;
    }

    /// An included file failed to load: the run stops at once and [`Runner::run_playbook`]
    /// returns the error (the first one wins).
    pub(crate) fn fail_load(&self, msg: String) {
        if let Ok(mut f) = self.load_failure.lock() {
            f.get_or_insert(msg);
        }
        self.abort.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn take_load_failure(&self) -> Option<LoadError> {
        self.load_failure
            .lock()
            .ok()
            .and_then(|mut f| f.take())
            .map(LoadError::Other)
    }

    /// Cached facts of `hosts` not seen yet in this run become their facts (fact caching).
    pub(crate) fn load_cached_facts(&self, hosts: &[String]) {
        let Some(cache) = &self.opts.fact_cache else {
            return;
        };
        for h in hosts {
            let known = self
                .vars
                .host_state(h)
                .facts
                .contains_key(fact_cache::GATHERED);
            if known
                || !self
                    .facts_loaded
                    .lock()
                    .is_ok_and(|mut l| l.insert(h.clone()))
            {
                continue;
            }
            if let Some(cached) = cache.load(h) {
                self.vars
                    .update_host(h, |s| Arc::make_mut(&mut s.facts).extend(cached));
            }
        }
    }

    /// Writes every host's gathered facts to the fact cache (after each play).
    fn store_facts(&self) {
        let Some(cache) = &self.opts.fact_cache else {
            return;
        };
        let gathered: Vec<(String, Arc<Map>)> = self
            .vars
            .hosts
            .read()
            .map(|m| {
                m.iter()
                    .filter(|(_, s)| s.facts.contains_key("module_setup"))
                    .map(|(h, s)| (h.clone(), s.facts.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (h, facts) in gathered {
            if let Err(e) = cache.store(&h, &facts) {
                eprintln!("[WARNING]: {e}");
            }
        }
    }

    pub fn stat(&self, host: &str, f: impl FnOnce(&mut HostStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(s.entry(host.to_string()).or_default());
        }
    }

    /// Run every play of a loaded playbook.
    pub async fn run_playbook(self: &Arc<Self>, pb: &Playbook) -> Result<(), LoadError> {
        self.out.emit(&Event::PlaybookStart {
            file: pb.path.display().to_string(),
        });
        for p in &pb.plays {
            if self.abort.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            play::run_play(self, p.clone()).await?;
            if let Some(e) = self.take_load_failure() {
                return Err(e);
            }
            self.store_facts();
        }
        Ok(())
    }

    /// Emit the recap and compute the exit code.
    pub async fn finish(self: &Arc<Self>) -> i32 {
        let (stats, code) = self.outcome().await;
        self.out.emit(&Event::Recap {
            stats,
            custom: self.custom_stats(),
            exit_code: code,
        });
        code
    }

    /// The recap of an interrupted run (what finished before the interruption), and `code`.
    pub async fn finish_interrupted(self: &Arc<Self>, code: i32) -> i32 {
        self.conns.close_all().await;
        let frozen = self.frozen_stats.lock().ok().and_then(|f| f.clone());
        let mut stats = frozen
            .or_else(|| self.stats.lock().ok().map(|s| s.clone()))
            .unwrap_or_default();
        stats.sort_keys();
        self.out.emit(&Event::Recap {
            stats,
            custom: self.custom_stats(),
            exit_code: code,
        });
        code
    }

    /// What `set_stats` gathered.
    fn custom_stats(&self) -> IndexMap<String, Map> {
        self.custom_stats
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The exit code without a recap (ad-hoc runs print none).
    pub async fn finish_quiet(self: &Arc<Self>) -> i32 {
        self.outcome().await.1
    }

    async fn outcome(self: &Arc<Self>) -> (IndexMap<String, HostStats>, i32) {
        let running = self.jobs.unfinished();
        if running > 0 {
            self.out.emit(&Event::Warning(format!(
                "waiting for {running} async job(s) started with poll: 0 to finish (kplay runs them itself, so they end with the run)"
            )));
            self.jobs.wait_all().await;
        }
        self.conns.close_all().await;
        let mut stats = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        stats.sort_keys();
        let code = if stats.values().any(|s| s.unreachable > 0) {
            exit::HOST_UNREACHABLE
        } else if stats.values().any(|s| s.failed > 0)
            || self.abort.load(std::sync::atomic::Ordering::SeqCst)
        {
            exit::HOST_FAILED
        } else {
            exit::OK
        };
        (stats, code)
    }
}

/// Load a playbook given as text as if it were the file `path` (see
/// [`crate::playbook::load_playbook_text`]).
pub fn load_playbook_text(
    text: &str,
    path: &Path,
    registry: &ModuleRegistry,
    roles_path: &[PathBuf],
    extra_vars: &Map,
) -> Result<Playbook, LoadError> {
    let templar = Templar::new();
    let lctx = LoadContext::new(registry, &templar, roles_path.to_vec(), extra_vars.clone());
    crate::playbook::load_playbook_text(text, path, &lctx)
}

/// Load playbooks (all before running any, so a load error touches no host).
pub fn load_playbooks(
    paths: &[PathBuf],
    registry: &ModuleRegistry,
    roles_path: &[PathBuf],
    extra_vars: &Map,
) -> Result<Vec<Playbook>, LoadError> {
    let templar = Templar::new();
    let lctx = LoadContext::new(registry, &templar, roles_path.to_vec(), extra_vars.clone());
    paths.iter().map(|p| load_playbook(p, &lctx)).collect()
}
