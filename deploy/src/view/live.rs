//! The live view for a terminal: a block redrawn in place (at most ten times a second, and every
//! quarter second for the clock) showing every step, the running one with its elapsed time and
//! current task, and one line per host with its counts and the task it is on. Failures,
//! unreachable hosts and warnings are printed in full above the block as they happen, so nothing
//! important disappears with a redraw. At the end: the summary and a PLAY RECAP over all steps.

use super::{fmt_duration, summary_lines, Outcome, Row, View};
use crate::plan::Decision;
use console::{Style, Term};
use indexmap::IndexMap;
use kplay_engine::output::recap::{python_json, recap_line};
use kplay_engine::output::{Event, HostStats, Output, Status};
use kplay_engine::value::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hosts shown one per line; the rest are counted on one line.
const MAX_HOST_LINES: usize = 8;
const REDRAW_EVERY: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, Default)]
struct HostProgress {
    stats: HostStats,
    task: String,
}

#[derive(Clone, Debug)]
enum RowState {
    Planned(String),
    Running,
    Ended(Outcome),
}

/// Everything the block shows; rendering is a pure function of it (unit-tested).
#[derive(Clone, Debug)]
struct LiveState {
    rows: Vec<(&'static str, RowState)>,
    current: Option<(&'static str, usize, usize)>,
    step_started: Instant,
    deploy_started: Instant,
    task: String,
    hosts: IndexMap<String, HostProgress>,
}

impl LiveState {
    fn new() -> LiveState {
        LiveState {
            rows: Vec::new(),
            current: None,
            step_started: Instant::now(),
            deploy_started: Instant::now(),
            task: String::new(),
            hosts: IndexMap::new(),
        }
    }

    /// The block's lines, at most `height` of them, for a clock reading `now`.
    fn render(&self, now: Instant, height: usize, color: bool) -> Vec<String> {
        let paint = |s: Style, t: &str| {
            if color {
                s.force_styling(true).apply_to(t).to_string()
            } else {
                t.to_string()
            }
        };
        let width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut head = format!(
            "kplay deploy  {}",
            fmt_duration(now.saturating_duration_since(self.deploy_started))
        );
        if let Some((name, n, of)) = self.current {
            head.push_str(&format!("   step {n}/{of}: {name}"));
        }
        let mut steps = Vec::new();
        let mut running_at = None;
        for (name, st) in &self.rows {
            let (mark, text) = match st {
                RowState::Planned(what) => (paint(Style::new().dim(), "·"), what.clone()),
                RowState::Running => {
                    running_at = Some(steps.len());
                    let elapsed = now.saturating_duration_since(self.step_started);
                    let task = if self.task.is_empty() {
                        String::new()
                    } else {
                        format!("  TASK [{}]", self.task)
                    };
                    (
                        paint(Style::new().cyan().bold(), "▶"),
                        format!("running {}{task}", fmt_duration(elapsed)),
                    )
                }
                RowState::Ended(Outcome::Ran {
                    code: 0, elapsed, ..
                }) => (
                    paint(Style::new().green(), "✔"),
                    format!("done in {}", fmt_duration(*elapsed)),
                ),
                RowState::Ended(Outcome::Ran { code, elapsed, .. }) => (
                    paint(Style::new().red().bold(), "✘"),
                    format!("FAILED (exit {code}) after {}", fmt_duration(*elapsed)),
                ),
                RowState::Ended(Outcome::Skipped(why)) => {
                    (paint(Style::new().green(), "✔"), format!("skipped: {why}"))
                }
                RowState::Ended(Outcome::NotAvailable) => {
                    (paint(Style::new().dim(), "–"), "not available yet".into())
                }
                RowState::Ended(Outcome::Waiting(on)) => {
                    (paint(Style::new().dim(), "–"), format!("waiting for {on}"))
                }
                RowState::Ended(Outcome::NotReached) => {
                    (paint(Style::new().dim(), "·"), "not run".into())
                }
            };
            steps.push(format!("  {mark} {name:<width$}  {text}"));
        }
        // Host lines go under the running step, as many as the screen leaves room for.
        let mut hosts = match running_at {
            Some(_) => self.host_lines(color),
            None => Vec::new(),
        };
        let room = height.saturating_sub(1 + steps.len());
        hosts.truncate(room);
        let mut out = vec![paint(Style::new().bold(), &head)];
        for (i, l) in steps.into_iter().enumerate() {
            out.push(l);
            if running_at == Some(i) {
                out.append(&mut hosts);
            }
        }
        out.truncate(height.max(1));
        out
    }

    fn host_lines(&self, color: bool) -> Vec<String> {
        let hw = self
            .hosts
            .keys()
            .take(MAX_HOST_LINES)
            .map(String::len)
            .max()
            .unwrap_or(0);
        let mut out = Vec::new();
        for (host, p) in self.hosts.iter().take(MAX_HOST_LINES) {
            let s = &p.stats;
            let mut counts = format!("ok={} changed={}", s.ok, s.changed);
            if s.failed > 0 {
                counts.push_str(&format!(" failed={}", s.failed));
            }
            if s.unreachable > 0 {
                counts.push_str(" UNREACHABLE");
            }
            let style = if s.failed > 0 || s.unreachable > 0 {
                Style::new().red()
            } else if s.changed > 0 {
                Style::new().yellow()
            } else {
                Style::new().green()
            };
            let host = if color {
                style
                    .force_styling(true)
                    .apply_to(format!("{host:<hw$}"))
                    .to_string()
            } else {
                format!("{host:<hw$}")
            };
            out.push(format!("      {host}  {counts:<24}  {}", p.task));
        }
        if self.hosts.len() > MAX_HOST_LINES {
            let rest: Vec<&HostProgress> = self.hosts.values().skip(MAX_HOST_LINES).collect();
            let failed = rest
                .iter()
                .filter(|p| p.stats.failed > 0 || p.stats.unreachable > 0)
                .count();
            out.push(format!(
                "      … {} more hosts ({failed} failed or unreachable)",
                rest.len()
            ));
        }
        out
    }
}

struct Inner {
    term: Term,
    color: bool,
    state: Mutex<LiveState>,
    /// Lines of the block currently on screen (to clear before a redraw).
    drawn: Mutex<usize>,
    last_draw: Mutex<Instant>,
    ticker: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
}

impl Inner {
    fn redraw(&self, force: bool) {
        let Ok(mut last) = self.last_draw.lock() else {
            return;
        };
        if !force && last.elapsed() < REDRAW_EVERY {
            return;
        }
        *last = Instant::now();
        let (rows, cols) = self.term.size();
        let lines = match self.state.lock() {
            Ok(s) => s.render(
                Instant::now(),
                (rows as usize).saturating_sub(1),
                self.color,
            ),
            Err(_) => return,
        };
        if let Ok(mut drawn) = self.drawn.lock() {
            let _ = self.term.clear_last_lines(*drawn);
            for l in &lines {
                let _ = self
                    .term
                    .write_line(&console::truncate_str(l, cols as usize, "…"));
            }
            *drawn = lines.len();
        }
    }

    /// Prints lines above the block, which is then drawn again below them.
    fn print_above(&self, text: &str) {
        if let Ok(mut drawn) = self.drawn.lock() {
            let _ = self.term.clear_last_lines(*drawn);
            *drawn = 0;
            for l in text.lines() {
                let _ = self.term.write_line(l);
            }
        }
        self.redraw(true);
    }

    fn clear(&self) {
        if let Ok(mut drawn) = self.drawn.lock() {
            let _ = self.term.clear_last_lines(*drawn);
            *drawn = 0;
        }
    }

    fn stop_ticker(&self) {
        let t = self.ticker.lock().ok().and_then(|mut t| t.take());
        if let Some((stop, handle)) = t {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

pub struct LiveView {
    inner: Arc<Inner>,
}

impl LiveView {
    pub fn new(color: bool) -> LiveView {
        LiveView {
            inner: Arc::new(Inner {
                term: Term::stdout(),
                color,
                state: Mutex::new(LiveState::new()),
                drawn: Mutex::new(0),
                last_draw: Mutex::new(Instant::now() - REDRAW_EVERY),
                ticker: Mutex::new(None),
            }),
        }
    }

    fn with_state(&self, f: impl FnOnce(&mut LiveState)) {
        if let Ok(mut s) = self.inner.state.lock() {
            f(&mut s);
        }
    }
}

impl View for LiveView {
    fn plan(&self, rows: &[(&'static str, Decision)], state_path: &Path) {
        let _ = self
            .inner
            .term
            .write_line(&format!("kplay deploy (state: {})", state_path.display()));
        self.with_state(|s| {
            s.rows = rows
                .iter()
                .map(|(n, d)| {
                    let st = match d {
                        Decision::Run(_) => RowState::Planned(d.describe()),
                        Decision::Skip(_) => RowState::Ended(Outcome::Skipped(d.describe())),
                        Decision::NotAvailable => RowState::Ended(Outcome::NotAvailable),
                        Decision::Waiting(on) => RowState::Ended(Outcome::Waiting(on.to_string())),
                    };
                    (*n, st)
                })
                .collect();
            s.deploy_started = Instant::now();
        });
        self.inner.redraw(true);
    }

    fn step_started(&self, name: &'static str, n: usize, of: usize, _playbooks: &[PathBuf]) {
        self.with_state(|s| {
            s.current = Some((name, n, of));
            s.step_started = Instant::now();
            s.task.clear();
            s.hosts.clear();
            for r in s.rows.iter_mut().filter(|r| r.0 == name) {
                r.1 = RowState::Running;
            }
        });
        self.inner.redraw(true);
        let stop = Arc::new(AtomicBool::new(false));
        let (inner, flag) = (self.inner.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(TICK);
                inner.redraw(false);
            }
        });
        if let Ok(mut t) = self.inner.ticker.lock() {
            *t = Some((stop, handle));
        }
    }

    fn engine_output(&self) -> Arc<dyn Output> {
        Arc::new(LiveSink(self.inner.clone()))
    }

    fn step_finished(&self, name: &'static str, outcome: &Outcome) {
        self.inner.stop_ticker();
        self.with_state(|s| {
            s.current = None;
            s.task.clear();
            s.hosts.clear();
            for r in s.rows.iter_mut().filter(|r| r.0 == name) {
                r.1 = RowState::Ended(outcome.clone());
            }
        });
        self.inner.redraw(true);
    }

    fn finish(&self, rows: &[Row], total: Duration, notes: &[String]) {
        self.inner.stop_ticker();
        self.inner.clear();
        let term = &self.inner.term;
        let mut per_host: IndexMap<String, HostStats> = IndexMap::new();
        for r in rows {
            if let Outcome::Ran { stats, .. } = &r.outcome {
                for (h, s) in stats {
                    let t = per_host.entry(h.clone()).or_default();
                    t.ok += s.ok;
                    t.changed += s.changed;
                    t.unreachable += s.unreachable;
                    t.failed += s.failed;
                    t.skipped += s.skipped;
                    t.rescued += s.rescued;
                    t.ignored += s.ignored;
                }
            }
        }
        if !per_host.is_empty() {
            let _ = term.write_line(&format!("\nPLAY RECAP (all steps) {}", "*".repeat(56)));
            per_host.sort_keys();
            for (h, s) in &per_host {
                let _ = term.write_line(&recap_line(h, s, self.inner.color));
            }
        }
        let _ = term.write_line("");
        for l in summary_lines(rows, total) {
            let _ = term.write_line(&l);
        }
        for n in notes {
            let _ = term.write_line(n);
        }
    }
}

/// The engine's events for the running step.
struct LiveSink(Arc<Inner>);

fn clean(result: &Map) -> Value {
    Value::Object(
        result
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("_ansible") && !k.starts_with("_kplay") && k.as_str() != "invocation"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

impl Output for LiveSink {
    fn emit(&self, event: &Event) {
        let mut above = None;
        match event {
            Event::TaskStart { name, .. } => {
                if let Ok(mut s) = self.0.state.lock() {
                    s.task = name.clone();
                }
            }
            Event::HostResult {
                host,
                task,
                status,
                result,
                item,
                ignored,
                no_log,
                summary,
                ..
            } => {
                if let Ok(mut s) = self.0.state.lock() {
                    let p = s.hosts.entry(host.clone()).or_default();
                    p.task = task.clone();
                    // A loop reports each item and then the whole task: count the task once.
                    if item.is_none() || *summary {
                        match status {
                            Status::Ok => p.stats.ok += 1,
                            Status::Changed => {
                                p.stats.ok += 1;
                                p.stats.changed += 1
                            }
                            Status::Skipped => p.stats.skipped += 1,
                            Status::Failed if *ignored => p.stats.ignored += 1,
                            Status::Failed => p.stats.failed += 1,
                            Status::Unreachable => p.stats.unreachable += 1,
                        }
                    }
                }
                let body = if *no_log {
                    Value::String(kplay_engine::output::console::CENSORED.into())
                } else {
                    clean(result)
                };
                let shown = python_json(&body, false);
                match status {
                    Status::Failed if !*ignored => {
                        above = Some(format!(
                            "fatal: [{host}]: FAILED! => {shown}\n  (task: {task})"
                        ))
                    }
                    Status::Unreachable => {
                        above = Some(format!("fatal: [{host}]: UNREACHABLE! => {shown}"))
                    }
                    _ => {}
                }
            }
            Event::Warning(w) => above = Some(format!("[WARNING]: {w}")),
            _ => {}
        }
        match above {
            Some(text) => {
                let text = if self.0.color {
                    Style::new()
                        .red()
                        .force_styling(true)
                        .apply_to(text)
                        .to_string()
                } else {
                    text
                };
                self.0.print_above(&text)
            }
            None => self.0.redraw(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LiveState {
        let mut s = LiveState::new();
        s.rows = vec![
            (
                "00-preflight",
                RowState::Ended(Outcome::Skipped("finished x, unchanged".into())),
            ),
            ("01-cluster-bootstrap-os", RowState::Running),
            ("02-cluster-etcd", RowState::Planned("to run".into())),
            (
                "03-cluster-kubernetes",
                RowState::Ended(Outcome::NotAvailable),
            ),
        ];
        s.current = Some(("01-cluster-bootstrap-os", 1, 2));
        s.task = "containerd : Install containerd".into();
        s
    }

    #[test]
    fn the_block_shows_steps_current_task_hosts_and_elapsed_time() {
        let mut s = state();
        for (h, failed) in [("node1", 0), ("node2", 1)] {
            s.hosts.insert(
                h.into(),
                HostProgress {
                    stats: HostStats {
                        ok: 5,
                        changed: 2,
                        failed,
                        ..Default::default()
                    },
                    task: "containerd : Install containerd".into(),
                },
            );
        }
        let now = s.step_started + Duration::from_secs(41);
        let lines = s.render(now, 50, false);
        assert!(
            lines[0].contains("step 1/2: 01-cluster-bootstrap-os"),
            "{lines:?}"
        );
        assert!(lines[1].contains("✔ 00-preflight") && lines[1].contains("skipped"));
        assert!(
            lines[2].contains("▶ 01-cluster-bootstrap-os")
                && lines[2].contains("running 41.0s")
                && lines[2].contains("TASK [containerd : Install containerd]"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("node1") && lines[3].contains("ok=5 changed=2"));
        assert!(lines[4].contains("node2") && lines[4].contains("failed=1"));
        assert!(lines[5].contains("· 02-cluster-etcd") && lines[5].contains("to run"));
        assert!(
            lines[6].contains("03-cluster-kubernetes") && lines[6].contains("not available yet")
        );
    }

    #[test]
    fn many_hosts_are_summarised_and_the_block_fits_the_screen() {
        let mut s = state();
        for i in 0..250 {
            let mut p = HostProgress::default();
            if i == 200 {
                p.stats.unreachable = 1;
            }
            s.hosts.insert(format!("node{i:03}"), p);
        }
        let lines = s.render(Instant::now(), 100, false);
        assert_eq!(lines.len(), 1 + 4 + MAX_HOST_LINES + 1);
        assert!(lines
            .iter()
            .any(|l| l.contains("… 242 more hosts (1 failed or unreachable)")));
        let small = s.render(Instant::now(), 6, false);
        assert_eq!(small.len(), 6);
        assert!(small[2].contains("01-cluster-bootstrap-os"));
    }
}
