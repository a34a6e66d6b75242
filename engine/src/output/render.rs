//! Ansible's console text for each event, as lines, without printing anything: the grouped
//! console, the live view and `kplay deploy` all print these same lines, each in its own way.

use super::console::CENSORED;
use super::recap::{python_json, recap_line};
use super::{Event, HostStats, OutputOptions, Status};
use crate::value::{Map, Value};
use console::Style;
use indexmap::IndexMap;

/// Turns events into the lines Ansible's default callback prints.
#[derive(Clone, Copy, Debug, Default)]
pub struct Renderer {
    pub opts: OutputOptions,
}

/// Which task a banner names: results under the same key share one banner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskKey {
    pub name: String,
    pub span: String,
    pub handler: bool,
}

impl Renderer {
    pub fn new(opts: OutputOptions) -> Self {
        Renderer { opts }
    }

    pub fn style(&self, s: Style, text: &str) -> String {
        if self.opts.color {
            s.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    /// `\nPLAY [x] ****…` (79 columns, at least three stars).
    pub fn banner(&self, msg: &str) -> String {
        let stars = 79usize.saturating_sub(msg.chars().count()).max(3);
        format!("\n{} {}", msg, "*".repeat(stars))
    }

    pub fn task_banner(&self, key: &TaskKey) -> String {
        let kind = if key.handler {
            "RUNNING HANDLER"
        } else {
            "TASK"
        };
        self.banner(&format!("{kind} [{}]", key.name))
    }

    /// The recap block: banner, one line per host, an empty line.
    pub fn recap(&self, stats: &IndexMap<String, HostStats>) -> Vec<String> {
        let mut v = vec![self.banner("PLAY RECAP")];
        v.extend(
            stats
                .iter()
                .map(|(host, s)| recap_line(host, s, self.opts.color)),
        );
        v.push(String::new());
        v
    }

    /// `CUSTOM STATS:` as ansible-core's default callback prints it: each host's data, then
    /// the run's, as sorted JSON on one line.
    pub fn custom_stats(&self, custom: &IndexMap<String, Map>) -> Vec<String> {
        let mut v = vec![self.banner("CUSTOM STATS:")];
        let mut hosts: Vec<&String> = custom.keys().filter(|h| h.as_str() != "_run").collect();
        hosts.sort();
        for h in hosts {
            v.push(format!("\t{h}: {}", one_line_json(&custom[h])));
        }
        if let Some(run) = custom.get("_run") {
            v.push(String::new());
            v.push(format!("\tRUN: {}", one_line_json(run)));
        }
        v.push(String::new());
        v
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

    /// A result as Ansible dumps it after `=> `: JSON (compact, or indented with `-vvv` and for
    /// `debug`), or YAML under `callback_result_format = yaml`.
    pub fn dump(&self, v: &Value, indent: bool) -> String {
        if self.opts.yaml {
            return yaml_result(v);
        }
        python_json(v, indent)
    }

    /// The unified diffs of a result (`--diff`).
    pub fn diff_lines(&self, result: &Map) -> Vec<String> {
        let mut out = Vec::new();
        match result.get("diff") {
            Some(Value::Array(diffs)) => {
                for d in diffs {
                    if let Value::Object(d) = d {
                        out.extend(self.one_diff(d));
                    }
                }
            }
            Some(Value::Object(d)) => out.extend(self.one_diff(d)),
            _ => {}
        }
        out
    }

    fn one_diff(&self, d: &Map) -> Option<String> {
        let text = |k: &str| match d.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(_)) | Some(Value::Array(_)) => {
                d.get(k).map(|v| python_json(v, true) + "\n")
            }
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let (Some(before), Some(after)) = (text("before"), text("after")) else {
            return match d.get("prepared") {
                Some(Value::String(p)) => Some(p.clone()),
                _ => None,
            };
        };
        if before == after {
            return None;
        }
        let header = |k: &str, word: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .map(|h| format!("{word}: {h}"))
                .unwrap_or_else(|| word.into())
        };
        let (bh, ah) = (
            header("before_header", "before"),
            header("after_header", "after"),
        );
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
                out.push_str(&self.style(style, line.trim_end_matches('\n')));
                out.push('\n');
            }
        }
        Some(out.trim_end_matches('\n').to_string())
    }

    /// The lines of one host result (`ok:`/`changed:`/`fatal:` …, diffs before it,
    /// `...ignoring` after it). Anything else than a `HostResult` gives no lines.
    pub fn host_result(&self, event: &Event) -> Vec<String> {
        let Event::HostResult {
            host,
            status,
            result,
            item,
            ignored,
            no_log,
            verbose_always,
            delegated_to,
            summary,
            ..
        } = event
        else {
            return vec![];
        };
        let mut lines = Vec::new();
        if *summary {
            if *ignored {
                lines.push(self.style(Style::new().cyan(), "...ignoring"));
            }
            return lines;
        }
        if self.opts.diff && !no_log && matches!(status, Status::Changed | Status::Ok) {
            lines.extend(self.diff_lines(result));
        }
        let who = match delegated_to {
            Some(d) => format!("[{host} -> {d}]"),
            None => format!("[{host}]"),
        };
        let shown = if *no_log {
            censored(result)
        } else {
            Value::Object(Self::clean(result, *verbose_always))
        };
        // Ansible indents what the task itself asked to show (a debug that ran), and
        // everything at -vvv; a failure of a debug task (an undefined variable) stays compact.
        let succeeded = matches!(status, Status::Ok | Status::Changed);
        let indent = (*verbose_always && succeeded) || self.opts.verbosity > 2;
        let details = || self.dump(&shown, indent);
        let item_part = item.as_ref().map(|i| {
            if *no_log {
                "(item=None)".to_string()
            } else {
                format!("(item={})", item_label(i))
            }
        });
        let line = match status {
            Status::Failed => {
                let text = match &item_part {
                    Some(ip) => format!("failed: {who} {ip} => {}", details()),
                    None => format!("fatal: {who}: FAILED! => {}", details()),
                };
                self.style(Style::new().red(), &text)
            }
            Status::Unreachable => {
                let text = match &item_part {
                    Some(ip) => format!("failed: {who} {ip} => {}", details()),
                    None => format!("fatal: {who}: UNREACHABLE! => {}", details()),
                };
                self.style(Style::new().red().bright(), &text)
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
                    s.push_str(&format!(" => {}", self.dump(&Value::Object(m), false)));
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
                // `setup` asks not to be dumped at -v (its facts are huge), as in Ansible.
                let quiet = result.contains_key("_ansible_verbose_override");
                if (self.opts.verbosity > 0 && !quiet) || *verbose_always {
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
        lines.push(line);
        if *ignored && item.is_none() {
            lines.push(self.style(Style::new().cyan(), "...ignoring"));
        }
        lines
    }

    /// Lines of events that do not belong to a task's results (None for those that do, and for
    /// events with no console text).
    pub fn other(&self, event: &Event) -> Option<Vec<String>> {
        Some(match event {
            Event::PlayStart { name, .. } => vec![self.banner(&format!("PLAY [{name}]"))],
            Event::NoHostsMatched => {
                vec![self.style(Style::new().cyan(), "skipping: no hosts matched")]
            }
            Event::NoMoreHosts => vec![self.banner("NO MORE HOSTS LEFT")],
            Event::Recap { stats, custom, .. } => {
                let mut lines = self.recap(stats);
                if self.opts.custom_stats && !custom.is_empty() {
                    lines.extend(self.custom_stats(custom));
                }
                lines
            }
            Event::Trace { host, level, text } if *level <= self.opts.verbosity => {
                vec![self.style(Style::new().blue(), &format!("<{host}> {text}"))]
            }
            _ => return None,
        })
    }

    /// Lines of events that belong to a task but are not its results.
    pub fn task_extra(&self, event: &Event) -> Vec<String> {
        match event {
            Event::Retrying {
                host,
                task,
                retries_left,
                result,
                ..
            } => {
                let mut s =
                    format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).");
                if self.opts.verbosity > 0 {
                    s.push_str(&format!(
                        "Result was: {}",
                        python_json(&Value::Object(result.clone()), false)
                    ));
                }
                vec![self.style(Style::new().red(), &s)]
            }
            Event::AsyncPoll {
                host, jid, outcome, ..
            } => vec![self.style(
                Style::new().blue(),
                &match outcome {
                    None => format!("ASYNC POLL on {host}: jid={jid} started=1 finished=0"),
                    Some(true) => format!("ASYNC OK on {host}: jid={jid}"),
                    Some(false) => format!("ASYNC FAILED on {host}: jid={jid}"),
                },
            )],
            Event::Included { file, host, .. } => {
                vec![self.style(Style::new().cyan(), &format!("included: {file} for {host}"))]
            }
            Event::Message { text, .. } => vec![text.clone()],
            _ => vec![],
        }
    }
}

/// What `no_log: true` leaves of a result.
pub fn censored(result: &Map) -> Value {
    let mut m = Map::new();
    m.insert("censored".into(), Value::String(CENSORED.into()));
    m.insert(
        "changed".into(),
        result.get("changed").cloned().unwrap_or(Value::Bool(false)),
    );
    Value::Object(m)
}

fn item_label(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => python_json(other, false),
    }
}

