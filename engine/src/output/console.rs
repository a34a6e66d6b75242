//! Ansible's default console output: banners, one line per host result, diffs, PLAY RECAP.

use super::recap::{python_json, recap_line};
use super::{Event, Output, OutputOptions, Status};
use crate::value::{Map, Value};
use console::Style;
use std::io::Write;
use std::sync::Mutex;

/// The text Ansible shows instead of a result when `no_log` is set.
pub const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

pub struct ConsoleOutput {
    opts: OutputOptions,
    /// The task whose banner was printed last (results of other tasks re-print theirs).
    last_task: Mutex<Option<(String, String, bool)>>,
}

impl ConsoleOutput {
    pub fn new(opts: OutputOptions) -> Self {
        ConsoleOutput {
            opts,
            last_task: Mutex::new(None),
        }
    }

    fn style(&self, s: Style, text: &str) -> String {
        if self.opts.color {
            s.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    fn banner(&self, msg: &str) -> String {
        let stars = 79usize.saturating_sub(msg.chars().count()).max(3);
        format!("\n{} {}", msg, "*".repeat(stars))
    }

    fn task_banner(&self, name: &str, handler: bool) -> String {
        let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
        self.banner(&format!("{kind} [{name}]"))
    }

    fn out(&self, text: &str) {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let _ = writeln!(lock, "{text}");
    }

    /// Re-print the task banner when this result belongs to another task than the last banner.
    fn ensure_banner(&self, task: &str, span: &crate::span::Span, handler: bool) {
        if let Ok(mut last) = self.last_task.lock() {
            let key = (task.to_string(), span.to_string(), handler);
            if last.as_ref() != Some(&key) {
                self.out(&self.task_banner(task, handler));
                *last = Some(key);
            }
        }
    }

    fn clean(result: &Map, debug: bool) -> Map {
        let mut r: Map = result
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("_ansible") && !k.starts_with("_kplay") && k.as_str() != "invocation"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if debug {
            for k in [
                "changed",
                "failed",
                "skipped",
                "item",
                "ansible_loop_var",
                "ansible_index_var",
            ] {
                r.remove(k);
            }
        }
        // Ansible's callback never shows these: the line itself says it.
        r.remove("failed");
        r.remove("diff");
        r
    }

    fn print_diff(&self, result: &Map) {
        let Some(Value::Array(diffs)) = result.get("diff") else {
            if let Some(Value::Object(d)) = result.get("diff") {
                self.print_one_diff(d);
            }
            return;
        };
        for d in diffs {
            if let Value::Object(d) = d {
                self.print_one_diff(d);
            }
        }
    }

    fn print_one_diff(&self, d: &Map) {
        let text = |k: &str| match d.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(_)) | Some(Value::Array(_)) => {
                d.get(k).map(|v| python_json(v, true) + "\n")
            }
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let (Some(before), Some(after)) = (text("before"), text("after")) else {
            if let Some(Value::String(p)) = d.get("prepared") {
                self.out(p);
            }
            return;
        };
        if before == after {
            return;
        }
        let bh = d
            .get("before_header")
            .and_then(Value::as_str)
            .map(|h| format!("before: {h}"))
            .unwrap_or_else(|| "before".into());
        let ah = d
            .get("after_header")
            .and_then(Value::as_str)
            .map(|h| format!("after: {h}"))
            .unwrap_or_else(|| "after".into());
        let diff = similar::TextDiff::from_lines(&before, &after);
        let mut out = String::new();
        out.push_str(&self.style(Style::new().red(), &format!("--- {bh}")));
        out.push('\n');
        out.push_str(&self.style(Style::new().green(), &format!("+++ {ah}")));
        out.push('\n');
        for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
            out.push_str(&self.style(Style::new().cyan(), &hunk.header().to_string()));
            out.push('\n');
            for change in hunk.iter_changes() {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", Style::new().red()),
                    similar::ChangeTag::Insert => ("+", Style::new().green()),
                    similar::ChangeTag::Equal => (" ", Style::new()),
                };
                let mut line = format!("{sign}{}", change.value());
                if !line.ends_with('\n') {
                    line.push_str("\n\\ No newline at end of file\n");
                }
                let trimmed = line.trim_end_matches('\n');
                out.push_str(&self.style(style, trimmed));
                out.push('\n');
            }
        }
        self.out(out.trim_end_matches('\n'));
    }
}

fn item_label(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => python_json(other, false),
    }
}

