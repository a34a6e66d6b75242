//! `kplay deploy`: prepare every step (find and load its playbooks, hash its inputs), decide what
//! runs, refuse bad input before any host is contacted, then run the steps in order through the
//! engine in this process, recording each finished step in the state file as it finishes.

use crate::checks;
use crate::content::step_files;
use crate::error::DeployError;
use crate::hooks;
use crate::inputs::{self, StepFiles, VarView};
use crate::layout::Layout;
use crate::plan::{self, Decision, Selection, StepInfo};
use crate::state::{self, Running, State, StateFile, StepRecord};
use crate::steps::{Step, StepKind, ALL};
use crate::view::{Outcome, Row, View};
use indexmap::IndexMap;
use kplay_engine::exec::{load_playbooks, RunOptions, Runner};
use kplay_engine::inventory::Inventory;
use kplay_engine::module::ModuleRegistry;
use kplay_engine::output::{HostStats, Output};
use kplay_engine::playbook::Playbook;
use kplay_engine::value::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// `playbooks/<file>` → the file that runs, or None when there is none.
pub type Resolver = Box<dyn Fn(&str) -> Option<PathBuf>>;

/// What the binary hands over: the engine's pieces, configured from the command line.
pub struct Engine {
    pub registry: Arc<ModuleRegistry>,
    /// Extra vars, connection and become settings, forks, check mode… `roles_path` ends with
    /// kplay's embedded roles.
    pub options: RunOptions,
    /// `playbooks/<file>` → the file that runs (on disk in the working directory, else embedded),
    /// or None when neither has it.
    pub resolve: Resolver,
    /// This kplay binary, installed on the bootstrap node to push images (and serve files where
    /// nginx is absent).
    pub kplay_binary: Option<PathBuf>,
}

/// One deploy as asked for on the command line.
pub struct Request {
    pub inventory: Vec<String>,
    pub layout: Layout,
    pub bundle: Option<PathBuf>,
    pub selection: Selection,
    /// `--list`: show what would run and why, run nothing.
    pub list_only: bool,
}

/// A step ready to run.
struct Prepared {
    info: StepInfo,
    playbooks: Vec<(PathBuf, Playbook)>,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, DeployError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DeployError::Runtime)
}

pub(crate) fn load_inventory(sources: &[String]) -> Result<Inventory, DeployError> {
    if sources.is_empty() {
        return Err(DeployError::Refused(
            "no inventory: pass -i INVENTORY (or -c config.yaml)".into(),
        ));
    }
    let inv = Inventory::load(sources)?;
    for w in inv.warnings() {
        eprintln!("[WARNING]: {w}");
    }
    Ok(inv)
}

fn playbook_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads a step's playbooks and hashes its inputs.
fn prepare(
    step: Step,
    playbooks: Vec<PathBuf>,
    eng: &Engine,
    run_extra: &kplay_engine::value::Map,
    inventory: &Inventory,
    other: BTreeMap<String, String>,
    salt: &str,
) -> Result<Prepared, DeployError> {
    let mut loaded = Vec::new();
    let mut files = StepFiles::default();
    let label_root = match step.kind {
        StepKind::Playbook(_) => "playbooks".to_string(),
        StepKind::Hook(stage) => format!("hooks/{stage}"),
    };
    for pb in playbooks {
        let mut pbs = load_playbooks(
            std::slice::from_ref(&pb),
            &eng.registry,
            &eng.options.roles_path,
            run_extra,
        )?;
        let Some(one) = pbs.pop() else { continue };
        files
            .files
            .extend(step_files(&pb, &one, &eng.options.roles_path, &label_root).files);
        loaded.push((pb, one));
    }
    let inputs = match loaded.first() {
        Some((pb, _)) => {
            let view = VarView::new(inventory, &playbook_dir(pb), &eng.options.extra_vars)?;
            Some(inputs::compute(&files, &view, &other, salt)?)
        }
        None => None,
    };
    Ok(Prepared {
        info: StepInfo {
            step,
            available: inputs.is_some(),
            excluded: None,
            inputs,
        },
        playbooks: loaded,
    })
}

/// The exit code of a step stopped by Ctrl-C (Ansible's for an interrupted run).
pub const EXIT_INTERRUPTED: i32 = kplay_engine::exec::interrupt::EXIT_INTERRUPTED;

