//! What the executor tells the user. The executor emits [`Event`]s; an [`Output`] renders them:
//!
//! - [`console::ConsoleOutput`]: Ansible's lines (banners, `ok:`/`changed:`/`fatal:`, diffs,
//!   PLAY RECAP) for logs and pipes. Hosts advance through a play independently, so results of
//!   different tasks arrive interleaved; they are grouped per task ([`group`]), so each task
//!   shows one banner with all its results under it, in task order.
//! - [`live::LiveOutput`]: on a terminal, a compact live view: one line per running task with
//!   per-status host counts, failures printed in full as they happen, a summary line per
//!   finished task and the recap. Its [`live::LiveBoard`] is a small public piece of its own
//!   that other front ends (`kplay deploy`) use for their own progress lines.
//! - [`json::JsonOutput`]: every event as one JSON object per line (schema in README).
//! - [`adhoc::AdhocOutput`]: the `ansible` command's lines for `kplay adhoc`.
//!
//! Everything printed on stdout goes through [`sink`], so a closed pipe ends the run quietly.

pub mod adhoc;
pub mod console;
pub mod gate;
pub mod group;
pub mod json;
pub mod live;
pub mod profile;
pub mod recap;
pub mod render;
pub mod sink;

use crate::span::Span;
use crate::value::{Map, Value};
use indexmap::IndexMap;

/// The outcome of one task (or one loop item) on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

/// Identifies one task of a play batch (a leaf of the plan, or a handler flush) in the order the
/// plan runs them: a task with a lower id comes before one with a higher id. Tasks that a
/// dynamic include brings in, and handlers run by `meta: flush_handlers`, carry the id of the
/// task that brought them in. 0: not tied to a task.
pub type TaskId = u64;

#[derive(Clone, Debug)]
pub enum Event {
    PlaybookStart {
        file: String,
    },
    PlayStart {
        name: String,
        span: Span,
        hosts: Vec<String>,
    },
    /// `TASK [role : name]`, or `RUNNING HANDLER [...]` when `handler` is set. `name` already
    /// carries the `role : ` prefix; for a nameless task it is the action (`command`).
    TaskStart {
        name: String,
        span: Span,
        handler: bool,
        id: TaskId,
        /// How many hosts will report a result (0: not known, e.g. for included tasks).
        hosts: usize,
    },
    /// Every host of the batch is past task `id` (its results are all in).
    TaskEnd {
        id: TaskId,
    },
    /// One host's result for the current task (or one loop item of it when `item` is set).
    HostResult {
        host: String,
        task: String,
        span: Span,
        status: Status,
        /// The module result in Ansible's shape (`changed`, `msg`, `rc` …).
        result: Map,
        /// Loop item label (already rendered) when this is a per-item line.
        item: Option<Value>,
        /// `ignore_errors` turned a failure into "...ignoring".
        ignored: bool,
        /// `no_log: true`: the result must not be shown in any output.
        no_log: bool,
        /// The task is `debug`: its result is always shown, as Ansible does.
        verbose_always: bool,
        /// Where the task ran when delegated (`delegate_to`), else None.
        delegated_to: Option<String>,
        /// The aggregate result of a loop (its items were shown one by one).
        summary: bool,
        /// The task is a handler.
        handler: bool,
        id: TaskId,
    },
    /// `FAILED - RETRYING: [host]: task (N retries left).`
    Retrying {
        host: String,
        task: String,
        retries_left: u64,
        result: Map,
        id: TaskId,
    },
    /// `ASYNC POLL on host: jid=… started=1 finished=0` while an `async` task runs (`outcome`
    /// None), then `ASYNC OK on host: jid=…` (`Some(true)`) or `ASYNC FAILED …` (`Some(false)`).
    AsyncPoll {
        host: String,
        task: String,
        jid: String,
        outcome: Option<bool>,
        id: TaskId,
    },
    /// `included: file for host`
    Included {
        file: String,
        host: String,
        id: TaskId,
    },
    /// Text a task shows the user as it runs (`pause`: "Pausing for 5 seconds").
    Message {
        text: String,
        id: TaskId,
    },
    /// `-vvv`/`-vvvv` detail: connections opened, commands run (secrets masked).
    Trace {
        host: String,
        /// The `-v` count from which it shows (3 or 4).
        level: u8,
        text: String,
    },
    /// `[WARNING]: ...` on stderr.
    Warning(String),
    /// `skipping: no hosts matched`
    NoHostsMatched,
    /// `NO MORE HOSTS LEFT` when every host of a play has failed.
    NoMoreHosts,
    Recap {
        stats: IndexMap<String, HostStats>,
        /// `set_stats` data: per host, and run-wide under `_run`.
        custom: IndexMap<String, crate::value::Map>,
        exit_code: i32,
    },
}

/// A host's line in PLAY RECAP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// A renderer of events.
pub trait Output: Send + Sync {
    fn emit(&self, event: &Event);

    /// Stop drawing anything that moves (a live view) while the caller talks to the user on
    /// the terminal (`pause`, `vars_prompt`, `--step`); [`Output::resume`] draws again.
    fn suspend(&self) {}

    fn resume(&self) {}
}

impl Event {
    /// The task an event belongs to, if any.
    pub fn task_id(&self) -> Option<TaskId> {
        match self {
            Event::TaskStart { id, .. }
            | Event::TaskEnd { id }
            | Event::HostResult { id, .. }
            | Event::Retrying { id, .. }
            | Event::AsyncPoll { id, .. }
            | Event::Included { id, .. }
            | Event::Message { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Verbosity and format chosen on the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputOptions {
    /// Number of `-v`.
    pub verbosity: u8,
    /// `--diff`: show diffs of changed tasks.
    pub diff: bool,
    /// Colour: decided by the caller (terminal and no `NO_COLOR`).
    pub color: bool,
    /// Show results as YAML instead of JSON (`stdout_callback = yaml`,
    /// `callback_result_format = yaml`).
    pub yaml: bool,
    /// `show_custom_stats`: `CUSTOM STATS` after the recap.
    pub custom_stats: bool,
}