/// A result as Ansible's callbacks print it with `result_format = yaml`: a line break, then
/// block YAML indented by four, multi-line strings as literal blocks, `stdout_lines` and
/// `stderr_lines` omitted when the text is there anyway.
pub fn yaml_result(v: &Value) -> String {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        for (text, lines) in [("stdout", "stdout_lines"), ("stderr", "stderr_lines")] {
            if m.contains_key(text) && m.contains_key(lines) {
                m.insert(lines.into(), Value::String("<omitted>".into()));
            }
        }
    }
    let mut blocks = Vec::new();
    let v = take_blocks(v, &mut blocks);
    let text = crate::yaml::to_nice_yaml(&v, 4);
    let mut out = String::from("\n");
    for line in text.lines() {
        let token = blocks
            .iter()
            .enumerate()
            .find(|(i, _)| line.ends_with(&block_token(*i)));
        match token {
            Some((i, s)) => {
                let head = &line[..line.len() - block_token(i).len()];
                let col = line.len() - line.trim_start().len();
                let (style, body) = match s.strip_suffix('\n') {
                    Some(b) if !b.ends_with('\n') => ("|", b),
                    _ => ("|-", s.as_str()),
                };
                out.push_str(&format!("    {head}{style}\n"));
                for l in body.split('\n') {
                    if l.is_empty() {
                        out.push('\n');
                    } else {
                        out.push_str(&format!("    {}{l}\n", " ".repeat(col + 4)));
                    }
                }
            }
            None => out.push_str(&format!("    {line}\n")),
        }
    }
    out.trim_end_matches('\n').to_string()
}