/// Runs one playbook with a runner of its own (its own connections, facts and recap), inside
/// `rt`. Returns the exit code and every host's counts. Ctrl-C stops the hosts' commands and
/// gives [`EXIT_INTERRUPTED`]; a closed stdout does the same and ends the process by SIGPIPE.
pub(crate) fn run_playbook(
    rt: &tokio::runtime::Runtime,
    eng: &Engine,
    opts: &RunOptions,
    inventory: Inventory,
    path: &Path,
    pb: &Playbook,
    out: Arc<dyn Output>,
) -> (i32, IndexMap<String, HostStats>) {
    use kplay_engine::exec::interrupt::{self, StopReason};
    let _guard = rt.enter();
    let dir = std::fs::canonicalize(playbook_dir(path)).unwrap_or_else(|_| playbook_dir(path));
    let runner = Runner::new(opts.clone(), eng.registry.clone(), inventory, &dir, out);
    kplay_engine::output::sink::on_closed(|| interrupt::request_stop(StopReason::StdoutClosed));
    let stats = |r: &Arc<Runner>| r.stats.lock().map(|s| s.clone()).unwrap_or_default();
    rt.block_on(async {
        let work = async {
            if let Err(e) = runner.run_playbook(pb).await {
                kplay_engine::output::sink::err_line(&format!("ERROR! {e}"));
                runner.finish_quiet().await;
                return 4;
            }
            runner.finish().await
        };
        tokio::select! {
            code = work => (code, stats(&runner)),
            reason = interrupt::stop_requested() => {
                interrupt::second_sigint_exits();
                runner.interrupt().await;
                if reason == StopReason::StdoutClosed {
                    kplay_engine::output::sink::die_of_sigpipe();
                }
                runner.finish_interrupted(EXIT_INTERRUPTED).await;
                kplay_engine::output::sink::err_line("[ERROR]: User interrupted execution");
                (EXIT_INTERRUPTED, stats(&runner))
            }
        }
    })
}

/// The extra vars a deploy adds for its own playbooks (never part of a step's hash: the bundle
/// counts by its identity, not by where it lies).
fn deploy_vars(req: &Request, eng: &Engine) -> kplay_engine::value::Map {
    let mut m = eng.options.extra_vars.clone();
    if let Some(b) = &req.bundle {
        let abs = std::fs::canonicalize(b).unwrap_or_else(|_| b.clone());
        m.insert(
            "kplay_bundle_dir".into(),
            Value::String(abs.display().to_string()),
        );
    }
    if let Some(k) = &eng.kplay_binary {
        m.insert(
            "kplay_binary".into(),
            Value::String(k.display().to_string()),
        );
    }
    m.insert(
        "kplay_deploy_dir".into(),
        Value::String(req.layout.deploy_dir.display().to_string()),
    );
    m
}

