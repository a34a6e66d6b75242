//! The live view for a terminal, on the engine's [`LiveBoard`]: the plan is printed first, then
//! the running step is a live row (`[2/4] 02-cluster-etcd`, each host's progress, elapsed time)
//! with the engine's [`LiveOutput`] adding the rows of the tasks running inside it and printing
//! failures in full as they happen. A finished step leaves one permanent line; the summary ends
//! the deploy.

use super::{fmt_duration, summary_lines, totals, Outcome, Row, View};
use crate::plan::Decision;
use console::Style;
use indexmap::IndexMap;
use kplay_engine::output::live::{LiveBoard, LiveOutput, RowId};
use kplay_engine::output::{Event, HostStats, Output, OutputOptions, Status};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Up to this many hosts are shown one by one in the step row; more are counted.
const HOSTS_BY_NAME: usize = 6;

type HostCounts = Arc<Mutex<IndexMap<String, HostStats>>>;

struct Current {
    row: RowId,
    hosts: HostCounts,
}

pub struct LiveView {
    board: Arc<LiveBoard>,
    opts: OutputOptions,
    current: Mutex<Option<Current>>,
}

impl LiveView {
    pub fn new(opts: OutputOptions) -> LiveView {
        LiveView::on(LiveBoard::stdout(opts.color), opts)
    }

    /// A view on a given board (tests draw into a buffer).
    pub fn on(board: Arc<LiveBoard>, opts: OutputOptions) -> LiveView {
        LiveView {
            board,
            opts,
            current: Mutex::new(None),
        }
    }
}

/// Each host's progress in a few words: by name for a few hosts, counted for many.
pub fn host_progress(hosts: &IndexMap<String, HostStats>) -> String {
    if hosts.len() <= HOSTS_BY_NAME {
        return hosts
            .iter()
            .map(|(h, s)| {
                let mut t = format!("{h} ok={} changed={}", s.ok, s.changed);
                if s.failed > 0 {
                    t.push_str(&format!(" failed={}", s.failed));
                }
                if s.unreachable > 0 {
                    t.push_str(" UNREACHABLE");
                }
                t
            })
            .collect::<Vec<_>>()
            .join(" · ");
    }
    let failed = hosts.values().filter(|s| s.failed > 0).count();
    let unreachable = hosts.values().filter(|s| s.unreachable > 0).count();
    let tasks: u32 = hosts.values().map(|s| s.ok + s.failed + s.skipped).sum();
    format!(
        "{} hosts: {} fine, {failed} failed, {unreachable} unreachable, {tasks} results",
        hosts.len(),
        hosts.len() - failed - unreachable
    )
}

impl View for LiveView {
    fn plan(&self, rows: &[(&'static str, Decision)], state_path: &Path) {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut text = format!("kplay deploy (state: {})", state_path.display());
        for (name, d) in rows {
            text.push_str(&format!("\n  {name:<width$}  {}", d.describe()));
        }
        self.board.println(&text);
    }

    fn step_started(&self, name: &'static str, n: usize, of: usize, _playbooks: &[PathBuf]) {
        let row = self.board.add_row(
            self.board
                .paint(Style::new().bold(), &format!("[{n}/{of}] {name}")),
        );
        if let Ok(mut c) = self.current.lock() {
            *c = Some(Current {
                row,
                hosts: Arc::default(),
            });
        }
    }

    fn engine_output(&self) -> Arc<dyn Output> {
        let (row, hosts) = match self
            .current
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| (c.row, c.hosts.clone())))
        {
            Some(x) => x,
            None => (self.board.add_row("deploy"), Arc::default()),
        };
        Arc::new(StepOutput {
            inner: LiveOutput::new(self.board.clone(), self.opts),
            board: self.board.clone(),
            row,
            hosts,
        })
    }

    fn step_finished(&self, name: &'static str, outcome: &Outcome) {
        if let Some(c) = self.current.lock().ok().and_then(|mut c| c.take()) {
            self.board.remove_row(c.row);
        }
        if let Outcome::Ran {
            code,
            elapsed,
            stats,
        } = outcome
        {
            let t = totals(stats);
            let line = if *code == 0 {
                self.board.paint(
                    Style::new().green(),
                    &format!("✔ {name} done in {}", fmt_duration(*elapsed)),
                )
            } else {
                self.board.paint(
                    Style::new().red().bold(),
                    &format!(
                        "✘ {name} FAILED (exit {code}) after {}",
                        fmt_duration(*elapsed)
                    ),
                )
            };
            self.board.println(&format!(
                "{line}  ok={} changed={} failed={} unreachable={}",
                t.ok, t.changed, t.failed, t.unreachable
            ));
        }
    }

