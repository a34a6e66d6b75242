//! `unarchive`'s tests: the plan without a host, and unpacking on both paths.
use super::inspect::{parse_inspect, relevant_diffs};
use super::*;
use crate::planned::Planned;
use crate::testutil::{args, ctx, TestEnv};
use kplay_engine::module::Module;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A controller dir with `files/app.tar.gz` holding `app/` and `app/conf.txt`, and an empty
/// destination.
/// Tests that upload an archive share /tmp names of this process: they run one at a time so
/// the check-mode test can prove it left no upload behind.
static UPLOADS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn fixture() -> (tempfile::TempDir, TestEnv, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let files = t.path().join("files");
    let build = t.path().join("build/app");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&build).unwrap();
    std::fs::write(build.join("conf.txt"), "v=1\n").unwrap();
    let st = std::process::Command::new("tar")
        .args([
            "czf",
            files.join("app.tar.gz").to_str().unwrap(),
            "-C",
            t.path().join("build").to_str().unwrap(),
            "app",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let env = TestEnv::new(&files);
    (t, env, dest)
}

crate::testutil::both_paths! {
async fn controller_tar_gz_is_unpacked_then_unchanged() {
    let _serial = UPLOADS.lock().await;
    let (_t, env, dest) = fixture();
    let a = json!({"src": "app.tar.gz", "dest": dest.to_str().unwrap(), "list_files": true});
    let r = Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a.clone()))
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], true, "{r:?}");
    assert_eq!(r["handler"], "TgzArchive");
    assert_eq!(r["files"], json!(["app/", "app/conf.txt"]));
    assert_eq!(r["extract_results"]["rc"], 0);
    assert_eq!(
        std::fs::read_to_string(dest.join("app/conf.txt")).unwrap(),
        "v=1\n"
    );
    let r = Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a))
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], false, "{r:?}");
}
}

crate::testutil::both_paths! {
async fn modified_member_is_restored() {
    let _serial = UPLOADS.lock().await;
    let (_t, env, dest) = fixture();
    let a = json!({"src": "app.tar.gz", "dest": dest.to_str().unwrap()});
    Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a.clone()))
        .await
        .unwrap();
    std::fs::write(dest.join("app/conf.txt"), "edited, longer\n").unwrap();
    let r = Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a))
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], true);
    assert_eq!(
        std::fs::read_to_string(dest.join("app/conf.txt")).unwrap(),
        "v=1\n"
    );
}
}

crate::testutil::both_paths! {
async fn check_mode_reports_change_and_extracts_nothing() {
    let _serial = UPLOADS.lock().await;
    let before = uploads();
    let (_t, env, dest) = fixture();
    let a = json!({"src": "app.tar.gz", "dest": dest.to_str().unwrap()});
    let r = Planned(UnarchiveModule)
        .run(&ctx(&env, true, false), args(a))
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], true);
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    no_upload_left_behind(&before).await;
}
}

/// Other tests (and other test processes on the machine) upload into /tmp at the same time,
/// but remove their directories at once: only one that stays past a few seconds is a leak.
async fn no_upload_left_behind(before: &std::collections::BTreeSet<String>) {
    for _ in 0..50 {
        if uploads().is_subset(before) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let left: Vec<String> = uploads().difference(before).cloned().collect();
    panic!("upload directories left behind: {left:?}");
}

/// The private upload directories in /tmp.
fn uploads() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kplay-up."))
        .collect()
}

