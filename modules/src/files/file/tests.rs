//! `file` against a real directory, on the agent path and the sh path.

use super::states::components;
use super::*;
use crate::common::snapshot::snapshot;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::value::Value;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

struct Fx {
    dir: tempfile::TempDir,
    env: TestEnv,
}

impl Fx {
    fn new() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        let env = TestEnv::new(dir.path());
        Fx { dir, env }
    }
    fn p(&self, rel: &str) -> String {
        self.dir.path().join(rel).to_string_lossy().into_owned()
    }
    async fn run(&self, check: bool, diff: bool, a: Value) -> Result<Map, ModuleError> {
        FileModule
            .run(&ctx(&self.env, check, diff), args(a))
            .await
            .map(ModuleResult::into_map)
    }
    fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.p(rel)).unwrap().permissions().mode() & 0o7777
    }
}

crate::testutil::both_paths! {
async fn directory_is_created_with_mode_then_idempotent() {
    let fx = Fx::new();
    let a = json!({"path": fx.p("a/b"), "state": "directory", "mode": "0750"});
    let r = fx.run(false, true, a.clone()).await.unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(r["state"], "directory");
    assert_eq!(r["mode"], "0750");
    assert_eq!(r["diff"]["before"]["state"], "absent");
    assert_eq!(r["diff"]["after"]["state"], "directory");
    assert_eq!((fx.mode("a"), fx.mode("a/b")), (0o750, 0o750));
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn check_mode_changes_nothing_but_reports_change() {
    let fx = Fx::new();
    std::fs::write(fx.p("f"), "x").unwrap();
    let before = snapshot(fx.dir.path());
    for a in [
        json!({"path": fx.p("d"), "state": "directory"}),
        json!({"path": fx.p("f"), "mode": "0600"}),
        json!({"path": fx.p("f"), "state": "absent"}),
        json!({"path": fx.p("l"), "state": "link", "src": "f"}),
        json!({"path": fx.p("t"), "state": "touch"}),
    ] {
        let r = fx.run(true, false, a.clone()).await.unwrap();
        assert_eq!(r["changed"], true, "{a}");
    }
    assert_eq!(snapshot(fx.dir.path()), before);
}
}

crate::testutil::both_paths! {
async fn file_state_on_missing_path_fails_like_ansible() {
    let fx = Fx::new();
    let e = fx
        .run(false, false, json!({"path": fx.p("nope")}))
        .await
        .unwrap_err();
    assert_eq!(
        e.msg,
        format!("file ({}) is absent, cannot continue", fx.p("nope"))
    );
    assert_eq!(e.result["state"], "absent");
}
}

crate::testutil::both_paths! {
async fn mode_on_existing_file_changes_once() {
    let fx = Fx::new();
    std::fs::write(fx.p("f"), "x").unwrap();
    let a = json!({"path": fx.p("f"), "mode": "u=rw,go="});
    assert_eq!(
        fx.run(false, false, a.clone()).await.unwrap()["changed"],
        true
    );
    assert_eq!(fx.mode("f"), 0o600);
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn absent_removes_trees_and_is_idempotent() {
    let fx = Fx::new();
    std::fs::create_dir_all(fx.p("d/e")).unwrap();
    let a = json!({"path": fx.p("d"), "state": "absent"});
    let r = fx.run(false, false, a.clone()).await.unwrap();
    assert_eq!(
        (r["changed"].clone(), r["state"].clone()),
        (json!(true), json!("absent"))
    );
    assert!(!fx.dir.path().join("d").exists());
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn symlink_is_created_retargeted_and_idempotent() {
    let fx = Fx::new();
    std::fs::write(fx.p("a"), "A").unwrap();
    std::fs::write(fx.p("b"), "B").unwrap();
    let r = fx
        .run(
            false,
            false,
            json!({"path": fx.p("l"), "state": "link", "src": "a"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r["changed"].clone(), r["state"].clone()),
        (json!(true), json!("link"))
    );
    assert_eq!(
        std::fs::read_link(fx.p("l")).unwrap().to_string_lossy(),
        "a"
    );
    assert_eq!(
        fx.run(
            false,
            false,
            json!({"path": fx.p("l"), "state": "link", "src": "a"})
        )
        .await
        .unwrap()["changed"],
        false
    );
    fx.run(
        false,
        false,
        json!({"path": fx.p("l"), "state": "link", "src": "b"}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_link(fx.p("l")).unwrap().to_string_lossy(),
        "b"
    );
}
}

crate::testutil::both_paths! {
async fn symlink_to_missing_src_needs_force() {
    let fx = Fx::new();
    let e = fx
        .run(
            false,
            false,
            json!({"path": fx.p("l"), "state": "link", "src": "nope"}),
        )
        .await
        .unwrap_err();
    assert!(e.msg.starts_with("src file does not exist"));
    fx.run(
        false,
        false,
        json!({"path": fx.p("l"), "state": "link", "src": "nope", "force": true}),
    )
    .await
    .unwrap();
    assert!(std::fs::symlink_metadata(fx.p("l")).is_ok());
}
}

crate::testutil::both_paths! {
async fn symlink_over_a_file_is_refused_without_force() {
    let fx = Fx::new();
    std::fs::write(fx.p("a"), "A").unwrap();
    std::fs::write(fx.p("f"), "F").unwrap();
    let e = fx
        .run(
            false,
            false,
            json!({"path": fx.p("f"), "state": "link", "src": "a"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.msg,
        format!("refusing to convert from file to symlink for {}", fx.p("f"))
    );
}
}

crate::testutil::both_paths! {
async fn hard_link_shares_the_inode_and_is_idempotent() {
    let fx = Fx::new();
    std::fs::write(fx.p("a"), "A").unwrap();
    let a = json!({"path": fx.p("h"), "state": "hard", "src": fx.p("a")});
    assert_eq!(
        fx.run(false, false, a.clone()).await.unwrap()["changed"],
        true
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(fx.p("h")).unwrap().ino(),
        std::fs::metadata(fx.p("a")).unwrap().ino()
    );
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn touch_creates_then_always_reports_changed() {
    let fx = Fx::new();
    let a = json!({"path": fx.p("t"), "state": "touch", "mode": "0640"});
    assert_eq!(
        fx.run(false, false, a.clone()).await.unwrap()["changed"],
        true
    );
    assert_eq!(fx.mode("t"), 0o640);
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], true);
    let keep = json!({"path": fx.p("t"), "state": "touch", "modification_time": "preserve", "access_time": "preserve"});
    assert_eq!(fx.run(false, false, keep).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn touch_with_explicit_timestamp_sets_mtime() {
    let fx = Fx::new();
    fx.run(
        false,
        false,
        json!({"path": fx.p("t"), "state": "touch", "modification_time": "202001020304.05"}),
    )
    .await
    .unwrap();
    let m = std::fs::metadata(fx.p("t")).unwrap().modified().unwrap();
    let secs = m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let want = chrono::NaiveDate::from_ymd_opt(2020, 1, 2)
        .unwrap()
        .and_hms_opt(3, 4, 5)
        .unwrap();
    // Local time on the host: allow any timezone offset.
    assert!((secs - want.and_utc().timestamp()).abs() <= 14 * 3600);
}
}

crate::testutil::both_paths! {
async fn recurse_applies_octal_mode_to_the_tree() {
    let fx = Fx::new();
    std::fs::create_dir_all(fx.p("d/e")).unwrap();
    std::fs::write(fx.p("d/e/f"), "x").unwrap();
    let a = json!({"path": fx.p("d"), "state": "directory", "mode": "0700", "recurse": true});
    let before = snapshot(fx.dir.path());
    assert_eq!(
        fx.run(true, false, a.clone()).await.unwrap()["changed"],
        true
    );
    assert_eq!(snapshot(fx.dir.path()), before);
    assert_eq!(
        fx.run(false, false, a.clone()).await.unwrap()["changed"],
        true
    );
    assert_eq!((fx.mode("d/e"), fx.mode("d/e/f")), (0o700, 0o700));
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn bad_arguments_are_rejected_before_touching_the_host() {
    let fx = Fx::new();
    let before = snapshot(fx.dir.path());
    let cases = [
        (
            json!({"path": fx.p("x"), "bogus": 1}),
            "Unsupported parameters for (file) module: bogus.",
        ),
        (
            json!({"state": "directory"}),
            "missing required arguments: path",
        ),
        (
            json!({"path": fx.p("x"), "state": "weird"}),
            "value of state must be one of",
        ),
        (
            json!({"path": fx.p("x"), "state": "file", "src": "y"}),
            "src option requires state to be 'link' or 'hard'",
        ),
        (
            json!({"path": fx.p("x"), "state": "directory", "mode": "zz"}),
            "bad symbolic permission",
        ),
        (
            json!({"path": fx.p("x"), "state": "touch", "modification_time": "yesterday"}),
            "Error while obtaining timestamp",
        ),
    ];
    for (a, want) in cases {
        let e = fx.run(false, false, a).await.unwrap_err();
        assert!(e.msg.starts_with(want), "{} vs {want}", e.msg);
    }
    assert_eq!(snapshot(fx.dir.path()), before);
}
}

/// `a` with a second name `h`.
fn hard_linked(fx: &Fx) {
    std::fs::write(fx.p("a"), "A").unwrap();
    std::fs::hard_link(fx.p("a"), fx.p("h")).unwrap();
}

crate::testutil::both_paths! {
async fn no_state_on_a_hard_linked_file_only_applies_attributes() {
    let fx = Fx::new();
    hard_linked(&fx);
    let a = json!({"path": fx.p("a"), "mode": "0600"});
    let r = fx.run(false, false, a.clone()).await.unwrap();
    assert_eq!(
        (
            &r["changed"],
            &r["state"],
            &r["dest"],
            &r["src"],
            &r["mode"]
        ),
        (
            &json!(true),
            &json!("hard"),
            &json!(fx.p("a")),
            &Value::Null,
            &json!("0600")
        )
    );
    assert!(r.get("path").is_none());
    assert_eq!(fx.mode("h"), 0o600);
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn src_without_state_is_accepted_when_the_path_is_a_hard_link() {
    let fx = Fx::new();
    hard_linked(&fx);
    let r = fx
        .run(false, false, json!({"path": fx.p("h"), "src": fx.p("a")}))
        .await
        .unwrap();
    assert_eq!(
        (&r["changed"], &r["state"]),
        (&json!(false), &json!("hard"))
    );
}
}

crate::testutil::both_paths! {
async fn hard_without_src_on_a_plain_file_requires_src() {
    let fx = Fx::new();
    std::fs::write(fx.p("f"), "F").unwrap();
    let e = fx
        .run(false, false, json!({"path": fx.p("f"), "state": "hard"}))
        .await
        .unwrap_err();
    assert_eq!(e.msg, "src is required for creating new hardlinks");
}
}

crate::testutil::both_paths! {
async fn hard_link_to_another_inode_needs_force() {
    let fx = Fx::new();
    hard_linked(&fx);
    std::fs::write(fx.p("other"), "O").unwrap();
    let a = json!({"path": fx.p("h"), "state": "hard", "src": fx.p("other")});
    let e = fx.run(false, false, a).await.unwrap_err();
    assert_eq!(
        e.msg,
        "Cannot link, different hard link exists at destination"
    );
    assert_eq!(e.result["src"], json!(fx.p("other")));
    let forced =
        json!({"path": fx.p("h"), "state": "hard", "src": fx.p("other"), "force": true});
    assert_eq!(fx.run(false, false, forced).await.unwrap()["changed"], true);
    assert_eq!(std::fs::read_to_string(fx.p("h")).unwrap(), "O");
}
}

crate::testutil::both_paths! {
async fn hard_link_with_missing_src_fails_naming_dest_and_src() {
    let fx = Fx::new();
    hard_linked(&fx);
    let a = json!({"path": fx.p("h"), "state": "hard", "src": fx.p("nope")});
    let e = fx.run(false, false, a).await.unwrap_err();
    assert_eq!(e.msg, "src does not exist");
    assert_eq!(
        (&e.result["dest"], &e.result["src"]),
        (&json!(fx.p("h")), &json!(fx.p("nope")))
    );
}
}

crate::testutil::both_paths! {
async fn hard_link_given_a_directory_path_is_made_inside_it() {
    let fx = Fx::new();
    std::fs::write(fx.p("a"), "A").unwrap();
    std::fs::create_dir(fx.p("d")).unwrap();
    let r = fx
        .run(
            false,
            false,
            json!({"path": fx.p("d"), "state": "hard", "src": fx.p("a")}),
        )
        .await
        .unwrap();
    assert_eq!(r["dest"], json!(fx.p("d/a")));
    assert_eq!(std::fs::read_to_string(fx.p("d/a")).unwrap(), "A");
}
}

crate::testutil::both_paths! {
async fn no_state_on_a_symlink_keeps_the_link_and_sets_the_target_mode() {
    let fx = Fx::new();
    std::fs::write(fx.p("t"), "T").unwrap();
    std::os::unix::fs::symlink("t", fx.p("l")).unwrap();
    let a = json!({"path": fx.p("l"), "mode": "0600"});
    let r = fx.run(false, false, a.clone()).await.unwrap();
    assert_eq!(
        (&r["changed"], &r["state"], &r["src"], &r["mode"]),
        (&json!(true), &json!("link"), &json!("t"), &json!("0777"))
    );
    assert_eq!(fx.mode("t"), 0o600);
    assert_eq!(
        std::fs::read_link(fx.p("l")).unwrap().to_string_lossy(),
        "t"
    );
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn check_mode_on_a_missing_path_reports_no_path_info() {
    let fx = Fx::new();
    let r = fx
        .run(
            true,
            false,
            json!({"path": fx.p("d"), "state": "directory"}),
        )
        .await
        .unwrap();
    assert_eq!(
        Value::Object(r),
        json!({"changed": true, "path": fx.p("d")})
    );
}
}

#[test]
fn components_lists_each_prefix() {
    assert_eq!(components("/a/b"), vec!["/a", "/a/b"]);
    assert_eq!(components("a/b/"), vec!["a", "a/b"]);
}

crate::testutil::both_paths! {
async fn recurse_with_a_symbolic_mode_is_predicted_in_check_mode() {
    let fx = Fx::new();
    std::fs::create_dir_all(fx.p("d/e")).unwrap();
    std::fs::write(fx.p("d/e/f"), "x").unwrap();
    std::fs::set_permissions(fx.p("d/e/f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = json!({"path": fx.p("d"), "state": "directory", "recurse": true, "mode": "go+rX"});
    let before = snapshot(fx.dir.path());
    assert_eq!(fx.run(true, false, a.clone()).await.unwrap()["changed"], true);
    assert_eq!(snapshot(fx.dir.path()), before);
    assert_eq!(fx.run(false, false, a.clone()).await.unwrap()["changed"], true);
    assert_eq!(fx.mode("d/e/f"), 0o644);
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn a_given_modification_time_on_a_file_is_set_once() {
    let fx = Fx::new();
    std::fs::write(fx.p("f"), "x").unwrap();
    let a = json!({"path": fx.p("f"), "modification_time": "202001020304.05"});
    assert_eq!(fx.run(false, false, a.clone()).await.unwrap()["changed"], true);
    assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
}
}

crate::testutil::both_paths! {
async fn file_state_through_a_symlink_reports_the_real_path() {
    let fx = Fx::new();
    std::fs::write(fx.p("t"), "T").unwrap();
    std::os::unix::fs::symlink("t", fx.p("l")).unwrap();
    let a = json!({"path": fx.p("l"), "state": "file", "mode": "0600"});
    let r = fx.run(false, false, a).await.unwrap();
    let real = std::fs::canonicalize(fx.p("t")).unwrap();
    assert_eq!(r["path"], json!(real.to_string_lossy()));
    assert_eq!((&r["state"], &r["mode"]), (&json!("file"), &json!("0600")));
    assert_eq!(fx.mode("t"), 0o600);
}
}

crate::testutil::both_paths! {
async fn touch_reports_dest() {
    let fx = Fx::new();
    let r = fx
        .run(false, false, json!({"path": fx.p("t"), "state": "touch"}))
        .await
        .unwrap();
    assert_eq!(r["dest"], json!(fx.p("t")));
    assert!(r.get("path").is_none());
}
}
