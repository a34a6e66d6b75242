//! One play: pick its hosts, set up its variables, plan it, and run the DAG.

use super::hoststate::HostRun;
use super::Runner;
use crate::error::LoadError;
use crate::output::Event;
use crate::plan::{self, Leaf, PlanInput, PlanNode, PlayPlan, PlaySection};
use crate::playbook::Play;
use crate::value::{ansible_bool, to_display_string, Map, Value};
use crate::vars::{PlayLayers, Scope};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A play in progress.
pub struct PlayRun {
    pub runner: Arc<Runner>,
    pub play: Arc<Play>,
    pub plan: PlayPlan,
    pub hosts: Vec<Mutex<HostRun>>,
    /// Whether `TASK [...]` was printed for a leaf.
    pub started: Vec<AtomicBool>,
    /// Hosts done with each leaf (all of them: the leaf's [`Event::TaskEnd`]).
    pub finished: Vec<AtomicUsize>,
    /// The first task id of this batch: leaf `i` is `id_base + i`; handler flushes come after
    /// the leaves.
    pub id_base: crate::output::TaskId,
    next_flush_id: std::sync::atomic::AtomicU64,
    /// `meta: end_play`.
    pub ended: AtomicBool,
    pub force_handlers: bool,
    /// Roles (path, params) whose tasks ran in this play: `include_role` does not run their
    /// dependencies again.
    pub ran_roles: Mutex<std::collections::HashSet<(std::path::PathBuf, String)>>,
    /// Handlers of roles brought in by `include_role` while the play runs.
    pub extra_handlers: Mutex<Vec<Arc<Leaf>>>,
    /// `--step` answers, per task.
    pub step_answers: super::step::StepAnswers,
    /// `run_once` tasks inside includes, shared by the hosts that include the same file.
    pub included_once: super::once::IncludedOnce,
}

fn select_hosts(runner: &Arc<Runner>, play: &Play) -> Result<Vec<String>, LoadError> {
    let pattern = match &play.hosts {
        Value::String(s) if crate::template::Templar::is_template(s) => {
            let ctx =
                crate::template::from_json_value(&Value::Object((*runner.vars.extra).clone()));
            match runner.templar.render_str(s, &ctx) {
                Ok(v) => to_display_string(&v),
                Err(e) => {
                    return Err(LoadError::at(
                        &play.span,
                        format!("cannot render hosts pattern '{s}': {e}"),
                    ))
                }
            }
        }
        v => to_display_string(v),
    };
    let inv = runner
        .vars
        .inventory
        .read()
        .map_err(|_| LoadError::Other("inventory lock poisoned".into()))?;
    let mut hosts = inv
        .select(&pattern)
        .map_err(|e| LoadError::at(&play.span, e.to_string()))?;
    if let Some(limit) = &runner.opts.limit {
        let allowed: HashSet<String> = inv
            .select(limit)
            .map_err(|e| LoadError::Other(format!("--limit: {e}")))?
            .into_iter()
            .collect();
        hosts.retain(|h| allowed.contains(h));
    }
    let failed = runner
        .failed_hosts
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    let unreachable = runner
        .unreachable_hosts
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    hosts.retain(|h| !failed.contains(h) && !unreachable.contains(h));
    if play.order.as_deref() == Some("reverse_inventory") {
        hosts.reverse();
    } else if play.order.as_deref() == Some("sorted") {
        hosts.sort();
    } else if play.order.as_deref() == Some("reverse_sorted") {
        hosts.sort();
        hosts.reverse();
    } else if play.order.as_deref() == Some("shuffle") {
        shuffle(&mut hosts);
    }
    Ok(hosts)
}