/// A stored (uncompressed) zip of `(name, data, symlink)` entries, made here so the test
/// needs no `zip` program.
fn zip(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    fn crc32(d: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in d {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data, link) in entries {
        let off = out.len() as u32;
        let crc = crc32(data);
        let mode: u32 = if *link { 0o120777 } else { 0o100644 };
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&0u16.to_le_bytes()); // flags
        common.extend_from_slice(&0u16.to_le_bytes()); // stored
        common.extend_from_slice(&0u32.to_le_bytes()); // time, date
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&(data.len() as u32).to_le_bytes());
        common.extend_from_slice(&(data.len() as u32).to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x031eu16.to_le_bytes()); // made by unix
        central.extend_from_slice(&common);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (coff, clen, n) = (out.len() as u32, central.len() as u32, entries.len() as u16);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&clen.to_le_bytes());
    out.extend_from_slice(&coff.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

crate::testutil::both_paths! {
/// Archives whose members leave `dest` (`..`, absolute, a link pointing out) are refused on
/// every run, before anything is written: before, the second run's "already unpacked"
/// check and attribute fixes followed `dest/../victim` and changed the victim's mode.
async fn archives_with_members_outside_dest_are_refused_on_every_run() {
    let _serial = UPLOADS.lock().await;
    if std::process::Command::new("unzip")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("SKIP: unzip is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let victim = t.path().join("victim");
    std::fs::write(&victim, b"pwn").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let files = t.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "parent.zip",
            zip(&[("ok.txt", b"fine", false), ("../victim", b"pwn", false)]),
        ),
        (
            "abs.zip",
            zip(&[(&victim.to_string_lossy(), b"pwn", false)]),
        ),
        (
            "link.zip",
            zip(&[("l", b"../victim", true), ("ok.txt", b"fine", false)]),
        ),
        ("abslink.zip", zip(&[("l", b"/etc", true)])),
    ];
    // And a tar whose symlink points out.
    let src = t.path().join("tsrc");
    std::fs::create_dir(&src).unwrap();
    std::os::unix::fs::symlink("/etc", src.join("etc-link")).unwrap();
    let tarred = std::process::Command::new("tar")
        .arg("-cf")
        .arg(files.join("link.tar"))
        .arg("-C")
        .arg(&src)
        .arg("etc-link")
        .status()
        .unwrap();
    assert!(tarred.success());
    let mut names: Vec<&str> = vec!["link.tar"];
    for (name, data) in &cases {
        std::fs::write(files.join(name), data).unwrap();
        names.push(name);
    }
    let env = TestEnv::new(&files);
    for name in names {
        for run in 0..2 {
            let a = json!({"src": name, "dest": dest.to_str().unwrap(), "mode": "0600"});
            let r = Planned(UnarchiveModule).run(&ctx(&env, false, false), args(a)).await;
            let msg = r.err().map(|e| e.msg).unwrap_or_default();
            assert!(
                msg.contains("refusing to unpack"),
                "{name} run {run}: {msg}"
            );
        }
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"pwn");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
        0o644
    );
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        0,
        "something was unpacked"
    );
}
}

crate::testutil::both_paths! {
async fn mode_applies_to_members_and_is_idempotent() {
    let _serial = UPLOADS.lock().await;
    let (_t, env, dest) = fixture();
    let a = json!({"src": "app.tar.gz", "dest": dest.to_str().unwrap(), "mode": "0750"});
    Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a.clone()))
        .await
        .unwrap();
    let m = std::fs::metadata(dest.join("app/conf.txt"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(m, 0o750);
    let r = Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a))
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], false, "{r:?}");
}
}

crate::testutil::both_paths! {
async fn remote_src_with_creates_is_skipped() {
    let (t, env, dest) = fixture();
    let a = json!({"src": t.path().join("files/app.tar.gz").to_str().unwrap(), "remote_src": true, "dest": dest.to_str().unwrap(), "creates": dest.to_str().unwrap()});
    let r = Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a))
        .await
        .unwrap().into_map();
    assert_eq!(r["changed"], false);
    assert_eq!(
        r["msg"],
        format!("skipped, since {} exists", dest.display())
    );
}
}

crate::testutil::both_paths! {
async fn missing_dest_directory_fails() {
    let (t, env, _) = fixture();
    let a = json!({"src": "app.tar.gz", "dest": t.path().join("nope").to_str().unwrap()});
    let e = Planned(UnarchiveModule)
        .run(&ctx(&env, false, false), args(a))
        .await
        .unwrap_err();
    assert_eq!(
        e.msg,
        format!(
            "Destination '{}' is not a directory",
            t.path().join("nope").display()
        )
    );
}
}

#[test]
fn magic_bytes_pick_the_handler() {
    assert_eq!(Format::from_magic("504b03041400").handler(), "ZipArchive");
    assert_eq!(Format::from_magic("1f8b08000000").handler(), "TgzArchive");
    assert_eq!(Format::from_magic("fd377a585a00").handler(), "TarXzArchive");
    assert_eq!(
        Format::from_magic("425a68393141").handler(),
        "TarBzipArchive"
    );
    assert_eq!(Format::from_magic("2e2f00000000").handler(), "TarArchive");
}

#[test]
fn tar_diff_noise_is_filtered_like_ansible() {
    let mut a = UnarchiveArgs::parse(args(
        json!({"src": "/etc/hostname", "dest": "/d", "remote_src": true}),
    ))
    .unwrap();
    let diffs = vec![
        "app/x: Uid differs".to_string(),
        "app/x: Mode differs".to_string(),
    ];
    assert!(relevant_diffs(&diffs, &a, 1000).len() == 1);
    a.attrs.mode = Some(ModeSpec::Octal(0o644));
    assert!(relevant_diffs(&diffs, &a, 1000).is_empty());
    assert_eq!(relevant_diffs(&diffs, &a, 0).len(), 1);
}

