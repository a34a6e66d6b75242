//! The agent the `kplay` binary ships (issue [11]): small on the wire, built against the glibc
//! 2.17 baseline (no symbol version above GLIBC_2.17, as `objdump -T` reads it), and really
//! serving requests on the oldest Debian these machines can fetch (bullseye, glibc 2.31), where
//! an agent built on this Debian 12 machine would not even start.

mod common;

use common::*;
use kplay_agent::proto::{decode, encode, read_frame, ProbeSpec, Reply, Request};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `kplay __agent-info` says about the agent it carries.
fn info() -> serde_json::Value {
    let out = Command::new(kplay_bin())
        .arg("__agent-info")
        .output()
        .expect("running kplay __agent-info");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        v.is_object(),
        "this kplay carries no agent: see build/agent.rs's cargo warnings"
    );
    v
}

/// The shipped agent unpacked the way hosts unpack it (`gzip -dc`), checked against its
/// announced length and SHA-256.
fn shipped_agent(dir: &Path) -> PathBuf {
    let info = info();
    let gz = Command::new(kplay_bin())
        .arg("__agent-gz")
        .output()
        .expect("kplay __agent-gz");
    assert!(gz.status.success());
    assert_eq!(gz.stdout.len() as u64, info["wire_bytes"].as_u64().unwrap());
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(&gz.stdout).unwrap();
    let raw = child.wait_with_output().unwrap();
    assert!(raw.status.success(), "the shipped agent is not valid gzip");
    assert_eq!(raw.stdout.len() as u64, info["len"].as_u64().unwrap());
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&raw.stdout)),
        info["sha256"].as_str().unwrap()
    );
    let path = dir.join("kplay-agent");
    std::fs::write(&path, &raw.stdout).unwrap();
    Command::new("chmod")
        .args(["755"])
        .arg(&path)
        .status()
        .unwrap();
    path
}

#[test]
fn shipped_agent_is_small_and_needs_nothing_newer_than_glibc_2_17() {
    let dir = tempdir();
    let agent = shipped_agent(dir.path());
    let info = info();
    let wire = info["wire_bytes"].as_u64().unwrap();
    let len = info["len"].as_u64().unwrap();
    eprintln!(
        "shipped agent: {len} bytes, {wire} bytes on the wire; built with {}",
        info["built"]
    );
    assert!(
        wire <= 2 * 1024 * 1024,
        "{wire} bytes on the wire: over 2 MB"
    );

    let out = Command::new("objdump")
        .arg("-T")
        .arg(&agent)
        .output()
        .expect("objdump (binutils) is needed for this test");
    assert!(out.status.success(), "objdump -T failed");
    let table = String::from_utf8_lossy(&out.stdout);
    let mut versions: Vec<(u32, u32, String)> = table
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut it = v.split('.');
            let maj = it.next()?.parse().ok()?;
            let min = it.next().unwrap_or("0").parse().ok()?;
            Some((maj, min, v.to_string()))
        })
        .collect();
    versions.sort();
    versions.dedup();
    assert!(
        !versions.is_empty(),
        "objdump -T shows no GLIBC symbol versions: not a dynamic glibc binary?\n{table}"
    );
    let newest = versions.last().unwrap();
    assert!(
        (newest.0, newest.1) <= (2, 17),
        "the agent needs GLIBC_{} (all: {:?}); it must run on glibc 2.17 (CentOS 7)",
        newest.2,
        versions.iter().map(|v| &v.2).collect::<Vec<_>>()
    );
    // build.rs read the same requirement from the ELF (hosts are matched against it).
    assert_eq!(
        info["glibc"].as_str(),
        Some(format!("{}.{}", newest.0, newest.1).as_str())
    );
}

/// Send `requests` to the agent `cmd` starts, close its stdin, and read its answers.
fn ask(mut cmd: Command, requests: &[Request]) -> Vec<Reply> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the agent");
    let mut input = Vec::new();
    for r in requests {
        input.extend(encode(r).unwrap());
    }
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the agent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r = &out.stdout[..];
    let mut replies = Vec::new();
    while let Some(body) = read_frame(&mut r).unwrap() {
        replies.push(decode(&body).unwrap());
    }
    replies
}

#[test]
fn shipped_agent_serves_on_the_oldest_fetchable_debian() {
    if !root_or_skip("shipped_agent_serves_on_the_oldest_fetchable_debian") {
        return;
    }
    let root = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/old-debian-root.sh"))
        .output()
        .expect("scripts/old-debian-root.sh");
    assert!(
        root.status.success(),
        "building the old Debian root failed: {}",
        String::from_utf8_lossy(&root.stderr)
    );
    let root = PathBuf::from(String::from_utf8_lossy(&root.stdout).trim());
    let libc = Command::new("chroot")
        .arg(&root)
        .args(["getconf", "GNU_LIBC_VERSION"])
        .output()
        .unwrap();
    let libc = String::from_utf8_lossy(&libc.stdout).trim().to_string();
    let release = read(&root.join("etc/debian_version"));
    eprintln!(
        "old Debian root: {} (Debian {}), {libc}",
        root.display(),
        release.trim()
    );
    assert!(libc.starts_with("glibc 2."), "{libc}");

    // The agent in the chroot's /tmp, under a name of this test run (the cache is shared).
    let name = format!("kplay-agent-test-{}", std::process::id());
    let inside = root.join("tmp").join(&name);
    let dir = tempdir();
    std::fs::copy(shipped_agent(dir.path()), &inside).unwrap();
    let mut cmd = Command::new("chroot");
    cmd.arg(&root).arg(format!("/tmp/{name}"));
    let replies = ask(
        cmd,
        &[
            Request::Hello,
            Request::Probe {
                paths: vec![ProbeSpec {
                    path: "/etc/debian_version".into(),
                    follow: true,
                    checksum: Some(kplay_agent::Checksum::Sha256),
                    content_limit: Some(64),
                    real_path: false,
                    mime: false,
                }],
                host: true,
            },
        ],
    );
    let _ = std::fs::remove_file(&inside);
    assert!(
        matches!(replies[0], Reply::Hello { protocol } if protocol == kplay_agent::proto::PROTOCOL),
        "{replies:?}"
    );
    match &replies[1] {
        Reply::Probe { host, paths } => {
            assert_eq!(host.as_ref().map(|h| h.user.as_str()), Some("root"));
            assert_eq!(paths[0].content.as_deref(), Some(release.as_bytes()));
            use sha2::Digest;
            assert_eq!(
                paths[0].checksum.as_deref(),
                Some(hex::encode(sha2::Sha256::digest(release.as_bytes())).as_str())
            );
        }
        other => panic!("unexpected answer {other:?}"),
    }
}
