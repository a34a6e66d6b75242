//! How a task's module is called: on the host's shared connection, or, for `async` and
//! `timeout`, as a job on a connection of its own, so that stopping the job (its time is up)
//! stops exactly its commands on the host.
//!
//! Ansible's semantics, as ansible-core 2.18 shows them:
//! - `async: N` with `poll: P > 0`: the task waits for the job, printing `ASYNC POLL on host:
//!   jid=… started=1 finished=0` every P seconds, then `ASYNC OK`/`ASYNC FAILED`; after N
//!   seconds the job is stopped and fails with `Timeout exceeded`.
//! - `poll: 0`: the task returns at once with `ansible_job_id`, `started: 1`, `finished: 0`;
//!   `async_status: jid=…` reports the job (`finished: 1` and the module's result once done),
//!   `mode: cleanup` forgets it. Difference on purpose: kplay's controller runs the job (kplay
//!   needs no Python or wrapper on the host), so the run waits for unfinished jobs before it
//!   exits, where Ansible would leave them running on the hosts.
//! - `timeout: N`: the task fails after N seconds with Ansible's message, its commands stopped.

use super::play::PlayRun;
use super::taskenv::ExecTaskEnv;
use crate::exec::connection::CONNECTION_VARS;
use crate::module::{Module, ModuleContext, ModuleError, ModuleResult};
use crate::output::Event;
use crate::plan::Leaf;
use crate::transport::local::LocalTransport;
use crate::transport::{Become, Transport, TransportError};
use crate::value::{to_display_string, Map, Value};
use crate::vars::scope::Scope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a stopped job gets to wind down (its commands were signalled).
const WIND_DOWN: Duration = Duration::from_secs(15);
/// Ansible's `poll` when `async` is set without it.
const DEFAULT_POLL: u64 = 15;

/// The connection a task's module uses.
pub(super) struct Conn {
    pub transport: Arc<dyn Transport>,
    /// The host connected to (the delegate for `delegate_to`).
    pub host: String,
    pub kind: String,
    pub vars: Map,
}

const ASYNC_STATUS: &str = "async_status";

/// `async_status` looks like a module to the task loop (so `until`/`retries` work on it, the
/// usual way to wait for a job) but is answered by the engine from the run's job table.
struct AsyncStatus;

#[async_trait::async_trait]
impl Module for AsyncStatus {
    fn name(&self) -> &'static str {
        ASYNC_STATUS
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, _ctx: &ModuleContext<'_>, _args: Map) -> Result<ModuleResult, ModuleError> {
        Err(ModuleError::new("async_status is answered by the engine"))
    }
}

/// Modules the engine itself provides (looked up after the registry's).
pub(super) fn engine_module(action: &str) -> Option<Arc<dyn Module>> {
    (crate::playbook::keywords::short_action(action) == ASYNC_STATUS)
        .then(|| Arc::new(AsyncStatus) as Arc<dyn Module>)
}

/// `async`/`poll`/`timeout` of one task, rendered.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct JobSpec {
    pub async_secs: Option<u64>,
    pub poll: u64,
    pub timeout: Option<u64>,
}

impl JobSpec {
    fn is_job(&self) -> bool {
        self.async_secs.is_some_and(|a| a > 0) || self.timeout.is_some_and(|t| t > 0)
    }
}

/// What a job left: the module's result, or `None` when its time ran out.
type JobOutcome = Option<Result<ModuleResult, ModuleError>>;

/// A `poll: 0` job the run keeps track of for `async_status`.
pub struct AsyncJob {
    host: String,
    outcome: Arc<Mutex<Option<JobOutcome>>>,
}

