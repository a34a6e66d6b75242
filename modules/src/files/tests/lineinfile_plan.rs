//! lineinfile's pure plan: each state and branch, without a host.

use super::LineinfileModule;
use crate::common::text_edit::{plan_edit, seen_text, TextEditor};
use crate::planned::Plan;
use crate::testutil::args;
use kplay_engine::module::ModuleError;
use serde_json::json;

/// The plan for `extra` (path `/f`) over a file holding `content` (None: missing).
fn plan(
    content: Option<&str>,
    extra: serde_json::Value,
) -> Result<Plan<crate::common::text_edit::Write>, ModuleError> {
    let mut a = args(extra);
    a.entry("path").or_insert_with(|| json!("/f"));
    let parsed = TextEditor::parse(&LineinfileModule, a)?;
    plan_edit::<LineinfileModule>(&parsed, &seen_text("/f", content))
}

fn msg(p: &Plan<crate::common::text_edit::Write>) -> &str {
    p.result.extra["msg"].as_str().unwrap_or_default()
}

#[test]
fn present_replaces_adds_or_leaves_the_line() {
    let p = plan(Some("a=1\nb=2\n"), json!({"regexp": "^a=", "line": "a=9"})).expect("plan");
    assert!(p.result.changed && p.changes.is_some());
    assert_eq!(msg(&p), "line replaced");
    assert_eq!(p.result.extra["backup"], "");
    let p = plan(Some("a=1\n"), json!({"line": "b=2"})).expect("plan");
    assert_eq!(msg(&p), "line added");
    let p = plan(Some("a=1\n"), json!({"line": "a=1"})).expect("plan");
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(msg(&p), "");
}

#[test]
fn plan_carries_the_content_diff() {
    let p = plan(Some("a\n"), json!({"line": "b"})).expect("plan");
    let d = p.result.diff.to_value().expect("diff")[0].clone();
    assert_eq!(d["before"], "a\n");
    assert_eq!(d["after"], "a\nb\n");
    assert_eq!(d["before_header"], "/f (content)");
}

#[test]
fn absent_counts_removed_lines_and_stops_on_a_missing_file() {
    let p = plan(Some("x\ny\nx\n"), json!({"line": "x", "state": "absent"})).expect("plan");
    assert_eq!(msg(&p), "2 line(s) removed");
    assert_eq!(p.result.extra["found"], 2);
    let p = plan(None, json!({"line": "x", "state": "absent"})).expect("plan");
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(msg(&p), "file not present");
    assert!(
        !p.result.extra.contains_key("backup"),
        "Ansible's early exit has none"
    );
}

#[test]
fn missing_file_fails_unless_create_and_directory_fails() {
    let e = plan(None, json!({"line": "x"})).expect_err("missing");
    assert_eq!(e.msg, "Destination /f does not exist !");
    assert_eq!(e.result["rc"], 257);
    let p = plan(None, json!({"line": "x", "create": true})).expect("plan");
    assert_eq!(msg(&p), "line added");
    assert!(p.changes.is_some());
}

#[test]
fn argument_errors_come_before_the_host_is_read() {
    let e = plan(Some(""), json!({"state": "absent"})).expect_err("absent");
    assert_eq!(
        e.msg,
        "one of line, search_string, or regexp is required with state=absent"
    );
    let e = plan(Some(""), json!({"regexp": "a"})).expect_err("present");
    assert_eq!(e.msg, "line is required with state=present");
}

#[test]
fn empty_pattern_warning_is_reported_on_every_exit() {
    let p = plan(None, json!({"regexp": "", "state": "absent"})).expect("plan");
    assert!(p.result.warnings[0].starts_with("The regular expression is an empty string"));
    let p = plan(Some("a\n"), json!({"search_string": "", "line": "b"})).expect("plan");
    assert!(p.result.warnings[0].starts_with("The search string is an empty string"));
}
