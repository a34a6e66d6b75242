//! `--output json`: one JSON object per line on stdout, nothing else there.

use super::console::CENSORED;
use super::{Event, Output};
use crate::value::{Map, Value};
use serde_json::json;
use std::io::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct JsonOutput {
    play: Mutex<String>,
}

impl JsonOutput {
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&self, v: Value) {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let _ = writeln!(lock, "{v}");
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Output for JsonOutput {
    fn emit(&self, event: &Event) {
        let play = self.play.lock().map(|p| p.clone()).unwrap_or_default();
        let v = match event {
            Event::PlaybookStart { file } => {
                json!({"event": "playbook_start", "file": file, "time": now()})
            }
            Event::PlayStart { name, span, hosts } => {
                if let Ok(mut p) = self.play.lock() {
                    *p = name.clone();
                }
                json!({"event": "play_start", "play": name, "file": span.to_string(), "hosts": hosts, "time": now()})
            }
            Event::TaskStart {
                name,
                span,
                handler,
            } => {
                json!({"event": if *handler { "handler_start" } else { "task_start" }, "play": play, "task": name, "file": span.to_string(), "time": now()})
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
                ..
            } => {
                let shown = if *no_log {
                    let mut m = Map::new();
                    m.insert("censored".into(), Value::String(CENSORED.into()));
                    m.insert(
                        "changed".into(),
                        result.get("changed").cloned().unwrap_or(Value::Bool(false)),
                    );
                    Value::Object(m)
                } else {
                    Value::Object(result.clone())
                };
                json!({"event": "host_result", "play": play, "task": task, "file": span.to_string(), "host": host, "status": status,
                       "item": if *no_log { Value::Null } else { item.clone().unwrap_or(Value::Null) }, "ignored": ignored, "delegated_to": delegated_to,
                       "loop_summary": summary, "handler": handler, "result": shown, "time": now()})
            }
            Event::Retrying {
                host,
                task,
                retries_left,
                ..
            } => {
                json!({"event": "retrying", "play": play, "task": task, "host": host, "retries_left": retries_left, "time": now()})
            }
            Event::Included { file, host } => {
                json!({"event": "included", "play": play, "file": file, "host": host, "time": now()})
            }
            Event::Warning(msg) => {
                let _ = writeln!(std::io::stderr(), "[WARNING]: {msg}");
                return;
            }
            Event::NoHostsMatched => {
                json!({"event": "no_hosts_matched", "play": play, "time": now()})
            }
            Event::NoMoreHosts => json!({"event": "no_more_hosts", "play": play, "time": now()}),
            Event::Recap { stats, exit_code } => {
                json!({"event": "recap", "stats": stats, "exit_code": exit_code, "time": now()})
            }
        };
        self.write(v);
    }
}
