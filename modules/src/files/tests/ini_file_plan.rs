//! ini_file's pure plan around its edit: the file missing or a directory, the result keys.

use super::IniFileModule;
use crate::common::text_edit::{plan_edit, seen_text, TextEditor, Write};
use crate::planned::Plan;
use crate::testutil::args;
use kplay_engine::module::ModuleError;
use serde_json::json;

/// The plan for `extra` (path `/f`) over a file holding `content` (None: missing).
fn plan(content: Option<&str>, extra: serde_json::Value) -> Result<Plan<Write>, ModuleError> {
    let mut a = args(extra);
    a.entry("path").or_insert_with(|| json!("/f"));
    let parsed = TextEditor::parse(&IniFileModule, a)?;
    plan_edit::<IniFileModule>(&parsed, &seen_text("/f", content))
}

#[test]
fn change_reports_path_message_and_content_diff() {
    let p = plan(
        Some("[a]\nx = 1\n"),
        json!({"section": "a", "option": "x", "value": "2"}),
    )
    .expect("plan");
    assert!(p.result.changed && p.changes.is_some());
    assert_eq!(p.result.extra["path"], "/f");
    assert_eq!(p.result.extra["msg"], "option changed");
    let d = p.result.diff.to_value().expect("diff")[0].clone();
    assert_eq!(
        (d["before_header"].clone(), d["after"].clone()),
        (json!("/f (content)"), json!("[a]\nx = 2\n"))
    );
    let p = plan(
        Some("[a]\nx = 2\n"),
        json!({"section": "a", "option": "x", "value": "2"}),
    )
    .expect("plan");
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(p.result.extra["msg"], "OK");
}

#[test]
fn missing_file_is_created_unless_create_is_false() {
    let p = plan(None, json!({"section": "s", "option": "o", "value": "v"})).expect("plan");
    assert_eq!(p.result.extra["msg"], "section and option added");
    let e = plan(
        None,
        json!({"section": "s", "option": "o", "value": "v", "create": false}),
    )
    .expect_err("missing");
    assert_eq!(
        (e.msg.as_str(), e.result["rc"].clone()),
        ("Destination /f does not exist!", json!(257))
    );
}