/// Runs a deploy; returns the exit code (0, or the failing step's: 2 failed host, 4 unreachable).
pub fn deploy(req: &Request, eng: &Engine, view: &dyn View) -> Result<i32, DeployError> {
    let inventory = load_inventory(&req.inventory)?;
    checks::etcd_members(&inventory)?;
    let state_file = if req.list_only {
        None
    } else {
        Some(StateFile::lock(&req.layout.state)?)
    };
    let mut state = match &state_file {
        Some(sf) => sf.load()?,
        None => state::read(&req.layout.state)?,
    };
    if state.salt.is_empty() {
        state.salt = state::fresh().salt;
    }
    let bundle_id = req.bundle.as_deref().map(checks::bundle);
    let run_extra = deploy_vars(req, eng);

    let mut prepared = Vec::new();
    for step in ALL {
        let playbooks: Vec<PathBuf> = match step.kind {
            StepKind::Playbook(f) => (eng.resolve)(f).into_iter().collect(),
            StepKind::Hook(stage) => {
                let p = hooks::playbooks(&req.layout.hooks, stage);
                if p.is_empty() {
                    continue;
                }
                p
            }
        };
        let mut other = BTreeMap::new();
        if step.name == "bootstrap-node" {
            // Without --bundle, the bundle the bootstrap node got last time still counts.
            let id = match &bundle_id {
                Some(Ok(id)) => Some(id.clone()),
                Some(Err(_)) => Some("(invalid)".to_string()),
                None => state
                    .steps
                    .get(step.name)
                    .and_then(|r| r.inputs.other.get("bundle").cloned()),
            };
            if let Some(id) = id {
                other.insert("bundle".to_string(), id);
            }
        }
        prepared.push(prepare(
            step,
            playbooks,
            eng,
            &run_extra,
            &inventory,
            other,
            &state.salt,
        )?);
    }
    if let Some(Ok(_)) = &bundle_id {
        let dir = req.bundle.as_deref().unwrap_or(Path::new("."));
        if !checks::bundle_has_kubernetes(dir) {
            for p in &mut prepared {
                if crate::steps::NEEDS_KUBERNETES.contains(&p.info.step.name) {
                    p.info.excluded = Some(checks::NO_KUBERNETES);
                }
            }
        }
    }
    let infos: Vec<StepInfo> = prepared.iter().map(|p| p.info.clone()).collect();
    let decisions = plan::decide(&infos, &state, &req.selection)?;

    // Bad input is refused here, before any host is contacted.
    let bootstrap_runs = prepared
        .iter()
        .zip(&decisions)
        .any(|(p, d)| p.info.step.name == "bootstrap-node" && d.runs());
    if bootstrap_runs && !req.list_only {
        checks::bootstrap_node(&inventory)?;
        match bundle_id {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(DeployError::Refused(
                    "the bootstrap node needs the bundle: pass --bundle DIR (a directory made by \
                     `kplay bundle build --output DIR`)"
                        .into(),
                ))
            }
        }
    }

    let rows: Vec<(&'static str, Decision)> = prepared
        .iter()
        .zip(&decisions)
        .map(|(p, d)| (p.info.step.name, d.clone()))
        .collect();
    view.plan(&rows, &req.layout.state);
    if req.list_only {
        return Ok(0);
    }
    if let Some(r) = &state.running {
        if decisions
            .iter()
            .zip(&prepared)
            .any(|(d, p)| d.runs() && p.info.step.name == r.step)
        {
            eprintln!(
                "resuming: the deploy started {} (pid {}) stopped during {}",
                r.started, r.pid, r.step
            );
        }
    }
    let check = eng.options.check;
    let mut opts = eng.options.clone();
    opts.extra_vars = run_extra;
    let rt = runtime()?;
    let sf = state_file.as_ref();
    let save = |state: &State| -> Result<(), DeployError> {
        match (check, sf) {
            (false, Some(sf)) => sf.save(state),
            _ => Ok(()),
        }
    };

    let to_run = decisions.iter().filter(|d| d.runs()).count();
    let started = Instant::now();
    let mut n = 0;
    let mut failed: Option<(i32, &'static str)> = None;
    let mut out_rows = Vec::new();
    for (p, d) in prepared.iter().zip(&decisions) {
        let name = p.info.step.name;
        let outcome = match d {
            Decision::Run(_) if failed.is_some() => Outcome::NotReached,
            Decision::Run(_) => {
                n += 1;
                state.running = Some(Running {
                    step: name.to_string(),
                    started: state::now_rfc3339(),
                    pid: std::process::id(),
                });
                state.steps.shift_remove(name);
                save(&state)?;
                let paths: Vec<PathBuf> = p.playbooks.iter().map(|(p, _)| p.clone()).collect();
                view.step_started(name, n, to_run, &paths);
                let t0 = Instant::now();
                let mut code = 0;
                let mut stats: IndexMap<String, HostStats> = IndexMap::new();
                for (path, pb) in &p.playbooks {
                    let (c, s) = run_playbook(
                        &rt,
                        eng,
                        &opts,
                        inventory.clone(),
                        path,
                        pb,
                        view.engine_output(),
                    );
                    merge_stats(&mut stats, s);
                    if c != 0 {
                        code = c;
                        break;
                    }
                }
                let elapsed = t0.elapsed();
                // Interrupted: the record keeps saying where the deploy stopped.
                if code != EXIT_INTERRUPTED {
                    state.running = None;
                }
                if code == 0 {
                    if let Some((hash, inputs)) = &p.info.inputs {
                        state.steps.insert(
                            name.to_string(),
                            StepRecord {
                                hash: hash.clone(),
                                finished: state::now_rfc3339(),
                                seconds: (elapsed.as_secs_f64() * 10.0).round() / 10.0,
                                inputs: inputs.clone(),
                            },
                        );
                    }
                } else {
                    failed = Some((code, name));
                }
                save(&state)?;
                let o = Outcome::Ran {
                    code,
                    elapsed,
                    stats,
                };
                view.step_finished(name, &o);
                o
            }
            Decision::Skip(_) => Outcome::Skipped(d.describe()),
            Decision::NotAvailable => Outcome::NotAvailable,
            Decision::Excluded(_) => Outcome::Skipped(d.describe()),
            Decision::Waiting(on) => Outcome::Waiting(on.to_string()),
        };
        out_rows.push(Row { name, outcome });
    }
    let notes = notes(&req.layout.state, &out_rows, failed, check);
    view.finish(&out_rows, started.elapsed(), &notes);
    Ok(failed.map(|f| f.0).unwrap_or(0))
}

fn merge_stats(into: &mut IndexMap<String, HostStats>, from: IndexMap<String, HostStats>) {
    for (h, s) in from {
        let t = into.entry(h).or_default();
        t.ok += s.ok;
        t.changed += s.changed;
        t.unreachable += s.unreachable;
        t.failed += s.failed;
        t.skipped += s.skipped;
        t.rescued += s.rescued;
        t.ignored += s.ignored;
    }
}

fn notes(
    state_path: &Path,
    rows: &[Row],
    failed: Option<(i32, &'static str)>,
    check: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if check {
        out.push("check mode: no step was recorded as finished".to_string());
    } else {
        out.push(format!("state: {}", state_path.display()));
    }
    if let Some((_, step)) = failed {
        out.push(format!(
            "deploy stopped at {step}: fix the problem above and run the same kplay deploy again; it resumes at {step}"
        ));
    }
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| r.outcome == Outcome::NotAvailable)
        .map(|r| r.name)
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "not available yet in this kplay: {}",
            missing.join(", ")
        ));
    }
    out
}