/// `order: shuffle`: a random order (Fisher-Yates on a generator seeded from the OS).
fn shuffle(hosts: &mut [String]) {
    let mut seed = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut seed);
    }
    let mut x = u64::from_le_bytes(seed) | 1;
    for i in (1..hosts.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hosts.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// Select hosts, set the play's variables and build its plan as one batch (no host is
/// touched): what `--list-tasks` and `kplay plan` show.
pub fn prepare_play(runner: &Arc<Runner>, play: &Arc<Play>) -> Result<Option<PlayPlan>, LoadError> {
    let hosts = select_hosts(runner, play)?;
    if hosts.is_empty() {
        return Ok(None);
    }
    let start_at = runner.opts.start_at_task.as_deref();
    prepare_batch(runner, play, &hosts, hosts.clone(), start_at, &Map::new()).map(Some)
}

/// `serial`: batch sizes (a number, a percentage, or a list of them whose last one repeats).
pub fn serial_batches(serial: Option<&Value>, hosts: &[String]) -> Vec<Vec<String>> {
    let n = hosts.len();
    let size_of = |v: &Value| -> usize {
        let s = to_display_string(v);
        let size = match s.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|p| ((p / 100.0) * n as f64) as usize)
                .unwrap_or(n),
            None => s.trim().parse::<usize>().unwrap_or(n),
        };
        if size == 0 {
            if n == 0 {
                0
            } else {
                1
            }
        } else {
            size
        }
    };
    let sizes: Vec<usize> = match serial {
        None | Some(Value::Null) => return vec![hosts.to_vec()],
        Some(Value::Array(a)) if !a.is_empty() => a.iter().map(size_of).collect(),
        Some(v) => vec![size_of(v)],
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < n {
        let size = sizes[k.min(sizes.len() - 1)].max(1);
        out.push(hosts[i..(i + size).min(n)].to_vec());
        i += size;
        k += 1;
    }
    out
}

/// Set the play's variables for one batch of its hosts and build the batch's plan.
fn prepare_batch(
    runner: &Arc<Runner>,
    play: &Arc<Play>,
    all_hosts: &[String],
    hosts: Vec<String>,
    start_at: Option<&str>,
    prompted: &Map,
) -> Result<PlayPlan, LoadError> {
    runner
        .vars
        .set_play(play_layers(runner, play, all_hosts, &hosts, prompted));
    for h in &hosts {
        runner.vars.inventory_vars(h)?;
        runner
            .vars
            .update_host(h, |s| s.vars_files = Arc::new(Map::new()));
    }
    load_vars_files(runner, play, &hosts)?;
    let tainted = hostvars_tainted(runner, play, &hosts);
    runner.load_cached_facts(&hosts);
    let gather = gathers(runner, play, &hosts);
    let keyword_ctx = hosts
        .first()
        .map(|h| crate::vars::Scope::for_host(&runner.vars, h).ctx());
    Ok(plan::build(PlanInput {
        play,
        hosts,
        filter: &runner.opts.tags,
        templar: &runner.templar,
        hostvars_tainted: &tainted,
        gather_facts: gather,
        start_at_task: start_at,
        default_strategy: runner.opts.strategy.as_deref(),
        keyword_ctx,
    }))
}

/// The play's variable layers for a batch: later roles' defaults/vars take precedence over
/// earlier ones; answers to `vars_prompt` join the play's vars.
fn play_layers(
    runner: &Runner,
    play: &Play,
    all_hosts: &[String],
    hosts: &[String],
    prompted: &Map,
) -> PlayLayers {
    let roles = || play.role_instances.iter().rev();
    // The play's `check_mode:` and `diff:` when they are booleans, else the command line's.
    let flag = |v: &Option<Value>, cli: bool| v.as_ref().and_then(ansible_bool).unwrap_or(cli);
    let check = flag(&play.keywords.check_mode, runner.opts.check);
    let diff = flag(&play.keywords.diff, runner.opts.diff);
    PlayLayers {
        name: play.name.clone(),
        role_defaults: roles().map(|r| r.defaults.clone()).collect(),
        role_vars: roles().map(|r| r.vars.clone()).collect(),
        play_vars: if prompted.is_empty() {
            play.vars.clone()
        } else {
            let mut v = (*play.vars).clone();
            v.extend(prompted.iter().map(|(k, v)| (k.clone(), v.clone())));
            Arc::new(v)
        },
        play_hosts: all_hosts.to_vec(),
        batch_hosts: hosts.to_vec(),
        check_mode: check,
        diff,
    }
}