impl Output for ConsoleOutput {
    fn emit(&self, event: &Event) {
        match event {
            Event::PlaybookStart { .. } => {}
            Event::PlayStart { name, .. } => {
                if let Ok(mut last) = self.last_task.lock() {
                    *last = None;
                }
                self.out(&self.banner(&format!("PLAY [{name}]")));
            }
            Event::TaskStart {
                name,
                handler,
                span,
            } => self.ensure_banner(name, span, *handler),
            Event::HostResult {
                host,
                task,
                span,
                status,
                result,
                item,
                ignored,
                no_log,
                verbose_always,
                delegated_to,
                summary,
                handler,
            } => {
                self.ensure_banner(task, span, *handler);
                if *summary {
                    if *ignored {
                        self.out(&self.style(Style::new().cyan(), "...ignoring"));
                    }
                    return;
                }
                if self.opts.diff && !no_log && matches!(status, Status::Changed | Status::Ok) {
                    self.print_diff(result);
                }
                let who = match delegated_to {
                    Some(d) => format!("[{host} -> {d}]"),
                    None => format!("[{host}]"),
                };
                let shown: Value = if *no_log {
                    let mut m = Map::new();
                    m.insert("censored".into(), Value::String(CENSORED.into()));
                    m.insert(
                        "changed".into(),
                        result.get("changed").cloned().unwrap_or(Value::Bool(false)),
                    );
                    Value::Object(m)
                } else {
                    Value::Object(Self::clean(result, *verbose_always))
                };
                let indent = *verbose_always || self.opts.verbosity > 2;
                let details = || python_json(&shown, indent);
                let item_part = item.as_ref().map(|i| {
                    if *no_log {
                        "(item=None)".to_string()
                    } else {
                        format!("(item={})", item_label(i))
                    }
                });
                let line = match status {
                    Status::Failed => {
                        let prefix = match &item_part {
                            Some(ip) => format!("failed: {who} {ip} => {}", details()),
                            None => format!("fatal: {who}: FAILED! => {}", details()),
                        };
                        self.style(Style::new().red(), &prefix)
                    }
                    Status::Unreachable => {
                        let prefix = match &item_part {
                            Some(ip) => format!("failed: {who} {ip} => {}", details()),
                            None => format!("fatal: {who}: UNREACHABLE! => {}", details()),
                        };
                        self.style(Style::new().red().bright(), &prefix)
                    }
                    Status::Skipped => {
                        let mut s = format!("skipping: {who}");
                        if let Some(ip) = &item_part {
                            // Ansible leaves a trailing space here.
                            s.push_str(&format!(" => {ip} "));
                        }
                        if self.opts.verbosity > 0 && item_part.is_none() && !no_log {
                            let mut m = Map::new();
                            for k in ["false_condition", "skip_reason", "msg"] {
                                if let Some(v) = result.get(k) {
                                    m.insert(k.into(), v.clone());
                                    break;
                                }
                            }
                            s.push_str(&format!(" => {}", python_json(&Value::Object(m), false)));
                        }
                        self.style(Style::new().cyan(), &s)
                    }
                    Status::Ok | Status::Changed => {
                        let word = if *status == Status::Changed {
                            "changed"
                        } else {
                            "ok"
                        };
                        let mut s = format!("{word}: {who}");
                        if let Some(ip) = &item_part {
                            s.push_str(&format!(" => {ip}"));
                        }
                        if self.opts.verbosity > 0 || *verbose_always {
                            s.push_str(&format!(" => {}", details()));
                        }
                        let st = if *status == Status::Changed {
                            Style::new().yellow()
                        } else {
                            Style::new().green()
                        };
                        self.style(st, &s)
                    }
                };
                self.out(&line);
                if *ignored && item.is_none() {
                    self.out(&self.style(Style::new().cyan(), "...ignoring"));
                }
            }
            Event::Retrying {
                host,
                task,
                retries_left,
                result,
            } => {
                let mut s =
                    format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).");
                if self.opts.verbosity > 0 {
                    s.push_str(&format!(
                        "Result was: {}",
                        python_json(&Value::Object(result.clone()), false)
                    ));
                }
                self.out(&self.style(Style::new().red(), &s));
            }
            Event::Included { file, host } => {
                self.out(&self.style(Style::new().cyan(), &format!("included: {file} for {host}")))
            }
            Event::Warning(msg) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "{}",
                    self.style(Style::new().magenta(), &format!("[WARNING]: {msg}"))
                );
            }
            Event::NoHostsMatched => {
                self.out(&self.style(Style::new().cyan(), "skipping: no hosts matched"))
            }
            Event::NoMoreHosts => self.out(&self.banner("NO MORE HOSTS LEFT")),
            Event::Recap { stats, .. } => {
                self.out(&self.banner("PLAY RECAP"));
                for (host, s) in stats {
                    self.out(&recap_line(host, s, self.opts.color));
                }
                self.out("");
            }
        }
    }
}
