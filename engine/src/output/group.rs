//! Results grouped per task, in task order, for plain (non-terminal) output.
//!
//! kplay lets every host advance through a play on its own, so results of tasks 3, 4 and 5 may
//! arrive interleaved. Printed as they come, each switch re-prints a task banner (a 250-host
//! run printed 24,922 banners for 25,000 results). The [`Grouper`] prints the results of the
//! lowest unfinished task (the "current" one) as they arrive, keeps the results of later tasks
//! until the current one ends ([`super::Event::TaskEnd`]), and then prints each later task's
//! banner once with all its results under it. Nothing is dropped; only the order changes.
//!
//! A host that is stuck on one task must not hold back the log for long: when the current task
//! printed nothing for [`Grouper::hold`] while later output waits, the grouper moves on to the
//! next task anyway (the stuck host's result comes later under a repeated banner). While the
//! current task's results keep coming (hosts drifting apart on a long run), it waits: the log
//! then lags behind the fastest host by the hosts' spread, and every task keeps one banner.

use super::render::TaskKey;
use super::TaskId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long results of later tasks wait for the current task to end, by default.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(10);

/// Output of one task that is not printed yet: banners (keys) with their lines, in order.
#[derive(Debug)]
struct Pending {
    sections: Vec<(TaskKey, Vec<String>)>,
    ended: bool,
}

impl Pending {
    fn new() -> Self {
        Pending {
            sections: Vec::new(),
            ended: false,
        }
    }

    fn section(&mut self, key: &TaskKey) -> &mut Vec<String> {
        let i = match self.sections.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                self.sections.push((key.clone(), Vec::new()));
                self.sections.len() - 1
            }
        };
        &mut self.sections[i].1
    }
}

/// What to print, in order: a banner for `key` (printed only when it differs from the last
/// banner), or a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Banner(TaskKey),
    Line(String),
}

/// Orders task output (see the module docs). Feed it with [`Grouper::start`],
/// [`Grouper::lines`] and [`Grouper::end`]; each returns what to print now.
#[derive(Debug)]
pub struct Grouper {
    current: Option<TaskId>,
    /// The current task's main key (the banner its own results go under).
    current_key: Option<TaskKey>,
    /// When the current task last printed (or became current).
    active: Instant,
    pending: BTreeMap<TaskId, Pending>,
    /// How long a later task's output may wait for the current task.
    pub hold: Duration,
}

impl Default for Grouper {
    fn default() -> Self {
        Grouper {
            current: None,
            current_key: None,
            active: Instant::now(),
            pending: BTreeMap::new(),
            hold: DEFAULT_HOLD,
        }
    }
}

impl Grouper {
    pub fn new(hold: Duration) -> Self {
        Grouper {
            hold,
            ..Default::default()
        }
    }

    /// Task `id` started (its banner is `key`).
    pub fn start(&mut self, id: TaskId, key: &TaskKey) -> Vec<Piece> {
        self.lines(id, key, Vec::new())
    }

    /// Lines of task `id` under banner `key`.
    pub fn lines(&mut self, id: TaskId, key: &TaskKey, lines: Vec<String>) -> Vec<Piece> {
        let mut out = Vec::new();
        if self.current.is_none() && self.pending.is_empty() {
            self.current = Some(id);
            self.current_key = Some(key.clone());
            self.active = Instant::now();
        }
        if self.current == Some(id) && self.current_key.as_ref() == Some(key) {
            out.push(Piece::Banner(key.clone()));
            out.extend(lines.into_iter().map(Piece::Line));
            self.active = Instant::now();
        } else {
            self.pending
                .entry(id)
                .or_insert_with(Pending::new)
                .section(key)
                .extend(lines);
        }
        out.extend(self.expire());
        out
    }

    /// Every host is past task `id`.
    pub fn end(&mut self, id: TaskId) -> Vec<Piece> {
        if let Some(p) = self.pending.get_mut(&id) {
            p.ended = true;
        }
        if self.current == Some(id) {
            return self.advance();
        }
        self.expire()
    }

    /// Move on when the current task has been quiet for too long while output waits (call it
    /// now and then even without events).
    pub fn expire(&mut self) -> Vec<Piece> {
        if !self.pending.is_empty() && self.active.elapsed() >= self.hold {
            self.advance()
        } else {
            Vec::new()
        }
    }

    /// Print everything that waits, in task order (end of a play, or of the run).
    pub fn flush(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        while !self.pending.is_empty() {
            out.extend(self.advance());
        }
        self.current = None;
        self.current_key = None;
        out
    }