/// Whether the batch gathers facts: the play's `gather_facts` (or the `gathering` default);
/// under `gathering = smart`, only when some host's facts are unknown. The plan's gathering task
/// then passes over the hosts whose facts are known ([`smart_skips`]).
fn gathers(runner: &Runner, play: &Play, hosts: &[String]) -> bool {
    let gather = match play.gather_facts.as_ref() {
        Some(v) => ansible_bool(v).unwrap_or(true),
        None => !runner.opts.gathering_explicit,
    };
    if gather && runner.opts.gathering_smart {
        return !hosts.iter().all(|h| smart_skips(runner, h));
    }
    gather
}

/// Under `gathering = smart`, whether `host` is not gathered: its facts are known (gathered
/// earlier in this run, or from the fact cache). ansible-core's play iterator gives such a host
/// no setup task at all (no result, no skip), while the batch's other hosts gather.
pub(super) fn smart_skips(runner: &Runner, host: &str) -> bool {
    if !runner.opts.gathering_smart {
        return false;
    }
    let f = runner.vars.host_state(host).facts;
    f.contains_key("module_setup") || f.contains_key(super::fact_cache::GATHERED)
}

/// Which variables read other hosts' variables (their users need a barrier).
fn hostvars_tainted(runner: &Runner, play: &Play, hosts: &[String]) -> HashSet<String> {
    let inv_maps: Vec<Arc<Map>> = hosts
        .iter()
        .filter_map(|h| runner.vars.inventory_vars(h).ok())
        .collect();
    let mut maps: Vec<&Map> = vec![&runner.vars.extra, &play.vars];
    for r in &play.role_instances {
        maps.push(&r.defaults);
        maps.push(&r.vars);
    }
    maps.extend(inv_maps.iter().map(|m| m.as_ref()));
    plan::hostvars_tainted(maps.into_iter(), &runner.templar)
}

pub async fn run_play(runner: &Arc<Runner>, play: Arc<Play>) -> Result<(), LoadError> {
    let prompted = ask_vars(runner, &play).await?;
    let all_hosts = select_hosts(runner, &play)?;
    runner.out.emit(&Event::PlayStart {
        name: play.name.clone(),
        span: play.span.clone(),
        hosts: all_hosts.clone(),
    });
    if all_hosts.is_empty() {
        runner.out.emit(&Event::NoHostsMatched);
        return Ok(());
    }
    if let Ok(mut f) = runner.vars.failed_in_play.write() {
        f.clear();
    }
    // `--start-at-task`: plays before the one holding the task run nothing; every batch of
    // that play starts at it; later plays run whole.
    let start_at = match runner.start_at_done.load(Ordering::SeqCst) {
        true => None,
        false => runner.opts.start_at_task.clone(),
    };
    for batch in serial_batches(play.serial.as_ref(), &all_hosts) {
        let plan = prepare_batch(
            runner,
            &play,
            &all_hosts,
            batch,
            start_at.as_deref(),
            &prompted,
        )?;
        if plan.start_matched {
            runner.start_at_done.store(true, Ordering::SeqCst);
        }
        run_batch(runner, &play, plan).await;
        if runner.abort.load(Ordering::SeqCst) {
            break;
        }
        // A batch in which every host failed ends the play, as Ansible does.
        let failed = runner
            .vars
            .failed_in_play
            .read()
            .map(|f| f.len())
            .unwrap_or(0);
        if failed >= all_hosts.len() {
            break;
        }
    }
    Ok(())
}

