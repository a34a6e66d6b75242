//! `archive`'s tests: the layout and plan without a host, and runs on both paths.
use super::layout::arcroot;
use super::*;
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;
use std::process::Command;

#[test]
fn arcroot_is_the_common_directory() {
    assert_eq!(arcroot(&["/a/b/c".into()]), "/a/b/");
    assert_eq!(arcroot(&["/a/b/c".into(), "/a/d".into()]), "/a/");
    assert_eq!(arcroot(&["/x".into(), "/y/z".into()]), "/");
}

crate::testutil::both_paths! {
async fn packs_a_tree_reproducibly_and_compresses_a_single_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let t = d.path().join("data");
    std::fs::create_dir_all(t.join("sub")).expect("mkdir");
    std::fs::write(t.join("a.txt"), "alpha\n").expect("w");
    std::fs::write(t.join("sub/b.txt"), "beta\n").expect("w");
    std::fs::write(t.join("skip.log"), "x\n").expect("w");
    let env = TestEnv::new(d.path());
    let dest = d.path().join("data.tgz").to_string_lossy().into_owned();
    let a = json!({"path": t.to_string_lossy(), "dest": dest, "exclusion_patterns": ["*.log"]});
    let r = Planned(ArchiveModule).run(&ctx(&env, true, false), args(a.clone())).await.map(|r| r.into_map()).expect("check");
    assert_eq!(r["changed"], json!(true));
    assert!(!std::path::Path::new(&dest).exists());
    let r = Planned(ArchiveModule).run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("archive");
    assert_eq!((r["changed"].clone(), r["dest_state"].clone()), (json!(true), json!("archive")));
    let list = Command::new("tar").args(["-tzf", &dest]).output().expect("tar");
    let names = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(names.contains("data/sub/b.txt") && names.contains("data/a.txt") && !names.contains("skip.log"), "{names}");
    let r = Planned(ArchiveModule).run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("again");
    assert_eq!(r["changed"], json!(false), "{r:?}");
    // community.general's check mode cannot tell without building: an archive is a change.
    let r = Planned(ArchiveModule).run(&ctx(&env, true, false), args(a)).await.map(|r| r.into_map()).expect("check again");
    assert_eq!(r["changed"], json!(true));
    let f = t.join("a.txt").to_string_lossy().into_owned();
    let r = Planned(ArchiveModule).run(&ctx(&env, false, false), args(json!({"path": f, "remove": true}))).await.map(|r| r.into_map()).expect("gz");
    assert_eq!(r["dest_state"], json!("compress"));
    assert_eq!(r["archived"], json!([f.clone()]));
    let out = Command::new("gzip").args(["-dc", &format!("{f}.gz")]).output().expect("gzip");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha\n");
    assert!(!t.join("a.txt").exists(), "remove: source gone");
    // A missing path is reported (Ansible's `missing`), not a failure; an empty list fails.
    let none = d.path().join("none").to_string_lossy().into_owned();
    let r = Planned(ArchiveModule).run(&ctx(&env, false, false), args(json!({"path": [none], "dest": dest}))).await.map(|r| r.into_map()).expect("missing");
    assert_eq!((r["changed"].clone(), r["missing"].clone(), r["dest_state"].clone()), (json!(false), json!([none]), json!("archive")));
    let e = Planned(ArchiveModule).run(&ctx(&env, false, false), args(json!({"path": [none], "exclude_path": [none], "dest": dest}))).await.map(|r| r.into_map()).unwrap_err();
    assert!(e.msg.starts_with("Error, no source paths were found"), "{}", e.msg);
}
}

fn aa(v: serde_json::Value) -> ArchiveArgs {
    ArchiveArgs::parse(args(v)).expect("args")
}

/// What `query` would find: `(path, kind)` expanded from `path`, and `dest` when it exists.
fn seen(paths: &[(&str, Kind)], dest: Option<u32>) -> Seen {
    let mut s = Seen {
        umask: 0o022,
        ..Seen::default()
    };
    for (p, k) in paths {
        s.expanded.push(p.to_string());
        s.kinds.insert(p.to_string(), *k);
    }
    s.dest = dest.map(|mode| PathStat {
        kind: PathKind::File,
        mode,
        ..PathStat::absent("/d")
    });
    s
}

#[test]
fn arcroot_is_the_common_prefix_directory_as_python_computes_it() {
    assert_eq!(arcroot(&["/a/bc/x".into(), "/a/bd/y".into()]), "/a/");
    assert_eq!(arcroot(&["/a/b".into(), "/a/b/c/d".into()]), "/a/");
    assert_eq!(arcroot(&["rel".into()]), "");
}

