//! `--output json`: every event as one JSON object per line on stdout, nothing else there
//! (warnings go to stderr). The stream starts with a `run_start` event naming the schema
//! version ([`SCHEMA_VERSION`]); README documents every event and field. Fields are only ever
//! added within one version; a change that removes or redefines a field bumps it.

use super::render::censored;
use super::{sink, Event, Output};
use crate::value::{Map, Value};
use serde_json::json;
use std::sync::Mutex;

/// Version of the event schema documented in README ("`--output json`").
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Default)]
pub struct JsonOutput {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    started: bool,
    play: String,
}

impl JsonOutput {
    pub fn new() -> Self {
        Self::default()
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A result as shown to the user: internal keys dropped, `no_log` results censored.
fn shown(result: &Map, no_log: bool) -> Value {
    if no_log {
        return censored(result);
    }
    Value::Object(
        result
            .iter()
            .filter(|(k, _)| !k.starts_with("_kplay") && !k.starts_with("_ansible"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

impl Output for JsonOutput {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if !st.started {
            st.started = true;
            sink::line(
                &json!({"event": "run_start", "schema": SCHEMA_VERSION,
                        "kplay_version": env!("CARGO_PKG_VERSION"), "time": now()})
                .to_string(),
            );
        }
        let play = st.play.clone();
        let v = match event {
            Event::PlaybookStart { file } => {
                json!({"event": "playbook_start", "file": file, "time": now()})
            }
            Event::PlayStart { name, span, hosts } => {
                st.play = name.clone();
                json!({"event": "play_start", "play": name, "file": span.to_string(), "hosts": hosts, "time": now()})
            }
            Event::TaskStart {
                name,
                span,
                handler,
                id,
                hosts,
            } => {
                json!({"event": if *handler { "handler_start" } else { "task_start" }, "play": play, "task": name,
                       "task_id": id, "file": span.to_string(), "hosts": hosts, "time": now()})
            }
            Event::TaskEnd { id } => {
                json!({"event": "task_end", "play": play, "task_id": id, "time": now()})
            }
            Event::HostResult {
                host,
                task,
                span,
                status,
                result,
                item,
                ignored,
                no_log,
                delegated_to,
                summary,
                handler,
                id,
                ..
            } => {
                json!({"event": "host_result", "play": play, "task": task, "task_id": id, "file": span.to_string(),
                       "host": host, "status": status,
                       "item": if *no_log { Value::Null } else { item.clone().unwrap_or(Value::Null) },
                       "ignored": ignored, "delegated_to": delegated_to, "loop_summary": summary,
                       "handler": handler, "result": shown(result, *no_log), "time": now()})
            }
            Event::Retrying {
                host,
                task,
                retries_left,
                id,
                ..
            } => {
                json!({"event": "retrying", "play": play, "task": task, "task_id": id, "host": host,
                       "retries_left": retries_left, "time": now()})
            }
            Event::AsyncPoll {
                host,
                task,
                jid,
                outcome,
                id,
            } => {
                json!({"event": "async_poll", "play": play, "task": task, "task_id": id, "host": host,
                       "ansible_job_id": jid, "finished": outcome.is_some(), "ok": outcome, "time": now()})
            }
            Event::Included { file, host, id } => {
                json!({"event": "included", "play": play, "task_id": id, "file": file, "host": host, "time": now()})
            }
            Event::Message { text, id } => {
                json!({"event": "message", "play": play, "task_id": id, "text": text, "time": now()})
            }
            Event::Trace { host, level, text } => {
                json!({"event": "trace", "host": host, "level": level, "text": text, "time": now()})
            }
            Event::Warning(msg) => {
                sink::err_line(&format!("[WARNING]: {msg}"));
                return;
            }
            Event::NoHostsMatched => {
                json!({"event": "no_hosts_matched", "play": play, "time": now()})
            }
            Event::NoMoreHosts => json!({"event": "no_more_hosts", "play": play, "time": now()}),
            Event::Recap {
                stats,
                custom,
                exit_code,
            } => {
                let mut v = json!({"event": "recap", "stats": stats, "exit_code": exit_code, "time": now()});
                if !custom.is_empty() {
                    v["custom_stats"] = json!(custom);
                }
                v
            }
        };
        sink::line(&v.to_string());
    }
}
