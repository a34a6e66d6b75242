//! `callbacks_enabled = profile_tasks`: after the recap, the time each task took, slowest
//! first, in the layout of ansible.posix's profile_tasks (a timestamp line, a rule of `=`, then
//! `name ---- 1.23s` lines, at most 20). kplay runs tasks of different hosts side by side, so a
//! task's time is from its banner until every host is past it.

use super::{sink, Event, Output, TaskId};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines shown at most (profile_tasks' default `task_output_limit`).
const LIMIT: usize = 20;
/// The width ansible's display uses when stdout is not a terminal.
const COLUMNS: usize = 80;

pub struct ProfileTasks {
    inner: Arc<dyn Output>,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per task, in start order: id, name, start, time taken once it ended.
    tasks: Vec<(TaskId, String, Instant, Option<Duration>)>,
}

impl ProfileTasks {
    pub fn new(inner: Arc<dyn Output>) -> Self {
        ProfileTasks {
            inner,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn summary(&self) -> Vec<String> {
        let now = Instant::now();
        let Ok(st) = self.state.lock() else {
            return vec![];
        };
        let mut rows: Vec<(String, Duration)> = st
            .tasks
            .iter()
            .map(|(_, name, start, took)| (name.clone(), took.unwrap_or(now - *start)))
            .collect();
        // Stable: equal times keep the order the tasks ran in.
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        let last = st
            .tasks
            .iter()
            .map(|(_, _, s, t)| *s + t.unwrap_or_default())
            .max()
            .unwrap_or(self.started);
        let mut out = vec![
            tasktime(now - last.min(now), now - self.started),
            "=".repeat(COLUMNS - 1),
        ];
        out.extend(
            rows.into_iter()
                .take(LIMIT)
                .map(|(name, took)| row(&name, took)),
        );
        out
    }
}

/// `name ------ 1.23s`, 80 columns wide.
fn row(name: &str, took: Duration) -> String {
    format!(
        "{:-<w$}{:->9}",
        format!("{name} "),
        format!(" {:.2}s", took.as_secs_f64()),
        w = COLUMNS - 9
    )
}

/// `h:mm:ss.mmm`
fn hms(d: Duration) -> String {
    let ms = d.as_millis();
    format!(
        "{}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// `Wednesday 02 December 2026  14:40:01 +0000 (0:00:00.400)       0:00:01.234 *****`
fn tasktime(since_last: Duration, total: Duration) -> String {
    let now = chrono::Local::now().format("%A %d %B %Y  %H:%M:%S %z");
    let msg = format!("{now} ({})       {} ", hms(since_last), hms(total));
    let fill = (COLUMNS - 1).saturating_sub(msg.len()).max(3);
    format!("{msg}{} ", "*".repeat(fill))
}

impl Output for ProfileTasks {
    fn emit(&self, event: &Event) {
        match event {
            Event::TaskStart { name, id, .. } => {
                if let Ok(mut st) = self.state.lock() {
                    if !st.tasks.iter().any(|(i, ..)| i == id) {
                        st.tasks.push((*id, name.clone(), Instant::now(), None));
                    }
                }
            }
            Event::TaskEnd { id } => {
                if let Ok(mut st) = self.state.lock() {
                    if let Some(t) = st.tasks.iter_mut().find(|(i, ..)| i == id) {
                        t.3.get_or_insert(t.2.elapsed());
                    }
                }
            }
            _ => {}
        }
        self.inner.emit(event);
        if matches!(event, Event::Recap { .. }) {
            for l in self.summary() {
                sink::line(&l);
            }
        }
    }

    fn suspend(&self) {
        self.inner.suspend()
    }

    fn resume(&self) {
        self.inner.resume()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_times_have_profile_tasks_layout() {
        let r = row("sleepy", Duration::from_millis(321));
        assert_eq!(r.len(), 80);
        assert!(r.starts_with("sleepy ---"));
        assert!(r.ends_with("- 0.32s"));
        assert_eq!(hms(Duration::from_millis(3_723_004)), "1:02:03.004");
        let t = tasktime(Duration::from_millis(400), Duration::from_millis(1234));
        assert!(t.contains("(0:00:00.400)       0:00:01.234 *"), "{t}");
        assert_eq!(t.trim_end().len(), 79);
    }
}
