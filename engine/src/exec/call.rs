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
use super::task::TaskRun;
use super::taskenv::ExecTaskEnv;
use crate::module::{Module, ModuleContext, ModuleError, ModuleResult};
use crate::output::Event;
use crate::plan::Leaf;
use crate::playbook::action::{short_name, Action, ModuleKind};
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
pub(super) fn engine_module(kind: Action) -> Option<Arc<dyn Module>> {
    (kind == Action::Module(ModuleKind::AsyncStatus))
        .then(|| Arc::new(AsyncStatus) as Arc<dyn Module>)
}

/// One module call of a task: the module, its context, how to run it (`async`/`timeout`) and
/// the connection it uses.
pub(super) struct ModuleCall<'a> {
    pub module: &'a Arc<dyn Module>,
    pub ctx: ModuleContext<'a>,
    pub spec: JobSpec,
    pub conn: &'a Conn,
    pub task: &'a TaskRun<'a>,
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

/// A job not started yet.
type JobFut = std::pin::Pin<Box<dyn std::future::Future<Output = JobOutcome> + Send>>;

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

/// The job itself: the module on its own transport, stopped (and given time to wind down)
/// when `limit` seconds have passed; `None` then.
async fn run_job(
    module: Arc<dyn Module>,
    owned: JobCtx,
    transport: Arc<dyn Transport>,
    args: Map,
    limit: Option<u64>,
) -> JobOutcome {
    let ctx = ModuleContext {
        host: &owned.host,
        transport: transport.as_ref(),
        check_mode: owned.check_mode,
        diff: owned.diff,
        become_: owned.become_.clone(),
        environment: owned.environment.clone(),
        env: &owned.env,
        delegation: None,
    };
    let work = module.run(&ctx, args);
    tokio::pin!(work);
    let outcome = match limit {
        Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), &mut work).await {
            Ok(r) => Some(r),
            Err(_) => {
                transport.interrupt().await;
                let _ = tokio::time::timeout(WIND_DOWN, &mut work).await;
                None
            }
        },
        None => Some(work.await),
    };
    transport.close().await;
    outcome
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
    /// `timeout` (the job gets its own view of the task's variables).
    pub(super) async fn call_module(
        self: &Arc<Self>,
        call: &ModuleCall<'_>,
        args: Map,
    ) -> Result<ModuleResult, ModuleError> {
        let ctx = &call.ctx;
        if call.module.name() == ASYNC_STATUS {
            return self.async_status(ctx.host, &args);
        }
        if !call.spec.is_job() {
            return call.module.run(ctx, args).await;
        }
        let job = self.job(call, args).await?;
        let spec = call.spec;
        if spec.async_secs.filter(|a| *a > 0).is_none() {
            // `timeout:` alone: the task waits for its job.
            return self.await_timeout_job(call, job).await;
        }
        let jid = job_id();
        if spec.poll == 0 {
            return Ok(self.start_background_job(ctx.host, jid, job).into());
        }
        self.poll_job(call, jid, job).await
    }

    /// The module run as a job on a connection of its own, stopped when its time is up.
    async fn job(&self, call: &ModuleCall<'_>, args: Map) -> Result<JobFut, ModuleError> {
        let runner = &self.runner;
        let (module, conn, ctx) = (call.module, call.conn, &call.ctx);
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
        let no_log = call
            .task
            .leaf
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
            env: self.task_env(call.task),
        };
        let limit = call
            .spec
            .async_secs
            .filter(|a| *a > 0)
            .or(call.spec.timeout);
        Ok(Box::pin(run_job(
            module.clone(),
            owned,
            transport,
            args,
            limit,
        )))
    }

    /// `timeout:` without `async`: wait for the job; its time running out fails the task.
    async fn await_timeout_job(
        &self,
        call: &ModuleCall<'_>,
        job: JobFut,
    ) -> Result<ModuleResult, ModuleError> {
        let secs = call.spec.timeout.unwrap_or(0);
        match tokio::spawn(job).await {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => {
                let action = short_name(&call.task.leaf.task.action);
                let mut m = Map::new();
                m.insert("changed".into(), Value::Bool(false));
                m.insert("timedout".into(), serde_json::json!({"period": secs}));
                Err(ModuleError::with_result(
                    format!("The {action} action failed to execute in the expected time frame ({secs}) and was terminated"),
                    m,
                ))
            }
        }
    }

    /// `poll: 0`: the job runs on; the task returns its id at once.
    fn start_background_job(&self, host: &str, jid: String, job: JobFut) -> Map {
        let runner = &self.runner;
        let slot: Arc<Mutex<Option<JobOutcome>>> = Arc::new(Mutex::new(None));
        let done = slot.clone();
        let handle = tokio::spawn(super::slot::scope(super::slot::current(), async move {
            let outcome = job.await;
            if let Ok(mut d) = done.lock() {
                *d = Some(outcome);
            }
        }));
        if let Ok(mut t) = runner.jobs.table.lock() {
            let job = AsyncJob {
                host: host.to_string(),
                outcome: slot,
            };
            t.insert(jid.clone(), job);
        }
        if let Ok(mut r) = runner.jobs.running.lock() {
            r.push(handle);
        }
        let mut m = Map::new();
        m.insert("ansible_job_id".into(), Value::String(jid));
        m.insert("changed".into(), Value::Bool(true));
        m.insert("started".into(), Value::from(1));
        m.insert("finished".into(), Value::from(0));
        m
    }

    /// `async` with `poll: P`: wait for the job, reporting `ASYNC POLL` every P seconds.
    async fn poll_job(
        &self,
        call: &ModuleCall<'_>,
        jid: String,
        job: JobFut,
    ) -> Result<ModuleResult, ModuleError> {
        let mut handle = tokio::spawn(job);
        let every = Duration::from_secs(call.spec.poll.max(1));
        let poll_event = |outcome: Option<bool>| {
            self.runner.out.emit(&Event::AsyncPoll {
                host: call.ctx.host.to_string(),
                task: call.task.leaf.display_name.clone(),
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
