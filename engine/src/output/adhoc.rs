//! `kplay adhoc` output, as the `ansible` command prints it: `host | CHANGED | rc=0 >>` + stdout
//! for commands, `host | SUCCESS => {json}` otherwise; with `-o` one line per host
//! (`host | CHANGED | rc=0 | (stdout) hi`, `host | SUCCESS => {"changed": false,"ping": "pong"}`).

use super::render::{censored, yaml_result};
use super::{sink, Event, Output, OutputOptions, Status};
use crate::value::{Map, Value};
use console::Style;

pub struct AdhocOutput {
    opts: OutputOptions,
    one_line: bool,
}

impl AdhocOutput {
    pub fn new(opts: OutputOptions) -> Self {
        AdhocOutput {
            opts,
            one_line: false,
        }
    }

    /// `-o`/`--one-line`: Ansible's `oneline` callback.
    pub fn one_line(opts: OutputOptions) -> Self {
        AdhocOutput {
            opts,
            one_line: true,
        }
    }

    fn style(&self, s: Style, text: &str) -> String {
        if self.opts.color {
            s.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }
}

/// Python's `json.dumps(v, indent=0, sort_keys=True)` with the line breaks removed, which is
/// what the oneline callback prints: `{"changed": false,"ping": "pong"}`.
fn oneline_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", Value::String((*k).clone()), oneline_json(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(oneline_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

fn escaped(s: &str) -> String {
    s.replace('\n', "\\n").replace('\r', "\\r")
}

impl AdhocOutput {
    fn lines(&self, status: Status, host: &str, result: &Map, no_log: bool) -> String {
        let mut shown: Map = match censored_or(result, no_log) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        shown.retain(|k, _| !k.starts_with("_kplay") && !k.starts_with("_ansible"));
        // A command's result (rc and stdout) reads as its output, as for Ansible's
        // command/shell/raw/script.
        let is_cmd = shown.contains_key("rc") && shown.contains_key("stdout") && !no_log;
        let text = |k: &str| shown.get(k).and_then(Value::as_str).unwrap_or("");
        let rc = shown
            .get("rc")
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-1".into());
        let dump = |v: &Map| {
            let v = Value::Object(v.clone());
            if self.one_line {
                oneline_json(&v)
            } else if self.opts.yaml {
                yaml_result(&v)
            } else {
                super::recap::python_json(&v, true)
            }
        };
        match status {
            Status::Skipped => format!("{host} | SKIPPED"),
            Status::Unreachable if self.one_line => {
                format!("{host} | UNREACHABLE!: {}", text("msg"))
            }
            Status::Unreachable => format!("{host} | UNREACHABLE! => {}", dump(&shown)),
            s => {
                let word = match s {
                    Status::Changed => "CHANGED",
                    Status::Ok => "SUCCESS",
                    _ => "FAILED",
                };
                if is_cmd && self.one_line && s != Status::Failed {
                    let mut l = format!(
                        "{host} | {word} | rc={rc} | (stdout) {}",
                        escaped(text("stdout"))
                    );
                    if !text("stderr").is_empty() {
                        l.push_str(&format!(" (stderr) {}", escaped(text("stderr"))));
                    }
                    l
                } else if is_cmd && !self.one_line {
                    let mut l = format!("{host} | {word} | rc={rc} >>\n{}", text("stdout"));
                    // A failed command also shows why (`msg`).
                    let keys: &[&str] = if s == Status::Failed {
                        &["stderr", "msg"]
                    } else {
                        &["stderr"]
                    };
                    for t in keys.iter().map(|k| text(k)).filter(|t| !t.is_empty()) {
                        l.push('\n');
                        l.push_str(t);
                    }
                    l
                } else if s == Status::Failed {
                    format!("{host} | FAILED! => {}", dump(&shown))
                } else {
                    format!("{host} | {word} => {}", dump(&shown))
                }
            }
        }
    }
}

fn censored_or(result: &Map, no_log: bool) -> Value {
    if no_log {
        censored(result)
    } else {
        Value::Object(result.clone())
    }
}

impl Output for AdhocOutput {
    fn emit(&self, event: &Event) {
        match event {
            Event::HostResult {
                host,
                status,
                result,
                no_log,
                summary: false,
                ..
            } => {
                let style = match status {
                    Status::Ok => Style::new().green(),
                    Status::Changed => Style::new().yellow(),
                    Status::Skipped => Style::new().cyan(),
                    _ => Style::new().red(),
                };
                let text = self.lines(*status, host, result, *no_log);
                sink::line(&self.style(style, &text));
            }
            Event::Warning(msg) => sink::err_line(&format!("[WARNING]: {msg}")),
            Event::Trace { host, level, text } if *level <= self.opts.verbosity => {
                sink::line(&format!("<{host}> {text}"))
            }
            Event::Message { text, .. } => sink::line(text),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_matches_the_oneline_callback() {
        let o = AdhocOutput::one_line(OutputOptions::default());
        let r: Map =
            serde_json::from_str(r#"{"changed": true, "rc": 0, "stdout": "a\nb", "stderr": "e"}"#)
                .unwrap();
        assert_eq!(
            o.lines(Status::Changed, "h1", &r, false),
            "h1 | CHANGED | rc=0 | (stdout) a\\nb (stderr) e"
        );
        let r: Map = serde_json::from_str(r#"{"ping": "pong", "changed": false}"#).unwrap();
        assert_eq!(
            o.lines(Status::Ok, "h1", &r, false),
            r#"h1 | SUCCESS => {"changed": false,"ping": "pong"}"#
        );
    }
}
