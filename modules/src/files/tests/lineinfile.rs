//! lineinfile behaviour, following the examples in Ansible's module documentation.

use super::LineinfileModule;
use crate::planned::Planned;
use crate::testutil::{changed, msg, Fixture};
use serde_json::json;

const M: Planned<LineinfileModule> = Planned(LineinfileModule);

crate::testutil::both_paths! {
async fn regexp_replaces_matching_line() {
    let f = Fixture::new(Some("SELINUX=permissive\nSELINUXTYPE=targeted\n"));
    let r = f
        .ok(
            &M,
            json!({"regexp": "^SELINUX=", "line": "SELINUX=enforcing"}),
        )
        .await;
    assert!(changed(&r));
    assert_eq!(msg(&r), "line replaced");
    assert_eq!(
        f.content().as_deref(),
        Some("SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    );
}
}

crate::testutil::both_paths! {
async fn second_run_is_unchanged() {
    let f = Fixture::new(Some("SELINUX=permissive\n"));
    f.ok(
        &M,
        json!({"regexp": "^SELINUX=", "line": "SELINUX=enforcing"}),
    )
    .await;
    let r = f
        .ok(
            &M,
            json!({"regexp": "^SELINUX=", "line": "SELINUX=enforcing"}),
        )
        .await;
    assert!(!changed(&r));
    assert_eq!(msg(&r), "");
}
}

crate::testutil::both_paths! {
async fn last_match_is_replaced_without_firstmatch() {
    let f = Fixture::new(Some("a=1\na=2\n"));
    f.ok(&M, json!({"regexp": "^a=", "line": "a=9"})).await;
    assert_eq!(f.content().as_deref(), Some("a=1\na=9\n"));
}
}

crate::testutil::both_paths! {
async fn firstmatch_replaces_first_match() {
    let f = Fixture::new(Some("a=1\na=2\n"));
    f.ok(
        &M,
        json!({"regexp": "^a=", "line": "a=9", "firstmatch": "yes"}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("a=9\na=2\n"));
}
}

crate::testutil::both_paths! {
async fn missing_line_is_appended_at_eof() {
    let f = Fixture::new(Some("a\n"));
    let r = f.ok(&M, json!({"line": "b"})).await;
    assert_eq!(msg(&r), "line added");
    assert_eq!(f.content().as_deref(), Some("a\nb\n"));
}
}

crate::testutil::both_paths! {
async fn file_without_trailing_newline_gets_one_before_append() {
    let f = Fixture::new(Some("a"));
    f.ok(&M, json!({"line": "b"})).await;
    assert_eq!(f.content().as_deref(), Some("a\nb\n"));
}
}

crate::testutil::both_paths! {
async fn existing_exact_line_is_left_alone() {
    let f = Fixture::new(Some("a\nb\nc\n"));
    let r = f.ok(&M, json!({"line": "b"})).await;
    assert!(!changed(&r));
}
}

crate::testutil::both_paths! {
async fn search_string_replaces_line_containing_it() {
    let f = Fixture::new(Some("Listen 80\n"));
    f.ok(
        &M,
        json!({"search_string": "Listen ", "line": "Listen 8080"}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("Listen 8080\n"));
}
}

crate::testutil::both_paths! {
async fn insertafter_regex_inserts_after_last_match() {
    let f = Fixture::new(Some("#Listen\nx\n#Listen\ny\n"));
    f.ok(
        &M,
        json!({"line": "Listen 8080", "insertafter": "^#Listen"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("#Listen\nx\n#Listen\nListen 8080\ny\n")
    );
}
}

crate::testutil::both_paths! {
async fn insertafter_with_firstmatch_inserts_after_first_match() {
    let f = Fixture::new(Some("#Listen\nx\n#Listen\ny\n"));
    f.ok(
        &M,
        json!({"line": "Listen 8080", "insertafter": "^#Listen", "firstmatch": true}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("#Listen\nListen 8080\nx\n#Listen\ny\n")
    );
}
}

crate::testutil::both_paths! {
async fn insertbefore_regex_inserts_before_last_match() {
    let f = Fixture::new(Some("a\nport=1\nb\nport=2\n"));
    f.ok(&M, json!({"line": "new", "insertbefore": "^port="}))
        .await;
    assert_eq!(f.content().as_deref(), Some("a\nport=1\nb\nnew\nport=2\n"));
}
}

crate::testutil::both_paths! {
async fn insertbefore_with_firstmatch_inserts_before_first_match() {
    let f = Fixture::new(Some("a\nport=1\nb\nport=2\n"));
    f.ok(
        &M,
        json!({"line": "new", "insertbefore": "^port=", "firstmatch": true}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("a\nnew\nport=1\nb\nport=2\n"));
}
}

crate::testutil::both_paths! {
async fn insertbefore_bof_puts_line_first() {
    let f = Fixture::new(Some("a\n"));
    f.ok(&M, json!({"line": "first", "insertbefore": "BOF"}))
        .await;
    assert_eq!(f.content().as_deref(), Some("first\na\n"));
}
}

crate::testutil::both_paths! {
async fn unmatched_insertafter_appends_at_eof() {
    let f = Fixture::new(Some("a\n"));
    f.ok(&M, json!({"line": "z", "insertafter": "^nomatch"}))
        .await;
    assert_eq!(f.content().as_deref(), Some("a\nz\n"));
}
}

crate::testutil::both_paths! {
async fn regexp_found_ignores_insertafter() {
    let f = Fixture::new(Some("anchor\nkey=1\n"));
    f.ok(
        &M,
        json!({"regexp": "^key=", "line": "key=2", "insertafter": "^anchor"}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("anchor\nkey=2\n"));
}
}

crate::testutil::both_paths! {
async fn insertafter_does_not_duplicate_line_already_after_anchor() {
    let f = Fixture::new(Some("[main]\nx=1\n"));
    let r = f
        .ok(
            &M,
            json!({"regexp": "^nope", "line": "x=1", "insertafter": "^\\[main\\]"}),
        )
        .await;
    assert!(!changed(&r));
}
}

crate::testutil::both_paths! {
async fn backrefs_expand_groups() {
    let f = Fixture::new(Some("<Directory />\n  Options Indexes\n"));
    f.ok(
        &M,
        json!({"regexp": "^(\\s*)Options .*$", "line": "\\1Options None", "backrefs": "yes"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("<Directory />\n  Options None\n")
    );
}
}

crate::testutil::both_paths! {
async fn backrefs_g_syntax_allows_digits_after_group() {
    let f = Fixture::new(Some("host=old\n"));
    f.ok(
        &M,
        json!({"regexp": "^(host=).*", "line": "\\g<1>10.0.0.1", "backrefs": true}),
    )
    .await;
    assert_eq!(f.content().as_deref(), Some("host=10.0.0.1\n"));
}
}

crate::testutil::both_paths! {
async fn backrefs_without_match_changes_nothing() {
    let f = Fixture::new(Some("a\n"));
    let r = f
        .ok(
            &M,
            json!({"regexp": "^(x)=", "line": "\\1=1", "backrefs": true}),
        )
        .await;
    assert!(!changed(&r));
    assert_eq!(f.content().as_deref(), Some("a\n"));
}
}

crate::testutil::both_paths! {
async fn backrefs_without_regexp_is_rejected() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(&M, json!({"line": "x", "backrefs": true}), false, false)
        .await
        .expect_err("must fail");
    assert_eq!(e.msg, "regexp is required with backrefs=true");
}
}

crate::testutil::both_paths! {
async fn absent_removes_all_matching_lines() {
    let f = Fixture::new(Some("%wheel ALL\nkeep\n%wheel NOPASSWD\n"));
    let r = f
        .ok(&M, json!({"state": "absent", "regexp": "^%wheel"}))
        .await;
    assert_eq!(msg(&r), "2 line(s) removed");
    assert_eq!(r.get("found"), Some(&json!(2)));
    assert_eq!(f.content().as_deref(), Some("keep\n"));
}
}

crate::testutil::both_paths! {
async fn absent_by_exact_line() {
    let f = Fixture::new(Some("a\nb\n"));
    f.ok(&M, json!({"state": "absent", "line": "a"})).await;
    assert_eq!(f.content().as_deref(), Some("b\n"));
}
}

crate::testutil::both_paths! {
async fn absent_on_missing_file_reports_file_not_present() {
    let f = Fixture::new(None);
    let r = f.ok(&M, json!({"state": "absent", "line": "a"})).await;
    assert!(!changed(&r));
    assert_eq!(msg(&r), "file not present");
}
}

crate::testutil::both_paths! {
async fn missing_file_without_create_fails_with_rc_257() {
    let f = Fixture::new(None);
    let e = f
        .run(&M, json!({"line": "a"}), false, false)
        .await
        .expect_err("must fail");
    assert_eq!(
        e.msg,
        format!("Destination {} does not exist !", f.path_str())
    );
    assert_eq!(e.result.get("rc"), Some(&json!(257)));
}
}

crate::testutil::both_paths! {
async fn create_makes_file_and_parent_dirs() {
    let f = Fixture::new(None);
    let nested = f.dir.path().join("sub/dir/conf");
    let r = f
        .ok(
            &M,
            json!({"path": nested.to_string_lossy(), "line": "a=1", "create": "yes"}),
        )
        .await;
    assert_eq!(msg(&r), "line added");
    assert_eq!(std::fs::read_to_string(&nested).expect("created"), "a=1\n");
}
}

crate::testutil::both_paths! {
async fn directory_path_fails_with_rc_256() {
    let f = Fixture::new(None);
    let e = f
        .run(
            &M,
            json!({"path": f.dir.path().to_string_lossy(), "line": "a"}),
            false,
            false,
        )
        .await
        .expect_err("must fail");
    assert_eq!(e.result.get("rc"), Some(&json!(256)));
}
}

crate::testutil::both_paths! {
async fn check_mode_reports_change_and_leaves_file_byte_for_byte() {
    let f = Fixture::new(Some("a\nb"));
    let r = f
        .run(&M, json!({"line": "c"}), true, true)
        .await
        .expect("run");
    assert!(changed(&r));
    assert_eq!(f.content().as_deref(), Some("a\nb"));
    let d = &r["diff"][0];
    assert_eq!(d["before"], json!("a\nb"));
    assert_eq!(d["after"], json!("a\nb\nc\n"));
}
}

crate::testutil::both_paths! {
async fn check_mode_with_create_does_not_create() {
    let f = Fixture::new(None);
    let r = f
        .run(
            &M,
            json!({"line": "c", "create": true, "mode": "0600"}),
            true,
            false,
        )
        .await
        .expect("run");
    assert!(changed(&r));
    assert_eq!(msg(&r), "line added");
    assert!(f.content().is_none());
}
}

crate::testutil::both_paths! {
async fn diff_has_content_headers() {
    let f = Fixture::new(Some("a\n"));
    let r = f
        .run(&M, json!({"line": "b"}), false, true)
        .await
        .expect("run");
    let d = &r["diff"][0];
    assert_eq!(
        d["before_header"],
        json!(format!("{} (content)", f.path_str()))
    );
    assert_eq!(d["before"], json!("a\n"));
    assert_eq!(d["after"], json!("a\nb\n"));
}
}

crate::testutil::both_paths! {
async fn no_diff_key_without_diff_mode() {
    let f = Fixture::new(Some("a\n"));
    let r = f.ok(&M, json!({"line": "b"})).await;
    assert!(r.get("diff").is_none());
}
}

crate::testutil::both_paths! {
async fn unknown_parameter_is_rejected_before_touching_file() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(&M, json!({"line": "b", "colour": "red"}), false, false)
        .await
        .expect_err("must fail");
    assert!(
        e.msg
            .starts_with("Unsupported parameters for (lineinfile) module: colour."),
        "{}",
        e.msg
    );
    assert_eq!(f.content().as_deref(), Some("a\n"));
}
}

crate::testutil::both_paths! {
async fn mode_change_alone_is_reported() {
    let f = Fixture::new(Some("a\n"));
    std::fs::set_permissions(&f.path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let r = f.ok(&M, json!({"line": "a", "mode": "0600"})).await;
    assert!(changed(&r));
    assert_eq!(msg(&r), "ownership, perms or SE linux context changed");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&f.path).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o7777, 0o600);
}
}

crate::testutil::both_paths! {
async fn existing_mode_is_kept_when_editing() {
    let f = Fixture::new(Some("a\n"));
    std::fs::set_permissions(&f.path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .expect("chmod");
    f.ok(&M, json!({"line": "b"})).await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&f.path).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o7777, 0o640);
}
}

crate::testutil::both_paths! {
async fn symlink_target_is_edited_and_link_kept() {
    let f = Fixture::new(Some("a\n"));
    let link = f.dir.path().join("link");
    std::os::unix::fs::symlink(&f.path, &link).expect("symlink");
    f.ok(&M, json!({"path": link.to_string_lossy(), "line": "b"}))
        .await;
    assert!(std::fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert_eq!(f.content().as_deref(), Some("a\nb\n"));
}
}

crate::testutil::both_paths! {
async fn backup_returns_backup_path() {
    let f = Fixture::new(Some("a\n"));
    let r = f.ok(&M, json!({"line": "b", "backup": true})).await;
    let b = r["backup"].as_str().expect("backup").to_string();
    assert_eq!(std::fs::read_to_string(&b).expect("backup file"), "a\n");
}
}

crate::testutil::both_paths! {
async fn validate_without_placeholder_is_rejected_before_touching_file() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(
            &M,
            json!({"line": "b", "validate": "visudo -c"}),
            false,
            false,
        )
        .await
        .expect_err("must fail");
    assert_eq!(e.msg, "validate must contain %s: visudo -c");
    assert_eq!(f.content().as_deref(), Some("a\n"));
}
}

crate::testutil::both_paths! {
async fn validate_failure_fails_task_and_keeps_file() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(
            &M,
            json!({"line": "b", "validate": "false %s"}),
            false,
            false,
        )
        .await
        .expect_err("must fail");
    assert!(e.msg.starts_with("failed to validate"), "{}", e.msg);
    assert_eq!(f.content().as_deref(), Some("a\n"));
}
}

crate::testutil::both_paths! {
async fn regexp_dollar_matches_before_newline_like_python() {
    let f = Fixture::new(Some("key = old\n"));
    f.ok(&M, json!({"regexp": "^key = .*$", "line": "key = new"}))
        .await;
    assert_eq!(f.content().as_deref(), Some("key = new\n"));
}
}

crate::testutil::both_paths! {
async fn empty_regexp_warns() {
    let f = Fixture::new(Some("a\n"));
    let r = f.ok(&M, json!({"regexp": "", "line": "b"})).await;
    assert!(r["warnings"][0]
        .as_str()
        .is_some_and(|w| w.starts_with("The regular expression is an empty string")));
}
}
