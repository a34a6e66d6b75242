//! The compact live view for a terminal.
//!
//! [`LiveBoard`] is the reusable piece: a few "live rows" kept at the bottom of the terminal
//! (spinner, label, detail, elapsed time), redrawn in place, with permanent lines printed above
//! them. It knows nothing about plays or tasks, so any front end can show its own progress on
//! it; `kplay deploy` shows one row per deployment step and lets [`LiveOutput`] add the rows
//! of the tasks running inside the step:
//!
//! ```no_run
//! use kplay_engine::output::live::{LiveBoard, LiveOutput};
//! use kplay_engine::output::OutputOptions;
//! let board = LiveBoard::stdout(true);
//! let step = board.add_row("02-cluster-etcd");
//! board.set_detail(step, "3 hosts");
//! // … run the step's playbook with this output: its task rows appear under the step row.
//! let out = LiveOutput::new(board.clone(), OutputOptions::default());
//! board.println("02-cluster-etcd done in 41 s");
//! board.remove_row(step);
//! ```
//!
//! [`LiveOutput`] is the engine's [`Output`] on top of it: one row per running task with its
//! per-status host counts, failures and unreachable hosts printed in full as they happen (under
//! the task's banner, as Ansible prints them), `debug` output and diffs too, a one-line summary
//! per finished task, and the PLAY RECAP at the end.

