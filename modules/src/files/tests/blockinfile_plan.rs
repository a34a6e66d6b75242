//! blockinfile's pure plan: each state and branch, without a host.

use super::BlockinfileModule;
use crate::common::text_edit::{plan_edit, seen_text, TextEditor, Write};
use crate::planned::Plan;
use crate::testutil::args;
use kplay_engine::module::ModuleError;
use serde_json::json;

/// The plan for `extra` (path `/f`) over a file holding `content` (None: missing).
fn plan(content: Option<&str>, extra: serde_json::Value) -> Result<Plan<Write>, ModuleError> {
    let mut a = args(extra);
    a.entry("path").or_insert_with(|| json!("/f"));
    let parsed = TextEditor::parse(&BlockinfileModule, a)?;
    plan_edit::<BlockinfileModule>(&parsed, &seen_text("/f", content))
}

fn msg(p: &Plan<Write>) -> &str {
    p.result.extra["msg"].as_str().unwrap_or_default()
}

#[test]
fn present_inserts_then_leaves_the_block() {
    let p = plan(Some("a\n"), json!({"block": "X"})).expect("plan");
    assert_eq!(msg(&p), "Block inserted");
    assert!(p.result.changed && p.changes.is_some());
    let d = p.result.diff.to_value().expect("diff")[0].clone();
    assert_eq!(
        d["after"],
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nX\n# END ANSIBLE MANAGED BLOCK\n"
    );
    let text = d["after"].as_str().unwrap_or_default().to_string();
    let p = plan(Some(&text), json!({"block": "X"})).expect("plan");
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(msg(&p), "");
}

#[test]
fn absent_removes_the_block() {
    let text = "a\n# BEGIN ANSIBLE MANAGED BLOCK\nX\n# END ANSIBLE MANAGED BLOCK\n";
    let p = plan(Some(text), json!({"state": "absent"})).expect("plan");
    assert_eq!(msg(&p), "Block removed");
    assert_eq!(p.result.diff.to_value().expect("diff")[0]["after"], "a\n");
}

#[test]
fn missing_file_fails_creates_or_stops() {
    let e = plan(None, json!({"block": "X"})).expect_err("missing");
    assert_eq!(e.msg, "Path /f does not exist !");
    assert_eq!(e.result["rc"], 257);
    let p = plan(None, json!({"block": "X", "create": true})).expect("plan");
    assert_eq!(msg(&p), "File created");
    let p = plan(None, json!({"state": "absent", "create": true})).expect("plan");
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(msg(&p), "File /f not present");
}