    fn finish(&self, rows: &[Row], total: Duration, notes: &[String]) {
        self.board.clear();
        let mut text = String::new();
        for l in summary_lines(rows, total) {
            text.push('\n');
            text.push_str(&l);
        }
        for n in notes {
            text.push('\n');
            text.push_str(n);
        }
        self.board.println(&text);
    }
}

/// The engine's live output for one playbook of the running step, counting each host's results
/// for the step row on the way.
struct StepOutput {
    inner: LiveOutput,
    board: Arc<LiveBoard>,
    row: RowId,
    hosts: HostCounts,
}

impl Output for StepOutput {
    fn emit(&self, event: &Event) {
        if let Event::HostResult {
            host,
            status,
            item,
            summary,
            ignored,
            ..
        } = event
        {
            // A loop reports each item and then the whole task: count the task once.
            if item.is_none() || *summary {
                if let Ok(mut hosts) = self.hosts.lock() {
                    let s = hosts.entry(host.clone()).or_default();
                    match status {
                        Status::Ok => s.ok += 1,
                        Status::Changed => {
                            s.ok += 1;
                            s.changed += 1;
                        }
                        Status::Skipped => s.skipped += 1,
                        Status::Failed if *ignored => s.ignored += 1,
                        Status::Failed => s.failed += 1,
                        Status::Unreachable => s.unreachable += 1,
                    }
                    self.board.set_detail(self.row, host_progress(&hosts));
                }
            }
        }
        self.inner.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RunReason, SkipReason};
    use kplay_engine::span::Span;
    use std::io::Write;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn result(host: &str, status: Status) -> Event {
        Event::HostResult {
            host: host.into(),
            task: "etcd : Install etcd".into(),
            span: Span::default(),
            status,
            result: Default::default(),
            item: None,
            ignored: false,
            no_log: false,
            verbose_always: false,
            delegated_to: None,
            summary: false,
            handler: false,
            id: 1,
        }
    }

    #[test]
    fn host_progress_names_a_few_hosts_and_counts_many() {
        let mut hosts = IndexMap::new();
        hosts.insert(
            "node1".to_string(),
            HostStats {
                ok: 12,
                changed: 3,
                ..Default::default()
            },
        );
        hosts.insert(
            "node2".to_string(),
            HostStats {
                ok: 11,
                failed: 1,
                ..Default::default()
            },
        );
        assert_eq!(
            host_progress(&hosts),
            "node1 ok=12 changed=3 · node2 ok=11 changed=0 failed=1"
        );
        for i in 0..250 {
            hosts.insert(format!("n{i}"), HostStats::default());
        }
        assert_eq!(
            host_progress(&hosts),
            "252 hosts: 251 fine, 1 failed, 0 unreachable, 24 results"
        );
    }

    #[test]
    fn the_board_shows_the_plan_the_running_step_with_its_hosts_and_the_summary() {
        let buf = Buf::default();
        let board = LiveBoard::to_writer(Box::new(buf.clone()), 200, false);
        let view = LiveView::on(board, OutputOptions::default());
        view.plan(
            &[
                (
                    "00-preflight",
                    Decision::Skip(SkipReason::Finished("x".into())),
                ),
                ("02-cluster-etcd", Decision::Run(RunReason::NotDone)),
            ],
            Path::new("/s/.kplay/deploy-state.json"),
        );
        view.step_started("02-cluster-etcd", 1, 1, &[]);
        let out = view.engine_output();
        out.emit(&result("node1", Status::Changed));
        out.emit(&result("node2", Status::Ok));
        // The board redraws on its own clock (at most every 120 ms).
        std::thread::sleep(Duration::from_millis(400));
        let mut stats = IndexMap::new();
        stats.insert(
            "node1".to_string(),
            HostStats {
                ok: 1,
                changed: 1,
                ..Default::default()
            },
        );
        let ran = Outcome::Ran {
            code: 0,
            elapsed: Duration::from_secs(3),
            stats,
        };
        view.step_finished("02-cluster-etcd", &ran);
        view.finish(
            &[Row {
                name: "02-cluster-etcd",
                outcome: ran,
            }],
            Duration::from_secs(4),
            &["state: /s".into()],
        );
        let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
        assert!(
            text.contains("00-preflight     finished x, unchanged"),
            "{text}"
        );
        assert!(text.contains("[1/1] 02-cluster-etcd"), "{text}");
        assert!(
            text.contains("node1 ok=1 changed=1 · node2 ok=1 changed=0"),
            "{text}"
        );
        assert!(
            text.contains("✔ 02-cluster-etcd done in 3.0s  ok=1 changed=1"),
            "{text}"
        );
        assert!(
            text.contains("DEPLOY SUMMARY") && text.contains("state: /s"),
            "{text}"
        );
    }
}
