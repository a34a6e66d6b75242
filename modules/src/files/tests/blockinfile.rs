//! blockinfile behaviour, following the examples in Ansible's module documentation.

use super::BlockinfileModule;
use crate::planned::Planned;
use crate::testutil::{changed, msg, Fixture};
use serde_json::json;

const M: Planned<BlockinfileModule> = Planned(BlockinfileModule);

crate::testutil::both_paths! {
async fn block_is_appended_with_default_markers() {
    let f = Fixture::new(Some("Match User ansible-agent\n"));
    let r = f
        .ok(&M, json!({"block": "PasswordAuthentication no"}))
        .await;
    assert_eq!(msg(&r), "Block inserted");
    assert_eq!(
        f.content().as_deref(),
        Some("Match User ansible-agent\n# BEGIN ANSIBLE MANAGED BLOCK\nPasswordAuthentication no\n# END ANSIBLE MANAGED BLOCK\n")
    );
}
}

crate::testutil::both_paths! {
async fn second_run_is_unchanged() {
    let f = Fixture::new(Some("x\n"));
    f.ok(&M, json!({"block": "a\nb"})).await;
    let r = f.ok(&M, json!({"block": "a\nb"})).await;
    assert!(!changed(&r));
    assert_eq!(msg(&r), "");
}
}

crate::testutil::both_paths! {
async fn existing_block_is_replaced_in_place() {
    let f = Fixture::new(Some(
        "top\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nbottom\n",
    ));
    f.ok(&M, json!({"block": "new1\nnew2\n"})).await;
    assert_eq!(
        f.content().as_deref(),
        Some(
            "top\n# BEGIN ANSIBLE MANAGED BLOCK\nnew1\nnew2\n# END ANSIBLE MANAGED BLOCK\nbottom\n"
        )
    );
}
}