use super::render::{Renderer, TaskKey};
use super::{sink, Event, Output, OutputOptions, Status, TaskId};
use console::Style;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A live row on a [`LiveBoard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowId(u64);

struct Row {
    id: RowId,
    label: String,
    detail: String,
    started: Instant,
}

struct Board {
    out: Box<dyn Write + Send>,
    /// Terminal width, or a fixed width (tests).
    width: Option<usize>,
    rows: Vec<Row>,
    /// Lines of rows currently on the screen, below the permanent output.
    drawn: usize,
    suspended: bool,
    dirty: bool,
    last_draw: Option<Instant>,
    frame: usize,
    next: u64,
}

/// Live rows at the bottom of a terminal with permanent lines above them (see module docs).
/// Every method is cheap and may be called from any thread.
pub struct LiveBoard {
    board: Mutex<Board>,
    color: bool,
}

/// Writes through [`sink`], so a closed terminal ends the run like a closed pipe.
struct SinkWriter;

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sink::text(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// At most this many rows are drawn; the rest are counted in one line.
const MAX_ROWS: usize = 12;
/// Redraws at most this often for changes (the spinner ticks at the same pace).
const FRAME: Duration = Duration::from_millis(120);

impl LiveBoard {
    /// A board drawing on stdout (which the caller has checked is a terminal).
    pub fn stdout(color: bool) -> Arc<LiveBoard> {
        Self::start(Box::new(SinkWriter), None, color)
    }

    /// A board drawing into `out` as if on a terminal `width` columns wide.
    pub fn to_writer(out: Box<dyn Write + Send>, width: usize, color: bool) -> Arc<LiveBoard> {
        Self::start(out, Some(width), color)
    }

    fn start(out: Box<dyn Write + Send>, width: Option<usize>, color: bool) -> Arc<LiveBoard> {
        let b = Arc::new(LiveBoard {
            board: Mutex::new(Board {
                out,
                width,
                rows: Vec::new(),
                drawn: 0,
                suspended: false,
                dirty: false,
                last_draw: None,
                frame: 0,
                next: 1,
            }),
            color,
        });
        let weak: Weak<LiveBoard> = Arc::downgrade(&b);
        let _ = std::thread::Builder::new()
            .name("kplay-live".into())
            .spawn(move || loop {
                std::thread::sleep(FRAME);
                let Some(b) = weak.upgrade() else { return };
                b.with(|st| {
                    if !st.rows.is_empty() {
                        st.frame += 1;
                        st.dirty = true;
                    }
                    b.draw(st, false);
                });
            });
        b
    }

    fn with<R>(&self, f: impl FnOnce(&mut Board) -> R) -> Option<R> {
        self.board.lock().ok().map(|mut b| f(&mut b))
    }

    /// Add a row at the bottom; it shows `label` and its elapsed time until removed.
    pub fn add_row(&self, label: impl Into<String>) -> RowId {
        let label = label.into();
        self.with(|st| {
            let id = RowId(st.next);
            st.next += 1;
            st.rows.push(Row {
                id,
                label,
                detail: String::new(),
                started: Instant::now(),
            });
            st.dirty = true;
            self.draw(st, false);
            id
        })
        .unwrap_or(RowId(0))
    }

    /// The text after a row's label (counts, progress).
    pub fn set_detail(&self, row: RowId, detail: impl Into<String>) {
        let detail = detail.into();
        self.with(|st| {
            if let Some(r) = st.rows.iter_mut().find(|r| r.id == row) {
                if r.detail != detail {
                    r.detail = detail;
                    st.dirty = true;
                }
            }
            self.draw(st, false);
        });
    }

    pub fn set_label(&self, row: RowId, label: impl Into<String>) {
        let label = label.into();
        self.with(|st| {
            if let Some(r) = st.rows.iter_mut().find(|r| r.id == row) {
                r.label = label;
                st.dirty = true;
            }
            self.draw(st, false);
        });
    }

    /// How long a row has been shown.
    pub fn elapsed(&self, row: RowId) -> Option<Duration> {
        self.with(|st| {
            st.rows
                .iter()
                .find(|r| r.id == row)
                .map(|r| r.started.elapsed())
        })
        .flatten()
    }

    pub fn remove_row(&self, row: RowId) {
        self.with(|st| {
            st.rows.retain(|r| r.id != row);
            st.dirty = true;
            self.draw(st, true);
        });
    }

    /// Print a permanent line (it may hold line breaks) above the live rows.
    pub fn println(&self, text: &str) {
        self.with(|st| {
            self.erase(st);
            let _ = writeln!(st.out, "{text}");
            st.dirty = true;
            self.draw(st, true);
        });
    }

    /// Print a permanent line on stderr (warnings) without tearing the live rows.
    pub fn eprintln(&self, text: &str) {
        self.with(|st| {
            self.erase(st);
            let _ = st.out.flush();
            sink::err_line(text);
            st.dirty = true;
            self.draw(st, true);
        });
    }

    /// Take the rows off the screen and draw nothing until [`LiveBoard::resume`] (the caller
    /// talks to the user on the terminal meanwhile).
    pub fn suspend(&self) {
        self.with(|st| {
            self.erase(st);
            st.suspended = true;
        });
    }

    pub fn resume(&self) {
        self.with(|st| {
            st.suspended = false;
            st.dirty = true;
            self.draw(st, true);
        });
    }

    /// Remove every row (the end of a run).
    pub fn clear(&self) {
        self.with(|st| {
            st.rows.clear();
            self.erase(st);
        });
    }

    fn erase(&self, st: &mut Board) {
        if st.drawn > 0 {
            let mut s = String::from("\r");
            for _ in 0..st.drawn {
                s.push_str("\x1b[1A\x1b[2K");
            }
            let _ = st.out.write_all(s.as_bytes());
            st.drawn = 0;
        }
    }

    fn draw(&self, st: &mut Board, now: bool) {
        if st.suspended || !st.dirty {
            return;
        }
        if !now && st.last_draw.is_some_and(|t| t.elapsed() < FRAME) {
            return;
        }
        let width = st
            .width
            .unwrap_or_else(|| usize::from(console::Term::stdout().size().1))
            .max(20);
        let mut lines: Vec<String> = Vec::new();
        let shown = st.rows.len().min(MAX_ROWS);
        for r in &st.rows[..shown] {
            let spin = SPINNER[st.frame % SPINNER.len()];
            let secs = r.started.elapsed().as_secs_f64();
            let detail = if r.detail.is_empty() {
                String::new()
            } else {
                format!("  {}", r.detail)
            };
            let line = format!(
                "{} {}{detail}  {}",
                self.paint(Style::new().cyan(), spin),
                r.label,
                self.paint(Style::new().dim(), &format!("{secs:.1}s"))
            );
            lines.push(console::truncate_str(&line, width - 1, "…").into_owned());
        }
        if st.rows.len() > shown {
            lines.push(format!("  … and {} more running", st.rows.len() - shown));
        }
        self.erase(st);
        let mut s = String::new();
        for l in &lines {
            s.push_str(l);
            s.push('\n');
        }
        let _ = st.out.write_all(s.as_bytes());
        let _ = st.out.flush();
        st.drawn = lines.len();
        st.dirty = false;
        st.last_draw = Some(Instant::now());
    }

    /// `text` in `style` when the board is coloured.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }
}

/// One running task on the board.
struct TaskRow {
    row: RowId,
    key: TaskKey,
    /// Each host's outcome so far (loops report item by item).
    hosts: HashMap<String, Status>,
    ignored: usize,
    retries: usize,
    total: usize,
}

/// The engine's output on a [`LiveBoard`] (see module docs).
pub struct LiveOutput {
    board: Arc<LiveBoard>,
    render: Renderer,
    state: Mutex<LiveState>,
}

#[derive(Default)]
struct LiveState {
    tasks: Vec<(TaskId, TaskRow)>,
    last_banner: Option<TaskKey>,
}

/// How a host's status merges with a later item's: the worst one stays.
fn merge(prev: Option<Status>, new: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Skipped => 0,
        Status::Ok => 1,
        Status::Changed => 2,
        Status::Failed => 3,
        Status::Unreachable => 4,
    };
    match prev {
        Some(p) if rank(p) >= rank(new) => p,
        _ => new,
    }
}

impl LiveOutput {
    pub fn new(board: Arc<LiveBoard>, opts: OutputOptions) -> Self {
        LiveOutput {
            board,
            render: Renderer::new(opts),
            state: Mutex::new(LiveState::default()),
        }
    }

    pub fn board(&self) -> &Arc<LiveBoard> {
        &self.board
    }

    /// `ok=3 changed=1 failed=1`, coloured like the recap, zeros left out.
    fn counts(&self, t: &TaskRow) -> String {
        let mut n = [0usize; 5];
        for s in t.hosts.values() {
            n[*s as usize] += 1;
        }
        let parts = [
            ("ok", n[Status::Ok as usize], Style::new().green()),
            (
                "changed",
                n[Status::Changed as usize],
                Style::new().yellow(),
            ),
            (
                "unreachable",
                n[Status::Unreachable as usize],
                Style::new().red().bright(),
            ),
            ("failed", n[Status::Failed as usize], Style::new().red()),
            ("skipped", n[Status::Skipped as usize], Style::new().cyan()),
            ("ignored", t.ignored, Style::new().blue()),
            ("retries", t.retries, Style::new().magenta()),
        ];
        parts
            .iter()
            .filter(|(_, c, _)| *c > 0)
            .map(|(w, c, st)| self.board.paint(st.clone(), &format!("{w}={c}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn label(key: &TaskKey) -> String {
        let kind = if key.handler {
            "RUNNING HANDLER"
        } else {
            "TASK"
        };
        format!("{kind} [{}]", key.name)
    }

    fn detail(&self, t: &TaskRow) -> String {
        let counts = self.counts(t);
        if t.total > 0 {
            format!("{counts}  {}/{} hosts", t.hosts.len(), t.total)
        } else {
            counts
        }
    }

    fn task<'a>(
        &self,
        st: &'a mut LiveState,
        id: TaskId,
        key: &TaskKey,
        total: usize,
    ) -> &'a mut TaskRow {
        let i = match st.tasks.iter().position(|(i, t)| *i == id && &t.key == key) {
            Some(i) => i,
            None => {
                let row = self.board.add_row(Self::label(key));
                st.tasks.push((
                    id,
                    TaskRow {
                        row,
                        key: key.clone(),
                        hosts: HashMap::new(),
                        ignored: 0,
                        retries: 0,
                        total,
                    },
                ));
                st.tasks.len() - 1
            }
        };
        &mut st.tasks[i].1
    }

    /// Permanent lines under the task's banner (printed when another banner came last).
    fn print_under(&self, st: &mut LiveState, key: &TaskKey, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let mut text = String::new();
        if st.last_banner.as_ref() != Some(key) {
            text.push_str(&self.render.task_banner(key));
            text.push('\n');
            st.last_banner = Some(key.clone());
        }
        text.push_str(&lines.join("\n"));
        self.board.println(&text);
    }

    fn finish_task(&self, st: &mut LiveState, t: TaskRow) {
        let elapsed = self.board.elapsed(t.row).unwrap_or_default();
        self.board.remove_row(t.row);
        if t.hosts.is_empty() && t.ignored == 0 {
            return;
        }
        let hosts = t.hosts.len();
        let line = format!(
            "{} {}  ({} host{}, {:.1}s)",
            Self::label(&t.key),
            self.counts(&TaskRow { retries: 0, ..t }),
            hosts,
            if hosts == 1 { "" } else { "s" },
            elapsed.as_secs_f64()
        );
        st.last_banner = None;
        self.board.println(&line);
    }
}

impl Output for LiveOutput {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let r = &self.render;
        match event {
            Event::PlaybookStart { .. } | Event::Included { .. } | Event::AsyncPoll { .. } => {}
            Event::TaskStart {
                name,
                span,
                handler,
                id,
                hosts,
            } => {
                let key = TaskKey {
                    name: name.clone(),
                    span: span.to_string(),
                    handler: *handler,
                };
                self.task(&mut st, *id, &key, *hosts);
            }
            Event::HostResult {
                host,
                task,
                span,
                handler,
                id,
                status,
                item,
                ignored,
                summary,
                verbose_always,
                ..
            } => {
                let key = TaskKey {
                    name: task.clone(),
                    span: span.to_string(),
                    handler: *handler,
                };
                let t = self.task(&mut st, *id, &key, 0);
                if *summary {
                    if *ignored {
                        t.ignored += 1;
                    }
                } else {
                    let prev = t.hosts.get(host).copied();
                    let mut s = merge(prev, *status);
                    if *ignored && item.is_none() {
                        // An ignored failure counts as ok, as in the recap.
                        t.ignored += 1;
                        s = merge(prev, Status::Ok);
                    }
                    t.hosts.insert(host.clone(), s);
                }
                let (row, detail) = (t.row, self.detail(t));
                self.board.set_detail(row, detail);
                let full = matches!(status, Status::Failed | Status::Unreachable)
                    || *verbose_always
                    || *ignored
                    || self.render.opts.diff;
                if full {
                    let mut lines = r.host_result(event);
                    if !matches!(status, Status::Failed | Status::Unreachable)
                        && !*verbose_always
                        && lines.len() <= 1
                    {
                        // --diff with nothing to show for an ok/changed result.
                        lines.clear();
                    }
                    self.print_under(&mut st, &key, &lines);
                }
            }
            Event::Retrying { task, id, .. } => {
                if let Some((_, t)) = st
                    .tasks
                    .iter_mut()
                    .find(|(i, t)| i == id && &t.key.name == task)
                {
                    t.retries += 1;
                    let (row, detail) = (t.row, self.detail(t));
                    self.board.set_detail(row, detail);
                }
            }
            Event::TaskEnd { id } => {
                let mut done = Vec::new();
                let mut i = 0;
                while i < st.tasks.len() {
                    if st.tasks[i].0 == *id {
                        done.push(st.tasks.remove(i).1);
                    } else {
                        i += 1;
                    }
                }
                for t in done {
                    self.finish_task(&mut st, t);
                }
            }
            Event::Message { text, .. } => self.board.println(text),
            Event::Warning(msg) => self
                .board
                .eprintln(&r.style(Style::new().magenta(), &format!("[WARNING]: {msg}"))),
            Event::Trace { .. } => {
                for l in r.other(event).unwrap_or_default() {
                    self.board.println(&l);
                }
            }
            Event::PlayStart { .. }
            | Event::NoHostsMatched
            | Event::NoMoreHosts
            | Event::Recap { .. } => {
                for (_, t) in std::mem::take(&mut st.tasks) {
                    self.finish_task(&mut st, t);
                }
                st.last_banner = None;
                if matches!(event, Event::Recap { .. }) {
                    self.board.clear();
                }
                let lines = r.other(event).unwrap_or_default();
                self.board.println(&lines.join("\n"));
            }
        }
    }

    fn suspend(&self) {
        self.board.suspend();
    }

    fn resume(&self) {
        self.board.resume();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;
    use crate::value::Map;

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

    /// The screen's permanent text: what stays once the live rows are erased.
    fn screen(buf: &Buf) -> Vec<String> {
        let raw = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let mut lines: Vec<String> = vec![String::new()];
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => lines.push(String::new()),
                '\r' => lines.last_mut().unwrap().clear(),
                '\x1b' => {
                    let mut seq = String::new();
                    for d in chars.by_ref() {
                        seq.push(d);
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                    if seq == "[1A" {
                        lines.pop();
                    } else if seq == "[2K" {
                        lines.last_mut().unwrap().clear();
                    }
                }
                c => lines.last_mut().unwrap().push(c),
            }
        }
        lines
    }

    fn result(host: &str, id: TaskId, task: &str, status: Status) -> Event {
        let mut m = Map::new();
        m.insert(
            "changed".into(),
            serde_json::Value::Bool(status == Status::Changed),
        );
        if status == Status::Failed {
            m.insert("msg".into(), "boom".into());
        }
        Event::HostResult {
            host: host.into(),
            task: task.into(),
            span: Span::new("p.yml", id as usize, 3),
            status,
            result: m,
            item: None,
            ignored: false,
            no_log: false,
            verbose_always: false,
            delegated_to: None,
            summary: false,
            handler: false,
            id,
        }
    }

    #[test]
    fn compact_view_prints_failures_in_full_and_one_summary_per_task() {
        let buf = Buf::default();
        let board = LiveBoard::to_writer(Box::new(buf.clone()), 200, false);
        let out = LiveOutput::new(board, OutputOptions::default());
        for (id, task) in [(1, "install"), (2, "start")] {
            out.emit(&Event::TaskStart {
                name: task.into(),
                span: Span::new("p.yml", id as usize, 3),
                handler: false,
                id,
                hosts: 250,
            });
        }
        for h in 0..250 {
            out.emit(&result(&format!("h{h}"), 1, "install", Status::Changed));
            let s = if h == 7 { Status::Failed } else { Status::Ok };
            out.emit(&result(&format!("h{h}"), 2, "start", s));
        }
        out.emit(&Event::TaskEnd { id: 1 });
        out.emit(&Event::TaskEnd { id: 2 });
        let text = screen(&buf);
        let banners = text.iter().filter(|l| l.starts_with("TASK [")).count();
        assert_eq!(
            text.iter()
                .filter(|l| l.starts_with("fatal: [h7]: FAILED!"))
                .count(),
            1,
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|l| l.starts_with("TASK [install] changed=250  (250 hosts")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|l| l.starts_with("TASK [start] ok=249 failed=1  (250 hosts")),
            "{text:#?}"
        );
        // The failure's banner, and one summary line per task.
        assert_eq!(banners, 3, "{text:#?}");
        assert!(
            !text.iter().any(|l| l.starts_with("changed: [")),
            "{text:#?}"
        );
    }
}
