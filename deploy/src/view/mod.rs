//! What an operator sees of a deploy, at the level of steps. Two renderings of the same calls:
//! `plain` (step banners around the engine's own Ansible-style output: what a log file or CI
//! wants) and `live` (a redrawn block with the current step, per-host progress and elapsed time,
//! failures printed in full as they happen: what a terminal wants). Both end with the same
//! summary: each step, its outcome and its time.
//!
//! The task-level rendering stays the engine's ([`kplay_engine::output`]); this module only wraps
//! it, so a richer task view from the engine can replace the plain one without touching steps.

pub mod live;
pub mod plain;

use crate::plan::Decision;
use indexmap::IndexMap;
use kplay_engine::output::{HostStats, Output};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a step ended up in this deploy.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Ran; exit code 0 means every host succeeded.
    Ran {
        code: i32,
        elapsed: Duration,
        stats: IndexMap<String, HostStats>,
    },
    /// Not run, with why (finished and unchanged, not selected, …).
    Skipped(String),
    NotAvailable,
    /// A hook stage waiting for a step that is not available yet.
    Waiting(String),
    /// Would have run, but an earlier step failed.
    NotReached,
}

/// One line of the plan or the summary.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: &'static str,
    pub outcome: Outcome,
}

/// The step-level view of a deploy.
pub trait View: Send + Sync {
    /// Before anything runs: every step and what this deploy will do with it.
    fn plan(&self, rows: &[(&'static str, Decision)], state_path: &std::path::Path);
    /// A step starts (`n` of `of` steps that run), with the playbooks it runs.
    fn step_started(&self, name: &'static str, n: usize, of: usize, playbooks: &[PathBuf]);
    /// The output the engine writes one playbook's events to.
    fn engine_output(&self) -> Arc<dyn Output>;
    /// A step ended.
    fn step_finished(&self, name: &'static str, outcome: &Outcome);
    /// After the last step: the summary, then notes (where the state is, how to resume).
    fn finish(&self, rows: &[Row], total: Duration, notes: &[String]);
}

/// `12.3s`, `2m05s`, `1h02m`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s as u64) % 60)
    } else {
        format!("{}h{:02}m", (s / 3600.0) as u64, ((s as u64) / 60) % 60)
    }
}

/// Sum of every host's counts.
pub fn totals(stats: &IndexMap<String, HostStats>) -> HostStats {
    let mut t = HostStats::default();
    for s in stats.values() {
        t.ok += s.ok;
        t.changed += s.changed;
        t.failed += s.failed;
        t.unreachable += s.unreachable;
        t.skipped += s.skipped;
    }
    t
}

/// The summary lines (no trailing newline). `ok=`/`changed=` totals let scripts check that a
/// re-run changed nothing.
pub fn summary_lines(rows: &[Row], total: Duration) -> Vec<String> {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(24);
    let mut out = vec![format!("DEPLOY SUMMARY {}", "*".repeat(64))];
    for r in rows {
        let text = match &r.outcome {
            Outcome::Ran {
                code,
                elapsed,
                stats,
            } => {
                let t = totals(stats);
                let word = if *code == 0 { "done" } else { "FAILED" };
                format!(
                    "{word:<9} {:>8}  ok={} changed={} failed={} unreachable={}",
                    fmt_duration(*elapsed),
                    t.ok,
                    t.changed,
                    t.failed,
                    t.unreachable
                )
            }
            Outcome::Skipped(why) => format!("skipped   {why}"),
            Outcome::NotAvailable => "not available yet".to_string(),
            Outcome::Waiting(on) => format!("waiting   for {on}"),
            Outcome::NotReached => "not run   (an earlier step failed)".to_string(),
        };
        out.push(format!("{:<width$}  {text}", r.name));
    }
    out.push(format!(
        "{:<width$}  {:<9} {:>8}",
        "total",
        "",
        fmt_duration(total)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_stopwatch() {
        assert_eq!(fmt_duration(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(fmt_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn the_summary_has_one_line_per_step_with_time_and_totals() {
        let mut stats = IndexMap::new();
        stats.insert(
            "n1".to_string(),
            HostStats {
                ok: 3,
                changed: 1,
                ..Default::default()
            },
        );
        stats.insert(
            "n2".to_string(),
            HostStats {
                ok: 2,
                ..Default::default()
            },
        );
        let rows = [
            Row {
                name: "00-preflight",
                outcome: Outcome::Skipped("finished 2024-01-01T00:00:00Z, unchanged".into()),
            },
            Row {
                name: "01-cluster-bootstrap-os",
                outcome: Outcome::Ran {
                    code: 0,
                    elapsed: Duration::from_secs(75),
                    stats,
                },
            },
            Row {
                name: "03-cluster-kubernetes",
                outcome: Outcome::NotAvailable,
            },
        ];
        let lines = summary_lines(&rows, Duration::from_secs(80));
        assert!(lines[0].starts_with("DEPLOY SUMMARY"));
        assert!(lines[1].starts_with("00-preflight ") && lines[1].contains("skipped"));
        assert!(
            lines[2].contains("done")
                && lines[2].contains("1m15s")
                && lines[2].contains("ok=5 changed=1 failed=0 unreachable=0"),
            "{}",
            lines[2]
        );
        assert!(lines[3].ends_with("not available yet"));
        assert!(lines[4].starts_with("total") && lines[4].ends_with("1m20s"));
        // Nothing that a PLAY RECAP parser would take for a host line.
        assert!(lines.iter().all(|l| !l.contains(" : ")));
    }
}