#[test]
fn extract_commands_carry_options() {
    let a = UnarchiveArgs::parse(args(json!({"src": "/a.zip", "dest": "/d", "remote_src": true, "exclude": ["*.md"], "extra_opts": ["-q"]}))).unwrap();
    assert_eq!(
        a.extract_cmd(Format::Zip),
        "unzip -o -q \"$a\" -x '*.md' -d \"$d\""
    );
    assert_eq!(
        a.extract_cmd(Format::TarXz),
        "tar --extract -C \"$d\" -J --exclude='*.md' -q -f \"$a\""
    );
}

#[test]
fn inspect_reply_is_parsed() {
    let ins = parse_inspect("U 0\nF 1f8b08\nX a: Size differs\nL a\nA 81a4 0 0 root root\ta\n");
    assert_eq!(ins.uid, 0);
    assert_eq!(ins.files, vec!["a"]);
    assert_eq!(ins.diffs, vec!["a: Size differs"]);
    assert_eq!(ins.attrs[0].0 & 0o777, 0o644);
}

fn ua(v: serde_json::Value) -> UnarchiveArgs {
    UnarchiveArgs::parse(args(v)).expect("args")
}

/// What `query` would find: the inspection reply `reply`, from an upload when `uploaded`.
fn seen(reply: Option<&str>, uploaded: bool) -> Seen {
    Seen {
        archive: "/tmp/up/app.tgz".into(),
        temp: uploaded.then(|| crate::common::upload::Upload {
            dir: "/tmp/up".into(),
            path: "/tmp/up/app.tgz".into(),
        }),
        inspect: reply.map(parse_inspect),
    }
}

#[test]
fn plan_skips_when_creates_exists() {
    let a = ua(json!({"src": "app.tgz", "dest": "/d", "creates": "/d/app"}));
    let p = UnarchiveModule::plan(&a, &seen(None, false)).expect("plan");
    assert!(p.changes.is_none() && p.result.skipped);
    assert_eq!(p.result.extra["msg"], json!("skipped, since /d/app exists"));
}

#[test]
fn plan_extracts_when_members_differ_and_names_the_controller_src() {
    let a = ua(json!({"src": "app.tgz", "dest": "/d", "list_files": true}));
    let p = UnarchiveModule::plan(
        &a,
        &seen(
            Some("U 0\nF 1f8b08\nX app/conf.txt: Size differs\nL app/\nL app/conf.txt\n"),
            true,
        ),
    )
    .expect("plan");
    let c = p.changes.expect("changes");
    assert!(!c.unpacked && c.format == Format::TarGz && c.archive == "/tmp/up/app.tgz");
    assert!(p.result.changed);
    assert_eq!(p.result.extra["src"], json!("app.tgz"));
    assert_eq!(p.result.extra["handler"], json!("TgzArchive"));
    assert_eq!(p.result.extra["files"], json!(["app/", "app/conf.txt"]));
}

#[test]
fn plan_is_unchanged_when_unpacked_and_fixes_only_attributes_when_they_differ() {
    let reply = "U 1000\nF 1f8b08\nX app/x: Uid differs\nL app/x\nA 81a4 1000 1000 u u\tapp/x\n";
    let a = ua(json!({"src": "/a.tgz", "remote_src": true, "dest": "/d"}));
    let p = UnarchiveModule::plan(&a, &seen(Some(reply), false)).expect("plan");
    assert!(p.changes.is_none() && !p.result.changed);
    assert_eq!(p.result.extra["src"], json!("/tmp/up/app.tgz"));
    let a = ua(json!({"src": "/a.tgz", "remote_src": true, "dest": "/d", "mode": "0600"}));
    let c = UnarchiveModule::plan(&a, &seen(Some(reply), false))
        .expect("plan")
        .changes
        .expect("changes");
    assert!(c.unpacked);
    assert!(c.attrs_sh.contains("chmod 600 /d/app/x "), "{}", c.attrs_sh);
}

#[test]
fn plan_refuses_members_outside_dest() {
    let a = ua(json!({"src": "/a.tar", "remote_src": true, "dest": "/d"}));
    let e =
        UnarchiveModule::plan(&a, &seen(Some("U 0\nF 2e2f00\nL ../evil\n"), false)).unwrap_err();
    assert!(
        e.msg
            .starts_with("refusing to unpack /a.tar: member '../evil' is outside the destination"),
        "{}",
        e.msg
    );
}