/// The run's `poll: 0` jobs and the tasks running them.
#[derive(Default)]
pub struct Jobs {
    table: Mutex<HashMap<String, AsyncJob>>,
    running: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Jobs {
    /// Wait for jobs still running (the end of the run); returns how many there were.
    pub async fn wait_all(&self) -> usize {
        let handles: Vec<_> = self
            .running
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        let n = handles.iter().filter(|h| !h.is_finished()).count();
        for h in handles {
            let _ = h.await;
        }
        n
    }

    /// How many jobs are still running.
    pub fn unfinished(&self) -> usize {
        self.running
            .lock()
            .map(|r| r.iter().filter(|h| !h.is_finished()).count())
            .unwrap_or(0)
    }
}

/// Everything a job needs to run a module, owned (the task that started it may be long done).
struct JobCtx {
    host: String,
    check_mode: bool,
    diff: bool,
    become_: Option<Become>,
    environment: Vec<(String, String)>,
    env: ExecTaskEnv,
}

fn job_id() -> String {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let n = u64::from_le_bytes(buf) % 1_000_000_000_000;
    format!("j{n:012}.{}", std::process::id())
}

fn num(v: &Option<Value>, scope: &Arc<Scope>, templar: &crate::template::Templar) -> Option<u64> {
    let v = v.as_ref()?;
    let r = templar.render_value(v, &scope.ctx()).ok()?;
    to_display_string(&r)
        .trim()
        .parse::<f64>()
        .ok()
        .map(|f| f.max(0.0) as u64)
}

fn job_fields(m: &mut Map, jid: &str) {
    m.insert("ansible_job_id".into(), Value::String(jid.into()));
    m.insert("started".into(), Value::from(1));
    m.insert("finished".into(), Value::from(1));
}

/// A finished job's outcome as the task (or `async_status`) reports it.
fn job_result(jid: &str, outcome: JobOutcome) -> Result<ModuleResult, ModuleError> {
    match outcome {
        Some(Ok(mut r)) => {
            job_fields(&mut r.extra, jid);
            Ok(r)
        }
        Some(Err(mut e)) => {
            job_fields(&mut e.result, jid);
            Err(e)
        }
        None => {
            let mut m = Map::new();
            job_fields(&mut m, jid);
            m.insert("changed".into(), Value::Bool(false));
            for k in ["stdout", "stderr"] {
                m.insert(k.into(), Value::String(String::new()));
                m.insert(format!("{k}_lines"), Value::Array(vec![]));
            }
            Err(ModuleError::with_result("Timeout exceeded", m))
        }
    }
}

impl PlayRun {
    /// The connection for a task's module: the host's (or delegate's) shared one, or a local
    /// one for modules that run on the controller. `Err`: the host is unreachable (message).
    pub(super) async fn connect(
        &self,
        leaf: &Leaf,
        host: &str,
        scope: &Arc<Scope>,
        module: &dyn Module,
    ) -> Result<Conn, String> {
        let runner = &self.runner;
        let templar = &runner.templar;
        let delegate = super::task::kw_string(&leaf.keywords.delegate_to, scope, templar)
            .filter(|d| d != host);
        let conn_host = delegate.clone().unwrap_or_else(|| host.to_string());
        if module.controller_only() {
            return Ok(Conn {
                transport: Arc::new(LocalTransport::new()),
                host: conn_host,
                kind: "local".into(),
                vars: Map::new(),
            });
        }
        let conn_scope = if delegate.is_some() {
            Scope::for_host(&runner.vars, &conn_host)
        } else {
            scope.clone()
        };
        let mut cvars = Map::new();
        for name in CONNECTION_VARS {
            if let Some(v) = conn_scope.get_json(name) {
                cvars.insert(name.to_string(), v);
            }
        }
        let kw_conn = super::task::kw_string(&leaf.keywords.connection, scope, templar);
        let kind = runner
            .conns
            .kind_for(&conn_host, &cvars, kw_conn.as_deref());
        if let Some(u) = super::task::kw_string(&leaf.keywords.remote_user, scope, templar) {
            cvars.entry("ansible_user").or_insert(Value::String(u));
        }
        // The `port` keyword, where the host sets no port of its own (variables win, as in
        // Ansible).
        if let Some(p) = super::task::kw_string(&leaf.keywords.port, scope, templar) {
            if !cvars.contains_key("ansible_ssh_port") {
                cvars.entry("ansible_port").or_insert(Value::String(p));
            }
        }
        match runner.conns.get(&conn_host, &kind, &cvars).await {
            Ok(t) => Ok(Conn {
                transport: t,
                host: conn_host,
                kind,
                vars: cvars,
            }),
            Err(e) => Err(format!("Failed to connect to the host via {kind}: {e}")),
        }
    }

