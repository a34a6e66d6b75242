//! kplay's agent over real SSH without the lab (issue [11]): a private sshd on 127.0.0.1 and a
//! user of this test's own, whose home is a temp dir. The first run copies the compressed agent
//! and says so at `-v`; the next finds it by its SHA-256; a copy cut short is replaced, never
//! run; `KPLAY_NO_AGENT` is reported as the reason for the sh path; JSON carries the report.
//!
//! Needs root (sshd, useradd); prints SKIPPED without it (CI runs as root).

mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "kplay-agent-t";

/// The sshd and the user, removed when dropped.
struct Host {
    sshd: Child,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = Command::new("userdel").arg(USER).status();
    }
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start(d: &Path) -> (Host, u16) {
    let home = d.join("home");
    let _ = Command::new("userdel").arg(USER).status();
    sh(&format!(
        "useradd -M -d {h} -s /bin/sh -p '*' {USER} && mkdir -p {h} && chown {USER} {h} && chmod 755 {d}",
        h = home.display(),
        d = d.display()
    ));
    sh(&format!(
        "cd {} && ssh-keygen -q -N '' -t ed25519 -f host && ssh-keygen -q -N '' -t ed25519 -f id && cp id.pub ak && chmod 644 ak",
        d.display()
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    write(
        d,
        "sshd_config",
        &format!(
            "ListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile none\nUsePAM no\nStrictModes no\n\
             AuthorizedKeysFile {d}/ak\nPasswordAuthentication no\n",
            d = d.display()
        ),
    );
    let sshd = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .args(["-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting sshd");
    let host = Host { sshd };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (host, port)
}

#[test]
fn agent_over_ssh_is_copied_verified_reused_and_reported() {
    if !root_or_skip("agent_over_ssh_is_copied_verified_reused_and_reported")
        || !Path::new("/usr/sbin/sshd").exists()
    {
        return;
    }
    let t = tempdir();
    let d = t.path();
    let (_host, port) = start(d);
    let home = d.join("home");
    write(
        d,
        "inv",
        &format!(
            "h1 ansible_host=127.0.0.1 ansible_port={port} ansible_user={USER} \
             ansible_ssh_private_key_file={d}/id ansible_host_key_checking=false\n",
            d = d.display()
        ),
    );
    write(
        d,
        "pb.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {{content: \"hi\\n\", dest: {h}/out.txt, mode: \"0640\"}}\n",
            h = home.display()
        ),
    );
    let info: serde_json::Value = serde_json::from_slice(
        &Command::new(kplay_bin())
            .arg("__agent-info")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sum = info["sha256"].as_str().expect("kplay carries an agent");
    let wire = info["wire_bytes"].as_u64().unwrap();
    let cached = home.join(format!(".cache/kplay/agent-{}", &sum[..16]));
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["run", "-i", "inv", "pb.yml"];
        args.extend_from_slice(extra);
        let r = kplay_timeout_env(d, &args, Duration::from_secs(120), env);
        r.assert_exit(0);
        r
    };
    let said = |r: &Run| -> Vec<String> {
        r.stdout
            .lines()
            .filter(|l| l.starts_with("<h1> kplay_agent"))
            .map(str::to_string)
            .collect()
    };

    let first = run(&["-v"], &[]);
    assert_eq!(
        said(&first),
        vec![format!(
            "<h1> kplay_agent: active (Linux x86_64, {}; copied, {wire} bytes on the wire, SHA-256 verified)",
            sh("getconf GNU_LIBC_VERSION")
        )],
        "{}",
        first.dump()
    );
    assert_eq!(read(&home.join("out.txt")), "hi\n");
    assert_eq!(
        sh(&format!("sha256sum < {}", cached.display())),
        format!("{sum}  -")
    );
    assert_eq!(
        sh(&format!("stat -c '%a %U' {}", cached.display())),
        format!("700 {USER}")
    );

    let again = run(&["-v"], &[]);
    let lines = said(&again);
    assert!(
        lines.len() == 1 && lines[0].ends_with("; cached on the host, SHA-256 verified)"),
        "{lines:?}"
    );

    // A copy cut short under the right name: found out by its hash, replaced, never run.
    sh(&format!(
        "head -c 1000 {c} > {c}.cut && mv {c}.cut {c} && chmod 700 {c} && chown {USER} {c}",
        c = cached.display()
    ));
    let repaired = run(&["-v"], &[]);
    assert!(
        said(&repaired)[0].contains("; copied, "),
        "{:?}",
        said(&repaired)
    );
    assert_eq!(
        sh(&format!("sha256sum < {}", cached.display())),
        format!("{sum}  -")
    );

    let off = run(&["-v"], &[("KPLAY_NO_AGENT", "1")]);
    assert_eq!(
        said(&off),
        vec!["<h1> kplay_agent: fallback (KPLAY_NO_AGENT is set)".to_string()]
    );

    // Without -v nothing is printed; JSON always carries the report.
    let quiet = run(&[], &[]);
    assert!(said(&quiet).is_empty(), "{}", quiet.stdout);
    let json = run(&["--output", "json"], &[]);
    let reports: Vec<serde_json::Value> = json
        .events()
        .into_iter()
        .filter(|e| e["event"] == "trace" && e["level"] == 1)
        .collect();
    assert_eq!(reports.len(), 1, "{}", json.stdout);
    assert!(reports[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("kplay_agent: active ("));
    assert_eq!(reports[0]["host"], "h1");
}