#[test]
fn plan_builds_an_archive_always_in_check_mode_and_needs_dest() {
    let a = aa(json!({"path": ["/s/b", "/s/a"], "dest": "/d.tgz"}));
    let p = ArchiveModule::plan(
        &a,
        &seen(&[("/s/b", Kind::Other), ("/s/a", Kind::Dir)], Some(0o644)),
    )
    .expect("plan");
    assert!(p.result.changed);
    assert_eq!(p.result.extra["dest_state"], json!("absent"));
    match p.changes {
        Some(Changes::Build {
            layout,
            targets,
            missing,
        }) => {
            assert!(layout.must_archive && !missing);
            assert_eq!(layout.root, "/s/");
            assert_eq!(targets, vec!["/s/a".to_string(), "/s/b".to_string()]);
        }
        c => panic!("{c:?}"),
    }
    let e = ArchiveModule::plan(
        &aa(json!({"path": "/s/a"})),
        &seen(&[("/s/a", Kind::Dir)], None),
    )
    .unwrap_err();
    assert_eq!(
        e.msg,
        "Error, must specify \"dest\" when archiving multiple files or trees"
    );
}

#[test]
fn plan_compresses_one_file_next_to_it_and_is_unchanged_in_check_mode_when_dest_exists() {
    let a = aa(json!({"path": "/s/f", "format": "xz"}));
    let p = ArchiveModule::plan(&a, &seen(&[("/s/f", Kind::Other)], None)).expect("plan");
    assert!(p.result.changed);
    assert_eq!(p.result.extra["dest"], json!("/s/f.xz"));
    let p = ArchiveModule::plan(&a, &seen(&[("/s/f", Kind::Other)], Some(0o644))).expect("plan");
    assert!(
        !p.result.changed && p.changes.is_some(),
        "applied runs still rebuild and compare"
    );
    let a = aa(json!({"path": "/s/f", "format": "xz", "mode": "0600"}));
    let p = ArchiveModule::plan(&a, &seen(&[("/s/f", Kind::Other)], Some(0o644))).expect("plan");
    assert!(p.result.changed, "attributes differ");
}

#[test]
fn plan_reports_missing_paths_and_refuses_dest_inside_removed_sources() {
    let a = aa(json!({"path": ["/s/gone"], "dest": "/d.tar"}));
    let p =
        ArchiveModule::plan(&a, &seen(&[("/s/gone", Kind::Missing)], Some(0o644))).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed);
    assert_eq!(p.result.extra["missing"], json!(["/s/gone"]));
    assert_eq!(p.result.extra["dest_state"], json!("archive"));
    let a = aa(json!({"path": ["/s", "/t"], "dest": "/s/x.tgz", "remove": true}));
    let e = ArchiveModule::plan(&a, &seen(&[("/s", Kind::Dir), ("/t", Kind::Other)], None))
        .unwrap_err();
    assert_eq!(
        e.msg,
        "Error, created archive can not be contained in source paths when remove=true"
    );
    let mut s = seen(&[("/s/a", Kind::Other)], None);
    s.excluded.push("/s/a".into());
    let e =
        ArchiveModule::plan(&aa(json!({"path": "/s/a", "exclude_path": "/s/a"})), &s).unwrap_err();
    assert_eq!(e.msg, "Error, no source paths were found");
    assert_eq!(e.result["path"], json!("/s/a"));
}

#[test]
fn expansion_reply_and_member_listing_are_parsed() {
    let s = script::parse_expansion(b"P\td\t/s/a\0P\tm\t/s/b\0X\te\t/s/c\0");
    assert_eq!(s.expanded, vec!["/s/a", "/s/b"]);
    assert_eq!(s.excluded, vec!["/s/c"]);
    assert_eq!(s.kind("/s/a"), Kind::Dir);
    assert_eq!(s.kind("/s/b"), Kind::Missing);
    let m = script::members("changed\nM a/\nM a/x\nM a/sub/\n", "/s/", &["/s/a".into()]);
    assert_eq!(m, vec!["/s/a/x", "/s/a/sub"]);
}

crate::testutil::both_paths! {
async fn globs_are_expanded_on_the_host_and_exclude_path_drops_matches() {
    let d = tempfile::tempdir().expect("tempdir");
    let t = d.path().join("logs dir");
    std::fs::create_dir_all(&t).expect("mkdir");
    for n in ["a.log", "b.log", "keep.txt"] {
        std::fs::write(t.join(n), n).expect("w");
    }
    let env = TestEnv::new(d.path());
    let dest = d.path().join("logs.tar").to_string_lossy().into_owned();
    let glob = format!("{}/*.log", t.display());
    let b = t.join("b.log").to_string_lossy().into_owned();
    let a = json!({"path": glob, "exclude_path": b, "dest": dest, "format": "tar"});
    let r = Planned(ArchiveModule).run(&ctx(&env, false, false), args(a)).await.map(|r| r.into_map()).expect("archive");
    let ad = t.join("a.log").to_string_lossy().into_owned();
    assert_eq!(r["expanded_paths"], json!([ad.clone(), b.clone()]));
    assert_eq!(r["expanded_exclude_paths"], json!([b]));
    assert_eq!(r["archived"], json!([ad]));
    assert_eq!(r["arcroot"], json!(format!("{}/", t.display())));
    let list = Command::new("tar").args(["-tf", &dest]).output().expect("tar");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "a.log\n");
}
}