    /// The task's arguments over the `module_defaults` that apply to its action (innermost
    /// layer wins, the task's own arguments win over all).
    pub(super) fn task_args(&self, leaf: &Leaf) -> Map {
        if leaf.keywords.module_defaults.is_empty() {
            return leaf.task.args.clone();
        }
        let short = crate::playbook::keywords::short_action(&leaf.task.action);
        let names = [
            short.to_string(),
            format!("ansible.builtin.{short}"),
            format!("ansible.legacy.{short}"),
            leaf.task.action.clone(),
        ];
        let mut args = Map::new();
        for layer in &leaf.keywords.module_defaults {
            let maps: Vec<&Value> = match layer {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for m in maps.into_iter().filter_map(Value::as_object) {
                for (k, v) in m {
                    if let (true, Value::Object(defaults)) = (names.contains(k), v) {
                        args.extend(defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
            }
        }
        args.extend(leaf.task.args.iter().map(|(k, v)| (k.clone(), v.clone())));
        args
    }

    /// The task's `async`, `poll` and `timeout`, rendered with the host's variables.
    pub(super) fn job_spec(&self, leaf: &Leaf, scope: &Arc<Scope>, check: bool) -> JobSpec {
        let t = &self.runner.templar;
        JobSpec {
            // In check mode the module only looks: it runs in the foreground.
            async_secs: num(&leaf.task.async_, scope, t).filter(|_| !check),
            poll: num(&leaf.task.poll, scope, t).unwrap_or(DEFAULT_POLL),
            timeout: num(&leaf.keywords.timeout, scope, t),
        }
    }

    /// Run the module: in the foreground, or as a job when the task asks for `async` or
    /// `timeout` (`make_env` gives the job its own view of the task's variables).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn call_module(
        self: &Arc<Self>,
        module: &Arc<dyn Module>,
        ctx: &ModuleContext<'_>,
        args: Map,
        spec: JobSpec,
        conn: &Conn,
        leaf: &Leaf,
        make_env: &(dyn Fn() -> ExecTaskEnv + Sync),
    ) -> Result<ModuleResult, ModuleError> {
        if module.name() == ASYNC_STATUS {
            return self.async_status(ctx.host, &args);
        }
        if !spec.is_job() {
            return module.run(ctx, args).await;
        }
        let runner = &self.runner;
        let transport: Arc<dyn Transport> = if module.controller_only() {
            Arc::new(LocalTransport::new())
        } else {
            match runner
                .conns
                .open_dedicated(&conn.host, &conn.kind, &conn.vars)
                .await
            {
                Ok(t) => t,
                Err(e) => return Err(TransportError::Unreachable(e.to_string()).into()),
            }
        };
        let no_log = leaf
            .keywords
            .no_log
            .as_ref()
            .and_then(crate::value::ansible_bool)
            .unwrap_or(false);
        let transport = super::trace::wrap(
            transport,
            &conn.host,
            &runner.out,
            runner.opts.verbosity,
            no_log,
        );
        let owned = JobCtx {
            host: ctx.host.to_string(),
            check_mode: ctx.check_mode,
            diff: ctx.diff,
            become_: ctx.become_.clone(),
            environment: ctx.environment.clone(),
            env: make_env(),
        };
        let limit = match spec.async_secs.filter(|a| *a > 0) {
            Some(a) => Some(a),
            None => spec.timeout,
        };
        let module = module.clone();
        let job = async move {
            let ctx = ModuleContext {
                host: &owned.host,
                transport: transport.as_ref(),
                check_mode: owned.check_mode,
                diff: owned.diff,
                become_: owned.become_.clone(),
                environment: owned.environment.clone(),
                env: &owned.env,
            };
            let work = module.run(&ctx, args);
            tokio::pin!(work);
            let outcome = match limit {
                Some(secs) => {
                    match tokio::time::timeout(Duration::from_secs(secs), &mut work).await {
                        Ok(r) => Some(r),
                        Err(_) => {
                            transport.interrupt().await;
                            let _ = tokio::time::timeout(WIND_DOWN, &mut work).await;
                            None
                        }
                    }
                }
                None => Some(work.await),
            };
            transport.close().await;
            outcome
        };
        let action = crate::playbook::keywords::short_action(&leaf.task.action).to_string();
        let Some(_) = spec.async_secs.filter(|a| *a > 0) else {
            // `timeout:` alone: the task waits for its job.
            let secs = spec.timeout.unwrap_or(0);
            return match tokio::spawn(job).await {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => {
                    let mut m = Map::new();
                    m.insert("changed".into(), Value::Bool(false));
                    m.insert("timedout".into(), serde_json::json!({"period": secs}));
                    Err(ModuleError::with_result(
                        format!("The {action} action failed to execute in the expected time frame ({secs}) and was terminated"),
                        m,
                    ))
                }
            };
        };
        let jid = job_id();
        if spec.poll == 0 {
            let slot: Arc<Mutex<Option<JobOutcome>>> = Arc::new(Mutex::new(None));
            let done = slot.clone();
            let handle = tokio::spawn(super::slot::scope(super::slot::current(), async move {
                let outcome = job.await;
                if let Ok(mut d) = done.lock() {
                    *d = Some(outcome);
                }
            }));
            if let Ok(mut t) = runner.jobs.table.lock() {
                t.insert(
                    jid.clone(),
                    AsyncJob {
                        host: ctx.host.to_string(),
                        outcome: slot,
                    },
                );
            }
            if let Ok(mut r) = runner.jobs.running.lock() {
                r.push(handle);
            }
            let mut m = Map::new();
            m.insert("ansible_job_id".into(), Value::String(jid));
            m.insert("changed".into(), Value::Bool(true));
            m.insert("started".into(), Value::from(1));
            m.insert("finished".into(), Value::from(0));
            return Ok(m.into());
        }
        let mut handle = tokio::spawn(job);
        let every = Duration::from_secs(spec.poll.max(1));
        let poll_event = |outcome: Option<bool>| {
            runner.out.emit(&Event::AsyncPoll {
                host: ctx.host.to_string(),
                task: leaf.display_name.clone(),
                jid: jid.clone(),
                id: super::slot::current(),
                outcome,
            })
        };
        let outcome = loop {
            tokio::select! {
                r = &mut handle => break r.unwrap_or(None),
                _ = tokio::time::sleep(every) => poll_event(None),
            }
        };
        let r = job_result(&jid, outcome);
        poll_event(Some(r.is_ok() && !failed(&r)));
        r
    }

    /// `async_status: jid=… [mode=status|cleanup]`.
    pub(super) fn async_status(&self, host: &str, args: &Map) -> Result<ModuleResult, ModuleError> {
        let Some(jid) = args.get("jid").map(to_display_string) else {
            return Err(ModuleError::new("missing required arguments: jid"));
        };
        let mode = args
            .get("mode")
            .map(to_display_string)
            .unwrap_or_else(|| "status".into());
        let jobs = &self.runner.jobs;
        let not_found = || {
            let mut m = Map::new();
            job_fields(&mut m, &jid);
            m.insert("changed".into(), Value::Bool(false));
            Err(ModuleError::with_result("could not find job", m))
        };
        match mode.as_str() {
            "cleanup" => {
                let removed = jobs
                    .table
                    .lock()
                    .map(|mut t| t.remove(&jid).is_some())
                    .unwrap_or(false);
                let mut m = Map::new();
                m.insert("ansible_job_id".into(), Value::String(jid.clone()));
                m.insert("erased".into(), Value::Bool(removed));
                m.insert("changed".into(), Value::Bool(false));
                Ok(m.into())
            }
            "status" => {
                let state = jobs.table.lock().ok().and_then(|t| {
                    t.get(&jid)
                        .filter(|j| j.host == host)
                        .map(|j| j.outcome.clone())
                });
                let Some(state) = state else {
                    return not_found();
                };
                let done = state.lock().ok().and_then(|o| o.clone());
                match done {
                    Some(outcome) => job_result(&jid, outcome),
                    None => {
                        let mut m = Map::new();
                        m.insert("ansible_job_id".into(), Value::String(jid.clone()));
                        m.insert("started".into(), Value::from(1));
                        m.insert("finished".into(), Value::from(0));
                        m.insert("changed".into(), Value::Bool(false));
                        Ok(m.into())
                    }
                }
            }
            other => Err(ModuleError::new(format!(
                "value of mode must be one of: status, cleanup, got: {other}"
            ))),
        }
    }
}

fn failed(r: &Result<ModuleResult, ModuleError>) -> bool {
    match r {
        Ok(r) => r.failed,
        Err(_) => true,
    }
}