fn block_token(i: usize) -> String {
    format!("KPLAYBLOCKSCALAR{i:05}")
}

/// Replace multi-line strings that a literal block can hold by tokens, collecting them.
fn take_blocks(v: Value, blocks: &mut Vec<String>) -> Value {
    match v {
        Value::String(s)
            if s.contains('\n')
                && !s.contains(" \n")
                && !s.contains('\t')
                && !s.starts_with(' ')
                && s.chars().all(|c| c == '\n' || !c.is_control()) =>
        {
            blocks.push(s);
            Value::String(block_token(blocks.len() - 1))
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, take_blocks(v, blocks)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| take_blocks(v, blocks)).collect()),
        other => other,
    }
}

/// Python's `json.dumps(v, indent=1, sort_keys=True)` with its newlines removed.
fn one_line_json(m: &Map) -> String {
    let sorted = crate::output::recap::sort_keys(&Value::Object(m.clone()));
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if serde::Serialize::serialize(&sorted, &mut ser).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).replace('\n', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_stats_print_hosts_sorted_then_the_run() {
        let r = Renderer::new(OutputOptions::default());
        let mut custom = IndexMap::new();
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        custom.insert(
            "_run".to_string(),
            m(serde_json::json!({"b": [1], "a": {"y": 1, "x": 2}})),
        );
        custom.insert("web2".to_string(), m(serde_json::json!({"n": 1})));
        custom.insert("web1".to_string(), m(serde_json::json!({})));
        assert_eq!(
            r.custom_stats(&custom),
            [
                format!("\nCUSTOM STATS: {}", "*".repeat(66)),
                "\tweb1: {}".to_string(),
                "\tweb2: { \"n\": 1}".to_string(),
                String::new(),
                "\tRUN: { \"a\": {  \"x\": 2,  \"y\": 1 }, \"b\": [  1 ]}".to_string(),
                String::new(),
            ]
        );
    }

    #[test]
    fn yaml_results_look_like_ansibles() {
        let v = serde_json::json!({"msg": "a\nb", "changed": true, "cmd": ["echo", "hi"],
            "stdout": "hi", "stdout_lines": ["hi"], "rc": 0});
        assert_eq!(
            yaml_result(&v),
            "\n    changed: true\n    cmd:\n    - echo\n    - hi\n    msg: |-\n        a\n        b\n    rc: 0\n    stdout: hi\n    stdout_lines: <omitted>"
        );
    }
}
