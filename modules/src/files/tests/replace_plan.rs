//! replace's pure plan: each outcome, without a host.

use super::ReplaceModule;
use crate::common::text_edit::{plan_edit, seen_text, TextEditor, Write};
use crate::planned::Plan;
use crate::testutil::args;
use kplay_engine::module::ModuleError;
use serde_json::json;

/// The plan for `extra` (path `/f`) over a file holding `content` (None: missing).
fn plan(content: Option<&str>, extra: serde_json::Value) -> Result<Plan<Write>, ModuleError> {
    let mut a = args(extra);
    a.entry("path").or_insert_with(|| json!("/f"));
    let parsed = TextEditor::parse(&ReplaceModule, a)?;
    plan_edit::<ReplaceModule>(&parsed, &seen_text("/f", content))
}

fn msg(p: &Plan<Write>) -> &str {
    p.result.extra["msg"].as_str().unwrap_or_default()
}

#[test]
fn replacements_are_counted_and_diffed_under_the_bare_path() {
    let p = plan(
        Some("a1 a2\n"),
        json!({"regexp": "a(\\d)", "replace": "b\\1"}),
    )
    .expect("plan");
    assert_eq!(msg(&p), "2 replacements made");
    assert_eq!(p.result.extra["rc"], 0);
    let d = p.result.diff.to_value().expect("diff")[0].clone();
    assert_eq!(
        (d["before_header"].clone(), d["after"].clone()),
        (json!("/f"), json!("b1 b2\n"))
    );
}

#[test]
fn no_match_plans_nothing_and_has_no_diff() {
    let p = plan(Some("a\n"), json!({"regexp": "z"})).expect("plan");
    assert!(!p.result.changed && p.changes.is_none() && p.result.diff.is_none());
    assert_eq!(msg(&p), "");
}

#[test]
fn unmatched_section_stops_with_ansibles_message() {
    let p = plan(
        Some("a\n"),
        json!({"regexp": "a", "after": "nope", "mode": "0600"}),
    )
    .expect("plan");
    assert!(!p.result.changed && p.changes.is_none());
    assert_eq!(
        msg(&p),
        "Pattern for before/after params did not match the given file: nope(?P<subsection>.*)"
    );
}

#[test]
fn missing_file_fails_with_rc_257() {
    let e = plan(None, json!({"regexp": "a"})).expect_err("missing");
    assert_eq!(
        (e.msg.as_str(), e.result["rc"].clone()),
        ("Path /f does not exist !", json!(257))
    );
}
