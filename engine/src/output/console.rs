//! Ansible's default console output for logs and pipes: banners, one line per host result,
//! diffs, PLAY RECAP; results grouped per task ([`super::group`]) so every task shows one
//! banner with its results under it.

use super::group::{Grouper, Piece, DEFAULT_HOLD};
use super::render::{Renderer, TaskKey};
use super::{sink, Event, Output, OutputOptions};
use console::Style;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The text Ansible shows instead of a result when `no_log` is set.
pub const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

struct State {
    grouper: Grouper,
    /// The banner printed last (a piece under the same banner does not print it again).
    last_banner: Option<TaskKey>,
    /// Each task's main banner (lines that name no task of their own go under it).
    keys: std::collections::HashMap<super::TaskId, TaskKey>,
}

pub struct ConsoleOutput {
    render: Renderer,
    state: Arc<Mutex<State>>,
}

impl ConsoleOutput {
    pub fn new(opts: OutputOptions) -> Self {
        Self::with_hold(opts, DEFAULT_HOLD)
    }

    /// Results of later tasks wait at most `hold` for the current task to end.
    pub fn with_hold(opts: OutputOptions, hold: Duration) -> Self {
        let state = Arc::new(Mutex::new(State {
            grouper: Grouper::new(hold),
            last_banner: None,
            keys: Default::default(),
        }));
        let render = Renderer::new(opts);
        spawn_ticker(Arc::downgrade(&state), render);
        ConsoleOutput { render, state }
    }

    fn print(render: &Renderer, st: &mut State, pieces: Vec<Piece>) {
        for p in pieces {
            match p {
                Piece::Banner(k) => {
                    if st.last_banner.as_ref() != Some(&k) {
                        sink::line(&render.task_banner(&k));
                        st.last_banner = Some(k);
                    }
                }
                Piece::Line(l) => sink::line(&l),
            }
        }
    }

    fn key_for(st: &State, id: super::TaskId, name: &str) -> TaskKey {
        match st.keys.get(&id) {
            Some(k) if k.name == name || name.is_empty() => k.clone(),
            Some(k) => TaskKey {
                name: name.to_string(),
                ..k.clone()
            },
            None => TaskKey {
                name: name.to_string(),
                span: String::new(),
                handler: false,
            },
        }
    }
}

/// Lets results of later tasks out when the current task holds them too long, also while no
/// event arrives (a host stuck on a long task).
fn spawn_ticker(state: Weak<Mutex<State>>, render: Renderer) {
    let _ = std::thread::Builder::new()
        .name("kplay-output".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let Some(state) = state.upgrade() else { return };
            let Ok(mut st) = state.lock() else { return };
            let pieces = st.grouper.expire();
            ConsoleOutput::print(&render, &mut st, pieces);
        });
}

impl Output for ConsoleOutput {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let r = &self.render;
        match event {
            Event::PlaybookStart { .. } | Event::Warning(_) => {}
            Event::TaskStart {
                name,
                span,
                handler,
                id,
                ..
            } => {
                let key = TaskKey {
                    name: name.clone(),
                    span: span.to_string(),
                    handler: *handler,
                };
                st.keys.entry(*id).or_insert_with(|| key.clone());
                let pieces = st.grouper.start(*id, &key);
                Self::print(r, &mut st, pieces);
            }
            Event::TaskEnd { id } => {
                let pieces = st.grouper.end(*id);
                Self::print(r, &mut st, pieces);
            }
            Event::HostResult {
                task,
                span,
                handler,
                id,
                ..
            } => {
                let key = TaskKey {
                    name: task.clone(),
                    span: span.to_string(),
                    handler: *handler,
                };
                let lines = r.host_result(event);
                let pieces = st.grouper.lines(*id, &key, lines);
                Self::print(r, &mut st, pieces);
            }
            Event::Retrying { task, id, .. } | Event::AsyncPoll { task, id, .. } => {
                let key = Self::key_for(&st, *id, task);
                let pieces = st.grouper.lines(*id, &key, r.task_extra(event));
                Self::print(r, &mut st, pieces);
            }
            Event::Included { id, .. } | Event::Message { id, .. } => {
                let key = Self::key_for(&st, *id, "");
                let pieces = st.grouper.lines(*id, &key, r.task_extra(event));
                Self::print(r, &mut st, pieces);
            }
            Event::Trace { .. } => {
                for l in r.other(event).unwrap_or_default() {
                    sink::line(&l);
                }
            }
            Event::PlayStart { .. }
            | Event::NoHostsMatched
            | Event::NoMoreHosts
            | Event::Recap { .. } => {
                let pieces = st.grouper.flush();
                Self::print(r, &mut st, pieces);
                if matches!(event, Event::PlayStart { .. }) {
                    st.last_banner = None;
                    st.keys.clear();
                }
                for l in r.other(event).unwrap_or_default() {
                    sink::line(&l);
                }
            }
        }
        if let Event::Warning(msg) = event {
            sink::err_line(&r.style(Style::new().magenta(), &format!("[WARNING]: {msg}")));
        }
    }
}
