//! `kplay adhoc` output, as the `ansible` command prints it:
//! `host | CHANGED | rc=0 >>` + stdout for commands, `host | SUCCESS => {json}` otherwise.

use super::recap::python_json;
use super::{Event, Output, OutputOptions, Status};
use crate::value::Value;
use console::Style;

pub struct AdhocOutput {
    opts: OutputOptions,
}

impl AdhocOutput {
    pub fn new(opts: OutputOptions) -> Self {
        AdhocOutput { opts }
    }

    fn style(&self, s: Style, text: &str) -> String {
        if self.opts.color {
            s.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
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
                let word = match status {
                    Status::Ok => "SUCCESS",
                    Status::Changed => "CHANGED",
                    Status::Skipped => "SKIPPED",
                    Status::Failed => "FAILED",
                    Status::Unreachable => "UNREACHABLE!",
                };
                let style = match status {
                    Status::Ok => Style::new().green(),
                    Status::Changed => Style::new().yellow(),
                    Status::Skipped => Style::new().cyan(),
                    _ => Style::new().red(),
                };
                let is_cmd = result.contains_key("rc") && result.contains_key("stdout") && !no_log;
                let line = if is_cmd && *status != Status::Unreachable {
                    let rc = result.get("rc").map(|v| v.to_string()).unwrap_or_default();
                    let mut s = format!(
                        "{host} | {word} | rc={rc} >>\n{}",
                        result.get("stdout").and_then(Value::as_str).unwrap_or("")
                    );
                    if let Some(e) = result
                        .get("stderr")
                        .and_then(Value::as_str)
                        .filter(|e| !e.is_empty())
                    {
                        s.push('\n');
                        s.push_str(e);
                    }
                    s
                } else {
                    let mut r = result.clone();
                    r.retain(|k, _| !k.starts_with("_kplay"));
                    format!(
                        "{host} | {word} => {}",
                        python_json(&Value::Object(r), true)
                    )
                };
                println!("{}", self.style(style, &line));
            }
            Event::Warning(msg) => eprintln!("[WARNING]: {msg}"),
            _ => {}
        }
    }
}
