//! What the executor tells the user. The executor emits [`Event`]s; an [`Output`] renders them
//! (Ansible's console lines, or one JSON object per line) and keeps no run state of its own
//! beyond what it needs for formatting.

pub mod adhoc;
pub mod console;
pub mod json;
pub mod recap;

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
    },
    /// `FAILED - RETRYING: [host]: task (N retries left).`
    Retrying {
        host: String,
        task: String,
        retries_left: u64,
        result: Map,
    },
    /// `included: file for host`
    Included {
        file: String,
        host: String,
    },
    /// `[WARNING]: ...` on stderr.
    Warning(String),
    /// `skipping: no hosts matched`
    NoHostsMatched,
    /// `NO MORE HOSTS LEFT` when every host of a play has failed.
    NoMoreHosts,
    Recap {
        stats: IndexMap<String, HostStats>,
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
}