/// `vars_prompt`: each variable not given with `-e` is asked on the terminal (`name [default]:`;
/// an empty answer takes the default), twice with `confirm`. Without a terminal, as in Ansible,
/// nothing is asked and the default is used; a variable without one stops the run (it would
/// be undefined).
async fn ask_vars(runner: &Arc<Runner>, play: &Play) -> Result<Map, LoadError> {
    let mut out = Map::new();
    let interactive = super::prompt::interactive();
    if !interactive && !play.vars_prompt.is_empty() {
        runner.out.emit(&Event::Warning(
            "Not prompting as we are not in interactive mode".into(),
        ));
    }
    for p in &play.vars_prompt {
        if runner.vars.extra.contains_key(&p.name) {
            continue;
        }
        let default = p.default.as_ref().map(to_display_string);
        let question = match &default {
            Some(d) => format!("{} [{d}]: ", p.prompt),
            None => format!("{}: ", p.prompt),
        };
        let answer = match interactive {
            true => ask_one(runner, p, &question).await,
            false => None,
        };
        let value = match (answer.filter(|a| !a.is_empty()), &p.default) {
            (Some(a), _) => Value::String(a),
            (None, Some(d)) => d.clone(),
            // An empty line typed on a terminal is an answer: the empty string.
            (None, None) if interactive => Value::String(String::new()),
            (None, None) => {
                return Err(LoadError::at(
                    &p.span,
                    format!(
                        "vars_prompt '{}' has no default and stdin is not a terminal: pass it with -e {}=VALUE",
                        p.name, p.name
                    ),
                ))
            }
        };
        out.insert(p.name.clone(), value);
    }
    Ok(out)
}

/// One `vars_prompt` answer (asked twice until both match with `confirm`).
async fn ask_one(
    runner: &Arc<Runner>,
    p: &crate::playbook::VarsPrompt,
    question: &str,
) -> Option<String> {
    loop {
        let first = super::prompt::ask(&runner.out, question, !p.private).await;
        if p.private {
            crate::output::sink::err_line("");
        }
        if !p.confirm || first.is_none() {
            return first;
        }
        let again =
            super::prompt::ask(&runner.out, &format!("confirm {question}"), !p.private).await;
        if p.private {
            crate::output::sink::err_line("");
        }
        if again == first {
            return first;
        }
        crate::output::sink::err_line("***** VALUES ENTERED DO NOT MATCH ****");
    }
}

async fn run_batch(runner: &Arc<Runner>, play: &Arc<Play>, plan: PlayPlan) {
    let hosts = plan.hosts.clone();
    let force_handlers = runner.opts.force_handlers
        || play
            .force_handlers
            .as_ref()
            .and_then(ansible_bool)
            .unwrap_or(false);
    let flushes = plan
        .graph
        .node_weights()
        .filter(|n| matches!(n, PlanNode::FlushHandlers { .. }))
        .count();
    let id_base = runner.task_ids(plan.leaves.len() + flushes);
    let pr = Arc::new(PlayRun {
        runner: runner.clone(),
        started: plan.leaves.iter().map(|_| AtomicBool::new(false)).collect(),
        finished: plan.leaves.iter().map(|_| AtomicUsize::new(0)).collect(),
        id_base,
        next_flush_id: std::sync::atomic::AtomicU64::new(id_base + plan.leaves.len() as u64),
        hosts: hosts
            .iter()
            .map(|_| Mutex::new(HostRun::default()))
            .collect(),
        plan,
        play: play.clone(),
        ended: AtomicBool::new(false),
        force_handlers,
        ran_roles: Mutex::new(Default::default()),
        extra_handlers: Mutex::new(Vec::new()),
        step_answers: Default::default(),
        included_once: Default::default(),
    });
    pr.included_once.expect_plan(&pr.plan);
    pr.clone().execute_dag().await;
    // Pending failures at the end of the play fail their hosts.
    for (i, h) in pr.plan.hosts.iter().enumerate() {
        if let Ok(mut hr) = pr.hosts[i].lock() {
            hr.finish();
            if hr.failed || hr.unreachable {
                if let Ok(mut f) = runner.vars.failed_in_play.write() {
                    f.insert(h.clone());
                }
            }
            if hr.failed {
                if let Ok(mut f) = runner.failed_hosts.lock() {
                    f.insert(h.clone());
                }
            }
            if hr.unreachable {
                if let Ok(mut f) = runner.unreachable_hosts.lock() {
                    f.insert(h.clone());
                }
            }
        }
    }
}

