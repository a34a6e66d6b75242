//! replace behaviour, following the examples in Ansible's module documentation.

use super::ReplaceModule;
use crate::planned::Planned;
use crate::testutil::{changed, msg, Fixture};
use serde_json::json;

const M: Planned<ReplaceModule> = Planned(ReplaceModule);

const HOSTS: &str = "127.0.0.1 localhost\n10.0.0.1 old.host.name\n10.0.0.2 other\n";

crate::testutil::both_paths! {
async fn regexp_with_word_boundaries_replaces_every_occurrence() {
    let f = Fixture::new(Some(HOSTS));
    let r = f
        .ok(
            &M,
            json!({"regexp": "(\\s+)old\\.host\\.name(\\s+.*)?$", "replace": "\\1new.host.name\\2"}),
        )
        .await;
    assert_eq!(msg(&r), "1 replacements made");
    assert_eq!(
        f.content().as_deref(),
        Some("127.0.0.1 localhost\n10.0.0.1 new.host.name\n10.0.0.2 other\n")
    );
}
}

crate::testutil::both_paths! {
async fn second_run_is_unchanged() {
    let f = Fixture::new(Some(HOSTS));
    let a = json!({"regexp": "old\\.host", "replace": "new.host"});
    f.ok(&M, a.clone()).await;
    let r = f.ok(&M, a).await;
    assert!(!changed(&r));
    assert_eq!(msg(&r), "");
}
}

crate::testutil::both_paths! {
async fn caret_matches_every_line_start() {
    let f = Fixture::new(Some("a\nb\n"));
    let r = f
        .ok(&M, json!({"regexp": "^(.+)$", "replace": "# \\1"}))
        .await;
    assert_eq!(msg(&r), "2 replacements made");
    assert_eq!(f.content().as_deref(), Some("# a\n# b\n"));
}
}

crate::testutil::both_paths! {
async fn default_replace_deletes_matches() {
    let f = Fixture::new(Some(HOSTS));
    f.ok(
        &M,
        json!({"regexp": "^old\\.host\\.name[^\\n]*\\n|^10\\.0\\.0\\.1 [^\\n]*\\n"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("127.0.0.1 localhost\n10.0.0.2 other\n")
    );
}
}

crate::testutil::both_paths! {
async fn after_limits_replacement_to_text_after_match() {
    let f = Fixture::new(Some("x=1\n# live site config\nx=2\n"));
    f.ok(
        &M,
        json!({"after": "# live site config", "regexp": "^x=(\\d)$", "replace": "y=\\1"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("x=1\n# live site config\ny=2\n")
    );
}
}

crate::testutil::both_paths! {
async fn before_limits_replacement_to_text_before_match() {
    let f = Fixture::new(Some("x=1\n# live site config\nx=2\n"));
    f.ok(
        &M,
        json!({"before": "# live site config", "regexp": "^(.+)$", "replace": "# \\1"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("# x=1\n# live site config\nx=2\n")
    );
}
}

crate::testutil::both_paths! {
async fn after_and_before_limit_to_the_section_between() {
    let f = Fixture::new(Some("a\n<VirtualHost *>\nb\n</VirtualHost>\nc\n"));
    f.ok(
        &M,
        json!({"after": "(?m)^<VirtualHost [*]>", "before": "</VirtualHost>", "regexp": "^(.+)$", "replace": "# \\1"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("a\n<VirtualHost *>\n# b\n</VirtualHost>\nc\n")
    );
}
}

crate::testutil::both_paths! {
async fn unmatched_section_reports_pattern_and_no_change() {
    let f = Fixture::new(Some("a\n"));
    let r = f.ok(&M, json!({"after": "nothere", "regexp": "a"})).await;
    assert!(!changed(&r));
    assert_eq!(
        msg(&r),
        "Pattern for before/after params did not match the given file: nothere(?P<subsection>.*)"
    );
}
}

crate::testutil::both_paths! {
async fn named_groups_in_replacement() {
    let f = Fixture::new(Some("ListenAddress 1.2.3.4\n"));
    f.ok(
        &M,
        json!({"regexp": "^(?P<dctv>ListenAddress[ ]+)(?P<host>[^\\n]+)$", "replace": "#\\g<dctv>\\g<host>\\n\\g<dctv>0.0.0.0"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("#ListenAddress 1.2.3.4\nListenAddress 0.0.0.0\n")
    );
}
}

crate::testutil::both_paths! {
async fn localdomain_example_from_docs() {
    let f = Fixture::new(Some("127.0.0.1 localhost\n"));
    f.ok(
        &M,
        json!({"regexp": "\\b(localhost)(\\d*)\\b", "replace": "\\1\\2.localdomain\\2 \\1\\2"}),
    )
    .await;
    assert_eq!(
        f.content().as_deref(),
        Some("127.0.0.1 localhost.localdomain localhost\n")
    );
}
}

crate::testutil::both_paths! {
async fn check_mode_reports_diff_and_leaves_file() {
    let f = Fixture::new(Some("a\n"));
    let r = f
        .run(&M, json!({"regexp": "a", "replace": "b"}), true, true)
        .await
        .expect("run");
    assert!(changed(&r));
    assert_eq!(f.content().as_deref(), Some("a\n"));
    let d = &r["diff"][0];
    assert_eq!(d["before_header"], json!(f.path_str()));
    assert_eq!(d["before"], json!("a\n"));
    assert_eq!(d["after"], json!("b\n"));
}
}

crate::testutil::both_paths! {
async fn missing_file_fails_with_rc_257() {
    let f = Fixture::new(None);
    let e = f
        .run(&M, json!({"regexp": "a"}), false, false)
        .await
        .expect_err("must fail");
    assert_eq!(e.msg, format!("Path {} does not exist !", f.path_str()));
    assert_eq!(e.result.get("rc"), Some(&json!(257)));
}
}

crate::testutil::both_paths! {
async fn invalid_group_reference_fails_before_touching_file() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(&M, json!({"regexp": "(a)", "replace": "\\2"}), false, false)
        .await
        .expect_err("must fail");
    assert!(
        e.msg
            .starts_with("Unable to process replace due to error: invalid group reference 2"),
        "{}",
        e.msg
    );
    assert_eq!(f.content().as_deref(), Some("a\n"));
}
}

crate::testutil::both_paths! {
async fn missing_regexp_is_rejected() {
    let f = Fixture::new(Some("a\n"));
    let e = f
        .run(&M, json!({"replace": "b"}), false, false)
        .await
        .expect_err("must fail");
    assert_eq!(e.msg, "missing required arguments: regexp");
}
}

crate::testutil::both_paths! {
async fn backup_and_mode_are_applied() {
    let f = Fixture::new(Some("a\n"));
    std::fs::set_permissions(&f.path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let r = f
        .ok(
            &M,
            json!({"regexp": "a", "replace": "b", "backup": "yes", "mode": "0600"}),
        )
        .await;
    assert_eq!(
        msg(&r),
        "1 replacements made and ownership, perms or SE linux context changed"
    );
    let b = r["backup_file"].as_str().expect("backup_file").to_string();
    assert_eq!(std::fs::read_to_string(b).expect("backup"), "a\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&f.path).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o7777, 0o600);
}
}