crate::testutil::both_paths! {
async fn custom_marker_with_begin_and_end_words() {
    let f = Fixture::new(Some("<body>\n</body>\n"));
    f.ok(
        &M,
        json!({"marker": "<!-- {mark} ANSIBLE MANAGED BLOCK -->", "marker_begin": "start", "marker_end": "stop", "insertafter": "<body>", "block": "<h1>Welcome</h1>"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("<body>\n<!-- start ANSIBLE MANAGED BLOCK -->\n<h1>Welcome</h1>\n<!-- stop ANSIBLE MANAGED BLOCK -->\n</body>\n")
    );
}
}

crate::testutil::both_paths! {
async fn insertbefore_regex_places_block_before_last_match() {
    let f = Fixture::new(Some("a\nend\nb\nend\n"));
    f.ok(
        &M,
        json!({"insertbefore": "^end", "block": "X", "marker": "# {mark}"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("a\nend\nb\n# BEGIN\nX\n# END\nend\n")
    );
}
}

crate::testutil::both_paths! {
async fn insertbefore_bof_places_block_first() {
    let f = Fixture::new(Some("a\n"));
    f.ok(
        &M,
        json!({"insertbefore": "BOF", "block": "X", "marker": "# {mark}"}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("# BEGIN\nX\n# END\na\n"));
}
}

crate::testutil::both_paths! {
async fn unmatched_insertafter_appends_at_eof() {
    let f = Fixture::new(Some("a\n"));
    f.ok(
        &M,
        json!({"insertafter": "^nomatch", "block": "X", "marker": "# {mark}"}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("a\n# BEGIN\nX\n# END\n"));
}
}

crate::testutil::both_paths! {
async fn multiline_insertafter_matches_across_lines() {
    let f = Fixture::new(Some("[a]\nk=1\n[b]\nk=2\n"));
    f.ok(
        &M,
        json!({"insertafter": "(?m)^\\[a\\]\\nk=1$", "block": "X", "marker": "# {mark}"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("[a]\nk=1\n# BEGIN\nX\n# END\n[b]\nk=2\n")
    );
}
}

crate::testutil::both_paths! {
async fn absent_removes_block_and_markers() {
    let f = Fixture::new(Some(
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nb\n",
    ));
    let r = f.ok(&M, json!({"state": "absent"})).await;
    assert_eq!(msg(&r), "Block removed");
    assert_eq!(f.content().as_deref(), Some("a\nb\n"));
}
}

crate::testutil::both_paths! {
async fn empty_block_removes_existing_block() {
    let f = Fixture::new(Some(
        "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n",
    ));
    let r = f.ok(&M, json!({"block": ""})).await;
    assert_eq!(msg(&r), "Block removed");
    assert_eq!(f.content().as_deref(), Some(""));
}
}

crate::testutil::both_paths! {
async fn missing_file_with_create_reports_file_created() {
    let f = Fixture::new(None);
    let r = f
        .ok(
            &M,
            json!({"block": "X", "create": true, "marker": "# {mark}"}),
        )
        .await;
    assert_eq!(msg(&r), "File created");
    assert_eq!(f.content().as_deref(), Some("# BEGIN\nX\n# END\n"));
}
}

crate::testutil::both_paths! {
async fn missing_file_without_create_fails_with_rc_257() {
    let f = Fixture::new(None);
    let e = f
        .run(&M, json!({"block": "X"}), false, false)
        .await
        .expect_err("must fail");
    assert_eq!(e.msg, format!("Path {} does not exist !", f.path_str()));
    assert_eq!(e.result.get("rc"), Some(&json!(257)));
}
}

crate::testutil::both_paths! {
async fn absent_on_missing_file_with_create_reports_not_present() {
    let f = Fixture::new(None);
    let r = f.ok(&M, json!({"state": "absent", "create": true})).await;
    assert!(!changed(&r));
    assert_eq!(msg(&r), format!("File {} not present", f.path_str()));
}
}

crate::testutil::both_paths! {
async fn block_after_unterminated_last_line_starts_on_new_line() {
    let f = Fixture::new(Some("a"));
    f.ok(&M, json!({"block": "X", "marker": "# {mark}"})).await;
    assert_eq!(f.content().as_deref(), Some("a\n# BEGIN\nX\n# END\n"));
}
}

crate::testutil::both_paths! {
async fn prepend_and_append_newline_add_blank_lines_once() {
    let f = Fixture::new(Some("a\nb\n"));
    let args = json!({"insertafter": "^a", "block": "X", "marker": "# {mark}", "prepend_newline": true, "append_newline": true});
    f.ok(&M, args.clone()).await;
    assert_eq!(
        f.content().as_deref(),
        Some("a\n\n# BEGIN\nX\n# END\n\nb\n")
    );
    let r = f.ok(&M, args).await;
    assert!(!changed(&r), "blank lines are not added twice");
}
}

crate::testutil::both_paths! {
async fn check_mode_reports_diff_and_leaves_file() {
    let f = Fixture::new(Some("a\n"));
    let r = f
        .run(&M, json!({"block": "X", "marker": "# {mark}"}), true, true)
        .await
        .expect("run");
    assert!(changed(&r));
    assert_eq!(f.content().as_deref(), Some("a\n"));
    assert_eq!(r["diff"][0]["after"], json!("a\n# BEGIN\nX\n# END\n"));
    assert_eq!(r["diff"][0]["before"], json!("a\n"));
}
}

crate::testutil::both_paths! {
async fn backup_file_key_only_when_backup_made() {
    let f = Fixture::new(Some("a\n"));
    let r = f.ok(&M, json!({"block": "X", "backup": true})).await;
    let b = r["backup_file"].as_str().expect("backup_file").to_string();
    assert_eq!(std::fs::read_to_string(b).expect("backup"), "a\n");
    let r2 = f.ok(&M, json!({"block": "Y"})).await;
    assert!(r2.get("backup_file").is_none());
}
}

crate::testutil::both_paths! {
async fn content_alias_and_yes_strings_are_accepted() {
    let f = Fixture::new(None);
    let r = f
        .ok(
            &M,
            json!({"content": "X", "create": "yes", "marker": "# {mark}"}),
        )
        .await;
    assert!(changed(&r));
    assert_eq!(f.content().as_deref(), Some("# BEGIN\nX\n# END\n"));
}
}

crate::testutil::both_paths! {
async fn insertafter_and_insertbefore_together_are_rejected() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(
            &M,
            json!({"block": "X", "insertafter": "a", "insertbefore": "b"}),
            false,
            false,
        )
        .await
        .expect_err("must fail");
    assert_eq!(
        e.msg,
        "parameters are mutually exclusive: insertbefore|insertafter"
    );
}
}