/// `vars_files`: each entry (names rendered per host; a list means "first that exists").
fn load_vars_files(runner: &Arc<Runner>, play: &Play, hosts: &[String]) -> Result<(), LoadError> {
    if play.vars_files.is_empty() {
        return Ok(());
    }
    for h in hosts {
        let mut acc = Map::new();
        for (entry, span) in &play.vars_files {
            let scope = Scope::for_host(&runner.vars, h);
            let rendered = runner
                .templar
                .render_value(entry, &scope.ctx())
                .map_err(|e| LoadError::at(span, format!("vars_files: {e}")))?;
            let candidates: Vec<String> = match rendered {
                Value::Array(a) => a.iter().map(to_display_string).collect(),
                other => vec![to_display_string(&other)],
            };
            let found = candidates
                .iter()
                .map(|c| play.base_dir.join(c))
                .find(|p| p.is_file());
            let Some(path) = found else {
                return Err(LoadError::at(
                    span,
                    format!("vars file {} was not found", candidates.join(", ")),
                ));
            };
            let doc = crate::playbook::load::load_single_doc(&path)?;
            match doc.to_value() {
                Value::Object(m) => acc.extend(m),
                Value::Null => {}
                _ => return Err(LoadError::at(&doc.span, "a vars file must be a mapping")),
            }
            runner
                .vars
                .update_host(h, |s| s.vars_files = Arc::new(acc.clone()));
        }
    }
    Ok(())
}