    /// Print the first waiting task's banners and lines; it becomes the current task unless
    /// it already ended, in which case the next one is printed too.
    fn advance(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        let (prev, prev_key) = (self.current.take(), self.current_key.take());
        while let Some((id, p)) = self.pending.pop_first() {
            let mut first_key = None;
            for (key, lines) in p.sections {
                if first_key.is_none() {
                    first_key = Some(key.clone());
                }
                out.push(Piece::Banner(key));
                out.extend(lines.into_iter().map(Piece::Line));
            }
            if !p.ended {
                self.current = Some(id);
                self.current_key = if prev == Some(id) {
                    prev_key
                } else {
                    first_key
                };
                self.active = Instant::now();
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> TaskKey {
        TaskKey {
            name: n.into(),
            span: String::new(),
            handler: false,
        }
    }

    /// What a printer shows: banners only when they change.
    fn show(pieces: Vec<Piece>, last: &mut Option<TaskKey>, out: &mut Vec<String>) {
        for p in pieces {
            match p {
                Piece::Banner(k) => {
                    if last.as_ref() != Some(&k) {
                        out.push(format!("TASK [{}]", k.name));
                        *last = Some(k);
                    }
                }
                Piece::Line(l) => out.push(l),
            }
        }
    }

    #[test]
    fn interleaved_results_come_out_one_banner_per_task_in_order() {
        let mut g = Grouper::new(Duration::from_secs(3600));
        let (mut last, mut out) = (None, Vec::new());
        let (a, b, c) = (key("a"), key("b"), key("c"));
        show(g.start(1, &a), &mut last, &mut out);
        show(g.lines(1, &a, vec!["ok: [h1]".into()]), &mut last, &mut out);
        show(g.start(2, &b), &mut last, &mut out);
        show(
            g.lines(2, &b, vec!["ok: [h1] b".into()]),
            &mut last,
            &mut out,
        );
        show(g.start(3, &c), &mut last, &mut out);
        show(
            g.lines(3, &c, vec!["ok: [h1] c".into()]),
            &mut last,
            &mut out,
        );
        show(g.lines(1, &a, vec!["ok: [h2]".into()]), &mut last, &mut out);
        show(g.end(1), &mut last, &mut out);
        show(
            g.lines(2, &b, vec!["ok: [h2] b".into()]),
            &mut last,
            &mut out,
        );
        show(g.end(2), &mut last, &mut out);
        show(
            g.lines(3, &c, vec!["ok: [h2] c".into()]),
            &mut last,
            &mut out,
        );
        show(g.end(3), &mut last, &mut out);
        show(g.flush(), &mut last, &mut out);
        assert_eq!(
            out,
            [
                "TASK [a]",
                "ok: [h1]",
                "ok: [h2]",
                "TASK [b]",
                "ok: [h1] b",
                "ok: [h2] b",
                "TASK [c]",
                "ok: [h1] c",
                "ok: [h2] c"
            ]
        );
    }

    #[test]
    fn a_slow_task_holds_later_output_only_for_the_hold_time() {
        let mut g = Grouper::new(Duration::ZERO);
        let (mut last, mut out) = (None, Vec::new());
        let (a, b) = (key("a"), key("b"));
        show(g.start(1, &a), &mut last, &mut out);
        show(
            g.lines(2, &b, vec!["ok: [h1] b".into()]),
            &mut last,
            &mut out,
        );
        show(g.lines(1, &a, vec!["ok: [h2]".into()]), &mut last, &mut out);
        assert_eq!(
            out,
            ["TASK [a]", "TASK [b]", "ok: [h1] b", "TASK [a]", "ok: [h2]"]
        );
    }

    #[test]
    fn included_tasks_group_under_their_own_banners() {
        let mut g = Grouper::new(Duration::from_secs(3600));
        let (mut last, mut out) = (None, Vec::new());
        let (inc, x, y) = (key("include"), key("x"), key("y"));
        show(g.start(1, &key("first")), &mut last, &mut out);
        for h in ["h1", "h2"] {
            show(
                g.lines(2, &inc, vec![format!("included for {h}")]),
                &mut last,
                &mut out,
            );
            show(
                g.lines(2, &x, vec![format!("ok: [{h}] x")]),
                &mut last,
                &mut out,
            );
            show(
                g.lines(2, &y, vec![format!("ok: [{h}] y")]),
                &mut last,
                &mut out,
            );
        }
        show(g.end(2), &mut last, &mut out);
        show(g.end(1), &mut last, &mut out);
        assert_eq!(
            out,
            [
                "TASK [first]",
                "TASK [include]",
                "included for h1",
                "included for h2",
                "TASK [x]",
                "ok: [h1] x",
                "ok: [h2] x",
                "TASK [y]",
                "ok: [h1] y",
                "ok: [h2] y"
            ]
        );
    }
}
