//! `copy` against a temp dir standing in for the host, on the agent and the sh path.

use super::*;
use crate::common::install::sha1_hex;
use crate::common::snapshot::{snapshot, temp_leftovers};
use crate::testutil::HostFx;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn fx() -> HostFx {
    HostFx::new(&Planned(CopyModule), "files")
}

crate::testutil::both_paths! {
async fn content_is_written_then_idempotent() {
    let fx = fx();
    let dest = fx.host("f");
    let r = fx
        .run(false, false, json!({"content": "hi\n", "dest": dest}))
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(r["checksum"], sha1_hex(b"hi\n"));
    assert_eq!(r["size"], 3);
    assert_eq!(r["state"], "file");
    assert_eq!(std::fs::read(&dest).unwrap(), b"hi\n");
    let r2 = fx
        .run(false, false, json!({"content": "hi\n", "dest": dest}))
        .await
        .unwrap();
    assert_eq!(r2["changed"], false);
    assert!(temp_leftovers(&fx.host_root()).is_empty());
}
}

crate::testutil::both_paths! {
async fn check_mode_reports_change_and_touches_nothing() {
    let fx = fx();
    std::fs::write(fx.host("f"), "old\n").unwrap();
    let before = snapshot(&fx.host_root());
    let r = fx
        .run(
            true,
            true,
            json!({"content": "new\n", "dest": fx.host("f"), "mode": "0600"}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(snapshot(&fx.host_root()), before);
    let r = fx
        .run(true, false, json!({"content": "x", "dest": fx.host("new")}))
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(snapshot(&fx.host_root()), before);
}
}

crate::testutil::both_paths! {
async fn diff_has_before_and_after_with_headers() {
    let fx = fx();
    std::fs::write(fx.host("f"), "old\n").unwrap();
    let r = fx
        .run(
            false,
            true,
            json!({"content": "new\n", "dest": fx.host("f")}),
        )
        .await
        .unwrap();
    let d = &r["diff"][0];
    assert_eq!(d["before"], "old\n");
    assert_eq!(d["after"], "new\n");
    assert_eq!(d["before_header"], fx.host("f"));
    assert_eq!(d["after_header"], fx.host("f"));
}
}

crate::testutil::both_paths! {
async fn mode_is_applied_and_changing_only_mode_is_a_change() {
    let fx = fx();
    let dest = fx.host("f");
    let r = fx
        .run(
            false,
            false,
            json!({"content": "x", "dest": dest, "mode": "0640"}),
        )
        .await
        .unwrap();
    assert_eq!(r["mode"], "0640");
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let r = fx
        .run(
            false,
            true,
            json!({"content": "x", "dest": dest, "mode": "u+x"}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(r["mode"], "0740");
    assert_eq!(r["diff"][0]["after"]["mode"], "0740");
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o740
    );
}
}

crate::testutil::both_paths! {
async fn owner_and_group_by_current_name_are_unchanged() {
    let fx = fx();
    let dest = fx.host("f");
    let r = fx
        .run(false, false, json!({"content": "x", "dest": dest}))
        .await
        .unwrap();
    let (o, g) = (r["owner"].clone(), r["group"].clone());
    let r = fx
        .run(
            false,
            false,
            json!({"content": "x", "dest": dest, "owner": o, "group": g}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], false);
}
}

crate::testutil::both_paths! {
async fn unknown_owner_fails_with_chown_message() {
    let fx = fx();
    let e = fx
        .run(
            false,
            false,
            json!({"content": "x", "dest": fx.host("f"), "owner": "no-such-user-kplay"}),
        )
        .await
        .unwrap_err();
    assert!(e.msg.starts_with("chown failed"), "{}", e.msg);
    assert!(temp_leftovers(&fx.host_root()).is_empty());
}
}

crate::testutil::both_paths! {
async fn src_file_into_directory_dest_uses_basename() {
    let fx = fx();
    std::fs::write(fx.dir.path().join("files/app.conf"), "a=1\n").unwrap();
    let r = fx
        .run(
            false,
            false,
            json!({"src": "app.conf", "dest": fx.host("")}),
        )
        .await
        .unwrap();
    assert_eq!(r["dest"], fx.host("app.conf"));
    assert_eq!(std::fs::read(fx.host("app.conf")).unwrap(), b"a=1\n");
}
}

crate::testutil::both_paths! {
async fn binary_src_round_trips_exactly() {
    let fx = fx();
    let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(fx.dir.path().join("files/blob"), &data).unwrap();
    fx.run(false, true, json!({"src": "blob", "dest": fx.host("blob")}))
        .await
        .unwrap();
    assert_eq!(std::fs::read(fx.host("blob")).unwrap(), data);
}
}

crate::testutil::both_paths! {
async fn force_false_keeps_existing_file() {
    let fx = fx();
    std::fs::write(fx.host("f"), "mine").unwrap();
    let r = fx
        .run(
            false,
            false,
            json!({"content": "theirs", "dest": fx.host("f"), "force": "no"}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], false);
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"mine");
}
}

crate::testutil::both_paths! {
async fn backup_keeps_old_content() {
    let fx = fx();
    std::fs::write(fx.host("f"), "old").unwrap();
    let r = fx
        .run(
            false,
            false,
            json!({"content": "new", "dest": fx.host("f"), "backup": true}),
        )
        .await
        .unwrap();
    let b = r["backup_file"].as_str().unwrap();
    assert!(b.starts_with(&format!("{}.", fx.host("f"))));
    assert_eq!(std::fs::read(b).unwrap(), b"old");
}
}

crate::testutil::both_paths! {
async fn failing_validate_keeps_destination() {
    let fx = fx();
    std::fs::write(fx.host("f"), "old").unwrap();
    let e = fx
        .run(
            false,
            false,
            json!({"content": "new", "dest": fx.host("f"), "validate": "false %s"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.msg, "failed to validate");
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"old");
    assert!(temp_leftovers(&fx.host_root()).is_empty());
}
}

crate::testutil::both_paths! {
async fn missing_parent_directory_is_an_error() {
    let fx = fx();
    let e = fx
        .run(
            false,
            false,
            json!({"content": "x", "dest": fx.host("no/f")}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.msg,
        format!("Destination directory {} does not exist", fx.host("no"))
    );
}
}

crate::testutil::both_paths! {
async fn directory_src_copies_recursively_and_trailing_slash_copies_contents() {
    let fx = fx();
    std::fs::create_dir_all(fx.dir.path().join("files/tree/sub")).unwrap();
    std::fs::write(fx.dir.path().join("files/tree/a"), "A").unwrap();
    std::fs::write(fx.dir.path().join("files/tree/sub/b"), "B").unwrap();
    let before = snapshot(&fx.host_root());
    let r = fx
        .run(true, false, json!({"src": "tree", "dest": fx.host("")}))
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(snapshot(&fx.host_root()), before);
    let r = fx
        .run(false, false, json!({"src": "tree", "dest": fx.host("")}))
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(std::fs::read(fx.host("tree/sub/b")).unwrap(), b"B");
    let r = fx
        .run(false, false, json!({"src": "tree", "dest": fx.host("")}))
        .await
        .unwrap();
    assert_eq!(r["changed"], false);
    fx.run(
        false,
        false,
        json!({"src": "tree/", "dest": fx.host("flat")}),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(fx.host("flat/a")).unwrap(), b"A");
}
}

crate::testutil::both_paths! {
async fn remote_src_copies_on_the_host() {
    let fx = fx();
    std::fs::write(fx.host("orig"), "R").unwrap();
    let r = fx
        .run(
            false,
            false,
            json!({"src": fx.host("orig"), "remote_src": true, "dest": fx.host("copy")}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(std::fs::read(fx.host("copy")).unwrap(), b"R");
    let r = fx
        .run(
            false,
            false,
            json!({"src": fx.host("orig"), "remote_src": true, "dest": fx.host("copy")}),
        )
        .await
        .unwrap();
    assert_eq!(r["changed"], false);
}
}

crate::testutil::both_paths! {
async fn bad_arguments_are_rejected_before_touching_the_host() {
    let fx = fx();
    let before = snapshot(&fx.host_root());
    let dest = fx.host("f");
    let cases = [
        (
            json!({"content": "x", "dest": dest, "foo": 1}),
            "Unsupported parameters for (copy) module: foo.",
        ),
        (json!({"content": "x"}), "missing required arguments: dest"),
        (
            json!({"content": "x", "src": "y", "dest": dest}),
            "parameters are mutually exclusive: content|src",
        ),
        (json!({"dest": dest}), "src (or content) is required"),
        (
            json!({"content": "x", "dest": dest, "mode": "bogus"}),
            "bad symbolic permission for mode: bogus",
        ),
        (
            json!({"content": "x", "dest": dest, "validate": "true"}),
            "validate must contain %s: true",
        ),
        (
            json!({"src": "nope", "dest": dest}),
            "Could not find or access 'nope'",
        ),
        (
            json!({"content": "x", "dest": format!("{dest}/")}),
            "can not use content with a dir as dest",
        ),
    ];
    for (a, want) in cases {
        let e = fx.run(false, false, a).await.unwrap_err();
        assert!(e.msg.starts_with(want), "{} vs {want}", e.msg);
    }
    assert_eq!(snapshot(&fx.host_root()), before);
}
}

/// Checked arguments from JSON (pure: no host).
fn parsed(v: serde_json::Value) -> CopyArgs {
    let serde_json::Value::Object(m) = v else {
        panic!("not an object")
    };
    CopyModule.parse(m.into_iter().collect()).unwrap()
}

/// What query would see for `dest` holding `content` (absent when `None`), from `source`.
fn seen_one(dest: &str, content: Option<&[u8]>, source: install::SourceSeen) -> Queried {
    use crate::common::probe::{HostInfo, PathKind, PathStat};
    let host = HostInfo {
        uid: 0,
        gid: 0,
        user: "root".into(),
        group: "root".into(),
        umask: 0o022,
    };
    let dest_st = match content {
        Some(c) => PathStat {
            checksum: Some(sha1_hex(c)),
            ..PathStat::new_by(dest, PathKind::File, &host)
        },
        None => PathStat::absent(dest),
    };
    Queried {
        install: Install::new(dest, Source::Remote("/src".into())),
        seen: install::Seen {
            parent: PathStat::new_by("/", PathKind::Directory, &host),
            host,
            dest: dest_st,
            joined: None,
            source,
            content_read: false,
        },
    }
}

#[test]
fn remote_src_checksum_is_checked_in_plan_even_when_nothing_changes() {
    use crate::common::probe::{PathKind, PathStat};
    let a = parsed(json!({"src": "/src", "remote_src": true, "dest": "/f", "checksum": "bad"}));
    let src = PathStat {
        kind: PathKind::File,
        checksum: Some(sha1_hex(b"r")),
        ..PathStat::absent("/src")
    };
    let file = seen_one("/f", Some(b"r"), install::SourceSeen::Remote(Box::new(src)));
    let seen = CopySeen::One {
        file: Box::new(file),
        src: Some("/src".into()),
    };
    let e = CopyModule::plan(&a, &seen).unwrap_err();
    assert!(e.msg.starts_with("Copied file does not match"), "{}", e.msg);
    assert_eq!(e.result["expected_checksum"], "bad");
}

#[test]
fn tree_plan_makes_missing_directories_and_writes_only_differing_files() {
    let a = parsed(json!({"src": "tree", "dest": "/d"}));
    let controller = |data: &[u8]| install::SourceSeen::Controller {
        checksum: sha1_hex(data),
        md5: String::new(),
        size: data.len() as u64,
        head: None,
    };
    let t = tree::TreeSeen {
        root: "/ctl/tree".into(),
        dirs: vec![("/d/tree".into(), false), ("/d/tree/sub".into(), true)],
        dir_mode: None,
        files: vec![
            seen_one("/d/tree/a", Some(b"A"), controller(b"A")),
            seen_one("/d/tree/sub/b", None, controller(b"B")),
        ],
    };
    let p = CopyModule::plan(&a, &CopySeen::Tree(t.clone())).unwrap();
    let Some(CopyChanges::Tree(ch)) = &p.changes else {
        panic!("{:?}", p.changes)
    };
    assert_eq!(ch.mkdirs, vec!["/d/tree/sub".to_string()]);
    assert_eq!(ch.steps.len(), 1);
    assert!(matches!(&ch.steps[0], Step::Write(w) if w.target == "/d/tree/sub/b"));
    assert_eq!(p.result.extra["src"], "/ctl/tree");
    let mut done = t;
    done.dirs[1].1 = false;
    done.files[1] = seen_one("/d/tree/sub/b", Some(b"B"), controller(b"B"));
    let p = CopyModule::plan(&a, &CopySeen::Tree(done)).unwrap();
    assert!(p.changes.is_none() && !p.result.changed);
}

crate::testutil::both_paths! {
async fn checksum_of_sent_content_is_checked_only_when_writing() {
    let fx = fx();
    let dest = fx.host("f");
    let a = json!({"content": "x", "dest": dest, "checksum": "0000"});
    let r = fx.run(true, false, a.clone()).await.unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(r.get("dest"), None, "check mode reports the change only");
    let e = fx.run(false, false, a).await.unwrap_err();
    assert!(e.msg.starts_with("Copied file does not match"), "{}", e.msg);
    assert!(!std::path::Path::new(&dest).exists());
    let good = json!({"content": "x", "dest": dest, "checksum": sha1_hex(b"x")});
    assert_eq!(fx.run(false, false, good).await.unwrap()["changed"], true);
}
}