impl PlayRun {
    /// Run the DAG: a node starts when all its predecessors are done.
    async fn execute_dag(self: Arc<Self>) {
        let g = &self.plan.graph;
        let n = g.node_count();
        let remaining: Arc<Vec<AtomicUsize>> = Arc::new(
            g.node_indices()
                .map(|i| AtomicUsize::new(g.neighbors_directed(i, Direction::Incoming).count()))
                .collect(),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<NodeIndex>();
        let mut done = 0usize;
        let mut spawned = 0usize;
        for i in g.node_indices() {
            if remaining[i.index()].load(Ordering::SeqCst) == 0 {
                self.spawn_node(i, tx.clone());
                spawned += 1;
            }
        }
        while done < spawned {
            let Some(finished) = rx.recv().await else {
                break;
            };
            done += 1;
            for succ in g.neighbors_directed(finished, Direction::Outgoing) {
                if remaining[succ.index()].fetch_sub(1, Ordering::SeqCst) == 1 {
                    self.spawn_node(succ, tx.clone());
                    spawned += 1;
                }
            }
        }
        debug_assert!(done == n || spawned < n);
    }

    fn spawn_node(
        self: &Arc<Self>,
        idx: NodeIndex,
        tx: tokio::sync::mpsc::UnboundedSender<NodeIndex>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            me.run_node(idx).await;
            let _ = tx.send(idx);
        });
    }

    /// The task id of plan leaf `i`.
    pub fn leaf_id(&self, i: usize) -> crate::output::TaskId {
        self.id_base + i as u64
    }

    fn task_end(&self, id: crate::output::TaskId) {
        self.runner.out.emit(&Event::TaskEnd { id });
    }

    async fn run_node(self: &Arc<Self>, idx: NodeIndex) {
        let node = self.plan.graph[idx].clone();
        match node {
            PlanNode::Task { host, leaf: i } => {
                let leaf = self.plan.leaves[i].clone();
                let id = self.leaf_id(i);
                super::slot::scope(id, self.run_leaf_on_host(host, &leaf, None)).await;
                if self.finished[i].fetch_add(1, Ordering::SeqCst) + 1 == self.hosts.len() {
                    self.task_end(id);
                }
            }
            PlanNode::RunOnce { leaf: i } => {
                let leaf = self.plan.leaves[i].clone();
                super::slot::scope(self.leaf_id(i), self.run_once(&leaf)).await;
                self.task_end(self.leaf_id(i));
            }
            PlanNode::FlushHandlers { after } => {
                if after != PlaySection::Facts {
                    let id = self.next_flush_id.fetch_add(1, Ordering::SeqCst);
                    super::slot::scope(id, self.flush_all()).await;
                    self.task_end(id);
                }
            }
            PlanNode::Throttled { leaf: i, limit } => {
                let leaf = self.plan.leaves[i].clone();
                let hosts: Vec<usize> = (0..self.hosts.len()).collect();
                super::slot::scope(self.leaf_id(i), self.run_ordered(&leaf, &hosts, limit)).await;
                self.task_end(self.leaf_id(i));
            }
            PlanNode::Barrier { .. } | PlanNode::PlayEnd => {
                self.check_max_fail_percentage();
                if self.runner.abort.load(Ordering::SeqCst) {
                    // any_errors_fatal: every host stops here.
                    for h in &self.hosts {
                        if let Ok(mut hr) = h.lock() {
                            hr.ended = true;
                        }
                    }
                }
                self.check_all_failed();
            }
        }
    }

    /// `max_fail_percentage`: more than that share of the batch failed: the run stops here, as
    /// it does for `any_errors_fatal`.
    fn check_max_fail_percentage(&self) {
        let Some(limit) = self
            .play
            .max_fail_percentage
            .as_ref()
            .and_then(|v| to_display_string(v).trim().parse::<f64>().ok())
        else {
            return;
        };
        let failed = self
            .hosts
            .iter()
            .filter(|h| h.lock().map(|h| h.failed || h.unreachable).unwrap_or(false))
            .count();
        let pct = 100.0 * failed as f64 / self.hosts.len().max(1) as f64;
        if pct > limit {
            self.runner.abort.store(true, Ordering::SeqCst);
        }
    }

    /// `NO MORE HOSTS LEFT` when no host can go on.
    fn check_all_failed(&self) {
        let all_done = self
            .hosts
            .iter()
            .all(|h| h.lock().map(|h| h.failed || h.unreachable).unwrap_or(true));
        if all_done && !self.ended.swap(true, Ordering::SeqCst) {
            self.runner.out.emit(&Event::NoMoreHosts);
        }
    }

    /// `run_once`: the first host still in the play runs the task; every host gets the result.
    async fn run_once(self: &Arc<Self>, leaf: &Arc<Leaf>) {
        let first = (0..self.hosts.len()).find(|&h| {
            self.hosts[h]
                .lock()
                .map(|hr| hr.eligible(&leaf.blocks))
                .unwrap_or(false)
        });
        let Some(h) = first else { return };
        let shared = self.run_leaf_on_host(h, leaf, None).await;
        for other in (0..self.hosts.len()).filter(|&i| i != h) {
            self.take_shared(other, leaf, &shared);
        }
    }

    /// Run `leaf` on `hosts` in that order, at most `limit` at once (each start waits for a
    /// slot, so with `limit` 1 they run one after another in inventory order).
    async fn run_ordered(self: &Arc<Self>, leaf: &Arc<Leaf>, hosts: &[usize], limit: usize) {
        self.included_once
            .expect(super::once::leaf_key(leaf), hosts);
        let slots = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
        let mut set = tokio::task::JoinSet::new();
        let id = super::slot::current();
        for &h in hosts {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            let leaf = leaf.clone();
            set.spawn(super::slot::scope(id, async move {
                me.run_leaf_on_host(h, &leaf, None).await;
                drop(permit);
            }));
        }
        while set.join_next().await.is_some() {}
    }

    /// Handler flush at the end of a section: each handler, in definition order, on every host
    /// that notified it (handlers notified by handlers run in the same flush).
    async fn flush_all(self: &Arc<Self>) {
        for _round in 0..16 {
            let mut notified: Vec<indexmap::IndexSet<String>> =
                Vec::with_capacity(self.hosts.len());
            for hr in &self.hosts {
                let set = match hr.lock() {
                    Ok(mut hr) => {
                        let n = std::mem::take(&mut hr.notified);
                        // A failed host runs no handlers unless forced.
                        if (hr.failed && !self.force_handlers) || hr.unreachable {
                            Default::default()
                        } else {
                            n
                        }
                    }
                    Err(_) => Default::default(),
                };
                notified.push(set);
            }
            if notified.iter().all(|n| n.is_empty()) {
                return;
            }
            for handler in self.all_handlers() {
                let name = handler.task.name.clone().unwrap_or_default();
                let hosts: Vec<usize> = (0..self.hosts.len())
                    .filter(|&h| {
                        let n = &notified[h];
                        n.contains(&name)
                            || n.contains(&handler.display_name)
                            || handler.task.listen.iter().any(|l| n.contains(l))
                    })
                    .collect();
                if hosts.is_empty() {
                    continue;
                }
                let limit = handler.throttle.unwrap_or(hosts.len());
                self.run_ordered(&handler, &hosts, limit).await;
            }
        }
    }

    /// Run the handlers notified on this host, in the order they are defined.
    pub(crate) async fn flush_handlers(self: &Arc<Self>, h: usize) {
        let (notified, failed) = match self.hosts[h].lock() {
            Ok(mut hr) => (
                std::mem::take(&mut hr.notified),
                hr.failed || hr.unreachable,
            ),
            Err(_) => return,
        };
        if notified.is_empty() || (failed && !self.force_handlers) {
            return;
        }
        if failed {
            if let Ok(mut hr) = self.hosts[h].lock() {
                hr.failed = false;
            }
        }
        let handlers = self.all_handlers();
        let mut notified = notified;
        // A handler may notify further handlers: they run in the same flush.
        for _round in 0..16 {
            for handler in handlers.iter() {
                let name = handler.task.name.clone().unwrap_or_default();
                let matches = notified.contains(&name)
                    || notified.contains(&handler.display_name)
                    || handler.task.listen.iter().any(|l| notified.contains(l));
                if matches {
                    self.run_leaf_on_host(h, handler, None).await;
                }
            }
            notified = match self.hosts[h].lock() {
                Ok(mut hr) => std::mem::take(&mut hr.notified),
                Err(_) => break,
            };
            if notified.is_empty() {
                break;
            }
        }
        if failed {
            if let Ok(mut hr) = self.hosts[h].lock() {
                hr.failed = true;
            }
        }
    }

    /// The play's handlers plus those of roles included at run time, in definition order.
    pub(crate) fn all_handlers(&self) -> Vec<Arc<Leaf>> {
        let mut v = self.plan.handlers.clone();
        if let Ok(extra) = self.extra_handlers.lock() {
            v.extend(extra.iter().cloned());
        }
        v
    }

    /// Print `TASK [...]` once per leaf (the output layer re-prints it when results of
    /// different tasks interleave).
    pub(crate) fn announce(&self, leaf: &Leaf) {
        let first = match self.plan.leaves.get(leaf.idx) {
            Some(l)
                if Arc::ptr_eq(l, &self.plan.leaves[leaf.idx])
                    && std::ptr::eq(l.as_ref(), leaf) =>
            {
                !self.started[leaf.idx].swap(true, Ordering::SeqCst)
            }
            _ => true,
        };
        if first {
            let planned = self
                .plan
                .leaves
                .get(leaf.idx)
                .is_some_and(|l| std::ptr::eq(l.as_ref(), leaf));
            let hosts = match (planned, leaf.run_once) {
                (true, true) => 1,
                (true, false) => self.hosts.len(),
                (false, _) => 0,
            };
            self.runner.out.emit(&Event::TaskStart {
                name: leaf.display_name.clone(),
                span: leaf.task.span.clone(),
                handler: leaf.is_handler(),
                id: super::slot::current(),
                hosts,
            });
        }
    }
}
