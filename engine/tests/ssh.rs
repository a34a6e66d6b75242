//! The SSH transport against a real OpenSSH server started by each test on 127.0.0.1.
//!
//! Needs root (sshd's privilege separation) and `/usr/sbin/sshd` (Debian: openssh-server).
//! Without them the tests print SKIP and pass, except under `CI=true`, where they fail: CI
//! must exercise the real thing.

use kplay_engine::transport::ssh::{SshDefaults, SshTarget, SshTransport};
use kplay_engine::transport::{Become, ExecRequest, Transport, TransportError};
use kplay_engine::Map;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TEST_USER: &str = "kplaytest";
const TEST_PASSWORD: &str = "Kp1ay-test-pw";

/// Print why a test cannot run here and return `None`, or fail under CI.
fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("SSH test cannot run under CI: {why}");
    }
    eprintln!("SKIP: {why}");
    None
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A private sshd with its own host key, client keys and log.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start() -> Option<Sshd> {
        Self::start_with("VERBOSE")
    }

    fn start_with(log_level: &str) -> Option<Sshd> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return skip("not root (sshd needs root)");
        }
        if !Path::new("/usr/sbin/sshd").exists() {
            return skip("/usr/sbin/sshd not installed (apt-get install openssh-server)");
        }
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().ok()?;
        let d = dir.path();
        let keygen = |file: &str, kind: &[&str], pass: &str| {
            run(
                "ssh-keygen",
                &[
                    &[
                        "-q",
                        "-N",
                        pass,
                        "-C",
                        "kplay-test",
                        "-f",
                        &d.join(file).to_string_lossy(),
                    ],
                    kind,
                ]
                .concat(),
            )
        };
        let made = keygen("host_ed25519", &["-t", "ed25519"], "")
            .and_then(|_| keygen("id_ed25519", &["-t", "ed25519"], ""))
            .and_then(|_| keygen("id_rsa", &["-t", "rsa", "-b", "2048"], ""))
            .and_then(|_| keygen("id_locked", &["-t", "ed25519"], "secret phrase"))
            .and_then(|_| keygen("id_other", &["-t", "ed25519"], ""));
        if let Err(e) = made {
            return skip(&format!("ssh-keygen failed: {e}"));
        }
        let mut auth = String::new();
        for k in ["id_ed25519", "id_rsa", "id_locked"] {
            auth.push_str(&std::fs::read_to_string(d.join(format!("{k}.pub"))).ok()?);
        }
        std::fs::write(d.join("authorized_keys"), auth).ok()?;
        let port = free_port();
        let config = format!(
            "ListenAddress 127.0.0.1\nHostKey {hk}\nPidFile none\nUsePAM no\nStrictModes no\nAuthorizedKeysFile {ak}\n\
             PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPermitRootLogin yes\nAllowTcpForwarding yes\n\
             MaxSessions 10\nLogLevel {log_level}\n",
            hk = d.join("host_ed25519").display(),
            ak = d.join("authorized_keys").display()
        );
        std::fs::write(d.join("sshd_config"), config).ok()?;
        let log = d.join("sshd.log");
        let log_file = std::fs::File::create(&log).ok()?;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return skip(&format!("cannot start sshd: {e}")),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return skip(&format!("sshd did not start: {text}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Sshd {
            child,
            port,
            dir,
            log,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn host_key_line(&self) -> String {
        let pubkey = std::fs::read_to_string(self.path("host_ed25519.pub")).unwrap_or_default();
        let mut parts = pubkey.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("")
        )
    }

    /// Connection variables for `user` with `key` (or none), known_hosts kept in the temp dir.
    fn vars(&self, user: &str, key: Option<&str>) -> Map {
        let mut v = json!({
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_user": user,
            "ansible_ssh_retries": 0,
            "ansible_ssh_common_args": format!("-o UserKnownHostsFile={}", self.path("user_known_hosts").display()),
        });
        if let (Some(k), Value::Object(m)) = (key, &mut v) {
            m.insert(
                "ansible_ssh_private_key_file".into(),
                json!(self.path(k).to_string_lossy()),
            );
        }
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn defaults(&self) -> SshDefaults {
        SshDefaults {
            kplay_known_hosts: self.path("kplay_known_hosts"),
            timeout: Duration::from_secs(10),
            ..SshDefaults::default()
        }
    }

    fn target(&self, vars: &Map) -> SshTarget {
        SshTarget::from_vars("testhost", vars, &self.defaults()).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn connect_root(&self) -> SshTransport {
        let t = self.target(&self.vars("root", Some("id_ed25519")));
        SshTransport::connect(t)
            .await
            .unwrap_or_else(|e| panic!("connect failed: {e}\nsshd log:\n{}", self.log_text()))
    }
}

fn unreachable_message(r: Result<SshTransport, TransportError>) -> String {
    match r {
        Err(TransportError::Unreachable(m)) => m,
        Err(TransportError::Failed(m)) => panic!("expected Unreachable, got Failed: {m}"),
        Ok(_) => panic!("expected Unreachable, connected"),
    }
}

/// Create the unprivileged test user (with a password and sudo rights) once per run.
fn ensure_test_user() -> Result<(), String> {
    static DONE: Mutex<Option<Result<(), String>>> = Mutex::new(None);
    let mut done = DONE.lock().map_err(|e| e.to_string())?;
    if let Some(r) = done.as_ref() {
        return r.clone();
    }
    let r = (|| {
        if run("id", &[TEST_USER]).is_err() {
            run("useradd", &["-m", "-s", "/bin/sh", TEST_USER])?;
        }
        let mut p = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("chpasswd: {e}"))?;
        if let Some(mut sin) = p.stdin.take() {
            sin.write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        if !p.wait().map_err(|e| e.to_string())?.success() {
            return Err("chpasswd failed".to_string());
        }
        if Path::new("/etc/sudoers.d").is_dir() {
            std::fs::write(
                format!("/etc/sudoers.d/{TEST_USER}"),
                format!("{TEST_USER} ALL=(ALL) ALL\n"),
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    })();
    *done = Some(r.clone());
    r
}

#[tokio::test]
async fn exec_reports_rc_stdout_and_stderr_separately() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let out = t
        .exec(ExecRequest::sh("echo out; echo err >&2; exit 3"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (out.rc, out.stdout_str().as_str(), out.stderr_str().as_str()),
        (3, "out\n", "err\n")
    );
    t.close().await;
}

#[tokio::test]
async fn exec_passes_stdin_env_and_cwd() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let req = ExecRequest {
        cmd: "pwd; printf '%s\\n' \"$GREETING\"; cat".into(),
        stdin: Some(b"from stdin".to_vec()),
        env: vec![("GREETING".into(), "hello 'world'".into())],
        cwd: Some("/tmp".into()),
        become_: None,
    };
    let out = t.exec(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout_str(), "/tmp\nhello 'world'\nfrom stdin");
}

#[tokio::test]
async fn killed_command_reports_128_plus_signal() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let out = t
        // `$$` inside a command of the persistent shell is the loop's pid (a subshell): the
        // command kills a shell of its own, as a killed program would die.
        .exec(ExecRequest::sh("sh -c 'kill -KILL $$'"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.rc, 137);
}

#[tokio::test]
async fn fifty_parallel_commands_share_one_connection() {
    let Some(sshd) = Sshd::start() else { return };
    let t = Arc::new(sshd.connect_root().await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = Arc::clone(&t);
        tasks.push(tokio::spawn(async move {
            t.exec(ExecRequest::sh(format!("sleep 0.1; echo {i}")))
                .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("command {i}: {e}"));
        assert_eq!(out.stdout_str(), format!("{i}\n"));
    }
    let log = sshd.log_text();
    assert_eq!(
        log.matches("Accepted publickey for root").count(),
        1,
        "sshd log:\n{log}"
    );
}

#[tokio::test]
async fn put_then_fetch_round_trips_with_mode() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let dest = sshd.path("put.txt");
    let dest = dest.to_string_lossy();
    t.put(b"line 1\nline 2\n", &dest, Some(0o640), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.fetch(&dest, None).await.unwrap_or_else(|e| panic!("{e}")),
        Some(b"line 1\nline 2\n".to_vec())
    );
    let mode = t
        .exec(ExecRequest::sh(format!("stat -c %a {dest}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mode.stdout_str().trim(), "640");
    assert_eq!(
        t.fetch(&format!("{dest}.missing"), None)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        None
    );
}

/// A source that cannot be read to its end (here: a directory) must not become an empty or
/// partial file under `dest`; before, the read error was ignored, end-of-input sent anyway and
/// whatever arrived renamed into place.
#[tokio::test]
async fn put_file_of_an_unreadable_source_leaves_nothing_behind() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let dest = sshd.path("never.txt");
    let r = t
        .put_file(sshd.dir.path(), &dest.to_string_lossy(), Some(0o600), None)
        .await;
    assert!(
        r.is_err(),
        "a failed read was reported as a successful copy"
    );
    assert!(!dest.exists(), "a partial copy took the destination's name");
}

/// What arrives is checked against the length and SHA-256 the controller announced before it
/// takes its name: a mismatch (a copy cut short, a source that changed on the way) fails and
/// leaves neither the destination nor a temp file.
#[tokio::test]
async fn upload_that_does_not_match_its_hash_is_refused_on_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let src = sshd.path("src.bin");
    std::fs::write(&src, vec![7u8; 3_000_000]).unwrap_or_else(|e| panic!("{e}"));
    let dest = sshd.path("checked.bin");
    let wrong = kplay_engine::transport::Expect::of(&vec![7u8; 5_000_000]);
    let r = t
        .put_file_expecting(&src, &dest.to_string_lossy(), Some(0o700), None, &wrong)
        .await;
    let msg = format!("{:?}", r.err());
    assert!(msg.contains("arrived incomplete"), "{msg}");
    assert!(!dest.exists());
    let left = std::fs::read_dir(sshd.dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".kplay-tmp"))
        .count();
    assert_eq!(left, 0, "temp files left behind");
    // The right expectation goes through.
    t.put_file(&src, &dest.to_string_lossy(), Some(0o700), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0),
        3_000_000
    );
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn hundred_megabyte_file_streams_intact() {
    use sha2::Digest;
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let src = sshd.path("big.bin");
    let mut hasher = sha2::Sha256::new();
    {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&src).unwrap_or_else(|e| panic!("{e}")));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..100 {
            for b in chunk.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            hasher.update(&chunk);
            f.write_all(&chunk).unwrap_or_else(|e| panic!("{e}"));
        }
        f.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    let expected = hex::encode(hasher.finalize());
    let before = peak_rss_kb();
    let dest = sshd.path("big.copy");
    let dest = dest.to_string_lossy();
    let started = Instant::now();
    t.put_file(&src, &dest, Some(0o600), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let elapsed = started.elapsed();
    let grown_mb = peak_rss_kb().saturating_sub(before) / 1024;
    let sum = t
        .exec(ExecRequest::sh(format!("sha256sum {dest}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sum.stdout_str().split_whitespace().next(),
        Some(expected.as_str())
    );
    eprintln!("100 MB put_file: {elapsed:?}, peak RSS grew {grown_mb} MB");
    assert!(
        grown_mb < 64,
        "put_file held the file in memory: peak RSS grew {grown_mb} MB"
    );
}

#[tokio::test]
async fn rsa_key_authenticates() {
    let Some(sshd) = Sshd::start() else { return };
    let t = SshTransport::connect(sshd.target(&sshd.vars("root", Some("id_rsa"))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.exec(ExecRequest::sh("echo ok"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout_str(),
        "ok\n"
    );
    assert!(
        sshd.log_text()
            .contains("Accepted publickey for root from 127.0.0.1"),
        "{}",
        sshd.log_text()
    );
    assert!(sshd.log_text().contains("RSA"), "{}", sshd.log_text());
}

#[tokio::test]
async fn passphrase_protected_key_authenticates_with_its_passphrase() {
    let Some(sshd) = Sshd::start() else { return };
    let mut vars = sshd.vars("root", Some("id_locked"));
    vars.insert(
        "ansible_ssh_private_key_passphrase".into(),
        json!("secret phrase"),
    );
    let t = SshTransport::connect(sshd.target(&vars))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.exec(ExecRequest::sh("echo ok"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .rc,
        0
    );
}

#[tokio::test]
async fn passphrase_protected_key_without_passphrase_is_refused_clearly() {
    let Some(sshd) = Sshd::start() else { return };
    let mut t = sshd.target(&sshd.vars("root", Some("id_locked")));
    t.password = None;
    let msg = unreachable_message(SshTransport::connect(t).await);
    assert!(
        msg.contains("encrypted, and no passphrase was given"),
        "{msg}"
    );
}

#[tokio::test]
async fn password_authentication_works_and_wrong_password_is_refused() {
    let Some(sshd) = Sshd::start() else { return };
    if let Err(e) = ensure_test_user() {
        let _: Option<()> = skip(&format!("cannot create test user: {e}"));
        return;
    }
    let mut vars = sshd.vars(TEST_USER, None);
    vars.insert("ansible_password".into(), json!(TEST_PASSWORD));
    let mut target = sshd.target(&vars);
    target.private_key_files = vec![sshd.path("id_other")]; // refused first, then the password
    let t = SshTransport::connect(target.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log_text()));
    assert_eq!(
        t.exec(ExecRequest::sh("id -un"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout_str(),
        format!("{TEST_USER}\n")
    );
    target.password = Some("wrong".into());
    let msg = unreachable_message(SshTransport::connect(target).await);
    assert!(
        msg.contains("authentication failed") && msg.contains("password refused"),
        "{msg}"
    );
}

#[tokio::test]
async fn unknown_host_key_is_trusted_on_first_use_then_verified() {
    let Some(sshd) = Sshd::start() else { return };
    let first = sshd.connect_root().await;
    first.close().await;
    let recorded = std::fs::read_to_string(sshd.path("kplay_known_hosts")).unwrap_or_default();
    assert!(
        recorded.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{recorded}"
    );
    // Now known: even strict checking accepts it.
    let d = SshDefaults {
        strict_host_keys: true,
        ..sshd.defaults()
    };
    let t = SshTarget::from_vars("testhost", &sshd.vars("root", Some("id_ed25519")), &d)
        .unwrap_or_else(|e| panic!("{e}"));
    SshTransport::connect(t)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn strict_checking_refuses_unknown_host_key() {
    let Some(sshd) = Sshd::start() else { return };
    let d = SshDefaults {
        strict_host_keys: true,
        ..sshd.defaults()
    };
    let t = SshTarget::from_vars("testhost", &sshd.vars("root", Some("id_ed25519")), &d)
        .unwrap_or_else(|e| panic!("{e}"));
    let msg = unreachable_message(SshTransport::connect(t).await);
    assert!(msg.contains("not in any known_hosts file"), "{msg}");
    assert!(
        !sshd.path("kplay_known_hosts").exists(),
        "strict mode must not record the key"
    );
}

/// `host_key_checking = True` said explicitly (ansible.cfg) refuses an unknown host, as in
/// Ansible (it used to mean trust on first use); a key in the global known_hosts file
/// (`GlobalKnownHostsFile`, default /etc/ssh/ssh_known_hosts) is known (it was never read).
#[tokio::test]
async fn explicit_host_key_checking_refuses_unknown_and_reads_global_known_hosts() {
    let Some(sshd) = Sshd::start() else { return };
    let d = SshDefaults {
        host_key_checking: Some(true),
        ..sshd.defaults()
    };
    let t = SshTarget::from_vars("testhost", &sshd.vars("root", Some("id_ed25519")), &d)
        .unwrap_or_else(|e| panic!("{e}"));
    let msg = unreachable_message(SshTransport::connect(t).await);
    assert!(msg.contains("not in any known_hosts file"), "{msg}");
    assert!(!sshd.path("kplay_known_hosts").exists());
    let global = sshd.path("global_known_hosts");
    std::fs::write(&global, sshd.host_key_line()).unwrap_or_else(|e| panic!("{e}"));
    let mut vars = sshd.vars("root", Some("id_ed25519"));
    vars.insert(
        "ansible_ssh_common_args".into(),
        json!(format!(
            "-o UserKnownHostsFile={} -o GlobalKnownHostsFile={}",
            sshd.path("user_known_hosts").display(),
            global.display()
        )),
    );
    let t = SshTarget::from_vars("testhost", &vars, &d).unwrap_or_else(|e| panic!("{e}"));
    SshTransport::connect(t)
        .await
        .unwrap_or_else(|e| panic!("the global known_hosts entry was not used: {e}"));
}

#[tokio::test]
async fn changed_host_key_is_refused_naming_file_and_line() {
    let Some(sshd) = Sshd::start() else { return };
    let other = std::fs::read_to_string(sshd.path("id_other.pub")).unwrap_or_default();
    let mut parts = other.split_whitespace();
    let kh = sshd.path("user_known_hosts");
    let line = format!(
        "# old entry\n[127.0.0.1]:{} {} {}\n",
        sshd.port,
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    );
    std::fs::write(&kh, line).unwrap_or_else(|e| panic!("{e}"));
    let msg = unreachable_message(
        SshTransport::connect(sshd.target(&sshd.vars("root", Some("id_ed25519")))).await,
    );
    assert!(
        msg.contains("CHANGED") && msg.contains(&format!("{}:2", kh.display())),
        "{msg}"
    );
}

#[tokio::test]
async fn hashed_known_hosts_entry_is_accepted_under_strict_checking() {
    let Some(sshd) = Sshd::start() else { return };
    let kh = sshd.path("user_known_hosts");
    std::fs::write(&kh, sshd.host_key_line()).unwrap_or_else(|e| panic!("{e}"));
    run("ssh-keygen", &["-H", "-f", &kh.to_string_lossy()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(std::fs::read_to_string(&kh)
        .unwrap_or_default()
        .starts_with("|1|"));
    let d = SshDefaults {
        strict_host_keys: true,
        ..sshd.defaults()
    };
    let t = SshTarget::from_vars("testhost", &sshd.vars("root", Some("id_ed25519")), &d)
        .unwrap_or_else(|e| panic!("{e}"));
    SshTransport::connect(t)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn proxy_jump_reaches_target_through_direct_tcpip() {
    let Some(bastion) = Sshd::start_with("DEBUG1") else {
        return;
    };
    let Some(target_sshd) = Sshd::start() else {
        return;
    };
    // The target accepts the bastion's client key too.
    let key = std::fs::read_to_string(bastion.path("id_ed25519.pub")).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(target_sshd.path("authorized_keys"))
        .unwrap_or_else(|e| panic!("{e}"));
    f.write_all(key.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut vars = target_sshd.vars("root", None);
    vars.insert(
        "ansible_ssh_private_key_file".into(),
        json!(bastion.path("id_ed25519").to_string_lossy()),
    );
    vars.insert(
        "ansible_ssh_common_args".into(),
        json!(format!(
            "-o ProxyJump=root@127.0.0.1:{} -o UserKnownHostsFile={}",
            bastion.port,
            target_sshd.path("user_known_hosts").display()
        )),
    );
    let t = SshTransport::connect(target_sshd.target(&vars))
        .await
        .unwrap_or_else(|e| panic!("{e}\nbastion log:\n{}", bastion.log_text()));
    let out = t
        .exec(ExecRequest::sh("echo via-jump"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout_str(), "via-jump\n");
    let log = bastion.log_text();
    assert!(
        log.contains("direct-tcpip") && log.contains(&target_sshd.port.to_string()),
        "bastion did not forward:\n{log}"
    );
    // Both host keys were learned, each under its own port.
    let kh = std::fs::read_to_string(target_sshd.path("kplay_known_hosts")).unwrap_or_default();
    assert!(
        kh.contains(&format!("[127.0.0.1]:{} ", bastion.port))
            && kh.contains(&format!("[127.0.0.1]:{} ", target_sshd.port)),
        "{kh}"
    );
}

#[tokio::test]
async fn proxy_command_stdio_carries_the_connection() {
    let Some(bastion) = Sshd::start() else { return };
    if run("ssh", &["-V"]).is_err() {
        let _: Option<()> = skip("no ssh client for the ProxyCommand");
        return;
    }
    let proxy = format!(
        "ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -i {} -p {} -W %h:%p root@127.0.0.1",
        bastion.path("id_ed25519").display(),
        bastion.port
    );
    let mut vars = bastion.vars("root", Some("id_ed25519"));
    vars.insert(
        "ansible_ssh_common_args".into(),
        json!(format!(
            "-o ProxyCommand=\"{proxy}\" -o StrictHostKeyChecking=no"
        )),
    );
    let t = SshTransport::connect(bastion.target(&vars))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.exec(ExecRequest::sh("echo proxied"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout_str(),
        "proxied\n"
    );
    assert_eq!(
        bastion
            .log_text()
            .matches("Accepted publickey for root")
            .count(),
        2,
        "one for ssh -W, one for kplay"
    );
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let d = SshDefaults {
        kplay_known_hosts: std::env::temp_dir().join("kplay-test-unused-kh"),
        ..SshDefaults::default()
    };
    let vars =
        json!({"ansible_host": "127.0.0.1", "ansible_port": free_port(), "ansible_ssh_retries": 1});
    let Value::Object(vars) = vars else { return };
    let t = SshTarget::from_vars("down", &vars, &d).unwrap_or_else(|e| panic!("{e}"));
    let msg = unreachable_message(SshTransport::connect(t).await);
    assert!(
        msg.contains("cannot connect to 127.0.0.1") && msg.contains("after 2 attempts"),
        "{msg}"
    );
}

fn sudo_available() -> bool {
    Path::new("/usr/bin/sudo").exists()
}

#[tokio::test]
async fn become_sudo_runs_as_other_user_with_stdin() {
    let Some(sshd) = Sshd::start() else { return };
    if !sudo_available() {
        let _: Option<()> = skip("sudo not installed");
        return;
    }
    if let Err(e) = ensure_test_user() {
        let _: Option<()> = skip(&format!("cannot create test user: {e}"));
        return;
    }
    let t = sshd.connect_root().await;
    let b = Become {
        method: "sudo".into(),
        user: TEST_USER.into(),
        password: None,
        exe: None,
        flags: None,
    };
    let req = ExecRequest::sh("id -un; cat; echo done >&2")
        .with_stdin(b"payload".to_vec())
        .with_become(Some(b));
    let out = t.exec(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (out.rc, out.stdout_str(), out.stderr_str()),
        (0, format!("{TEST_USER}\npayload"), "done\n".to_string())
    );
}

#[tokio::test]
async fn become_sudo_with_password_works_and_wrong_password_fails_fast() {
    let Some(sshd) = Sshd::start() else { return };
    if !sudo_available() {
        let _: Option<()> = skip("sudo not installed");
        return;
    }
    if let Err(e) = ensure_test_user() {
        let _: Option<()> = skip(&format!("cannot create test user: {e}"));
        return;
    }
    let mut vars = sshd.vars(TEST_USER, None);
    vars.insert("ansible_password".into(), json!(TEST_PASSWORD));
    let mut target = sshd.target(&vars);
    target.private_key_files = vec![sshd.path("id_other")];
    let t = SshTransport::connect(target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let good = Become {
        method: "sudo".into(),
        user: "root".into(),
        password: Some(TEST_PASSWORD.into()),
        exe: None,
        flags: None,
    };
    let out = t
        .exec(
            ExecRequest::sh("id -u; cat")
                .with_stdin(b"in".to_vec())
                .with_become(Some(good.clone())),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (out.rc, out.stdout_str()),
        (0, "0\nin".to_string()),
        "stderr: {}",
        out.stderr_str()
    );
    let dest = sshd.path("root-owned.txt");
    t.put(b"x", &dest.to_string_lossy(), None, Some(&good))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let owner = t
        .exec(
            ExecRequest::sh(format!("stat -c %U {}", dest.display()))
                .with_become(Some(good.clone())),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(owner.stdout_str(), "root\n");
    let bad = Become {
        password: Some("wrong".into()),
        ..good
    };
    let res = tokio::time::timeout(
        Duration::from_secs(30),
        t.exec(ExecRequest::sh("id -u").with_become(Some(bad))),
    )
    .await;
    match res {
        Ok(Err(TransportError::Failed(m))) => assert_eq!(m, "Incorrect sudo password"),
        other => panic!("expected a clear failure, got {other:?}"),
    }
    let missing = Become {
        method: "sudo".into(),
        user: "root".into(),
        password: None,
        exe: None,
        flags: None,
    };
    match t
        .exec(ExecRequest::sh("id -u").with_become(Some(missing)))
        .await
    {
        Err(TransportError::Failed(m)) => assert_eq!(m, "Missing sudo password"),
        other => panic!("expected Missing sudo password, got {other:?}"),
    }
}

#[tokio::test]
async fn ssh_agent_key_authenticates() {
    let Some(sshd) = Sshd::start() else { return };
    let sock = sshd.path("agent.sock");
    let agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut agent) = agent else {
        let _: Option<()> = skip("ssh-agent not installed");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(sshd.path("id_rsa"))
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status();
    assert!(
        added.map(|s| s.success()).unwrap_or(false),
        "ssh-add failed"
    );
    let mut vars = sshd.vars("root", None);
    vars.insert(
        "ansible_ssh_common_args".into(),
        json!(format!(
            "-o IdentityAgent={} -o UserKnownHostsFile={}",
            sock.display(),
            sshd.path("user_known_hosts").display()
        )),
    );
    let mut target = sshd.target(&vars);
    target.private_key_files = vec![sshd.path("id_other")]; // refused, then the agent's key
    let result = SshTransport::connect(target).await;
    let _ = agent.kill();
    let _ = agent.wait();
    let t = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.exec(ExecRequest::sh("echo agent"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout_str(),
        "agent\n"
    );
}

#[tokio::test]
async fn become_su_runs_as_other_user() {
    let Some(sshd) = Sshd::start() else { return };
    if let Err(e) = ensure_test_user() {
        let _: Option<()> = skip(&format!("cannot create test user: {e}"));
        return;
    }
    let t = sshd.connect_root().await;
    let b = Become {
        method: "su".into(),
        user: TEST_USER.into(),
        password: None,
        exe: None,
        flags: None,
    };
    let out = t
        .exec(
            ExecRequest::sh("id -un; cat")
                .with_stdin(b"in".to_vec())
                .with_become(Some(b)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (out.rc, out.stdout_str()),
        (0, format!("{TEST_USER}\nin")),
        "stderr: {}",
        out.stderr_str()
    );
}

/// A listener on 127.0.0.1 that answers each connection with `got:<what it read>` and closes.
async fn echo_listener() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = l
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf).await {
                    let mut reply = b"got:".to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    let _ = s.write_all(&reply).await;
                }
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn open_tcp_exchanges_bytes_through_the_targets_sshd() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(sshd) = Sshd::start() else { return };
    let (port, server) = echo_listener().await;
    let t = sshd.connect_root().await;
    let mut s = t
        .open_tcp("127.0.0.1", port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(b"ping").await.unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&got), "got:ping");
    drop(s);
    server.abort();
    t.close().await;
}

#[tokio::test]
async fn open_tcp_to_a_closed_port_fails_naming_the_endpoint() {
    let Some(sshd) = Sshd::start() else { return };
    let t = sshd.connect_root().await;
    let port = free_port();
    let err = match t.open_tcp("127.0.0.1", port).await {
        Ok(_) => panic!("nothing listens on {port}, yet the channel opened"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, TransportError::Failed(m) if m.contains(&format!("127.0.0.1:{port}"))),
        "{err:?}"
    );
    // The connection itself is still usable.
    let out = t
        .exec(ExecRequest::sh("echo ok"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout_str(), "ok\n");
}

#[tokio::test]
async fn open_tcp_streams_hold_a_channel_slot_until_dropped() {
    let Some(sshd) = Sshd::start() else { return };
    let (port, server) = echo_listener().await;
    let t = sshd.connect_root().await;
    // The transport allows 8 channels at once; each open stream holds one.
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(
            t.open_tcp("127.0.0.1", port)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let waited =
        tokio::time::timeout(Duration::from_millis(500), t.open_tcp("127.0.0.1", port)).await;
    assert!(
        waited.is_err(),
        "a ninth channel opened while eight were held"
    );
    open.pop();
    let ninth = tokio::time::timeout(Duration::from_secs(10), t.open_tcp("127.0.0.1", port)).await;
    assert!(
        matches!(ninth, Ok(Ok(_))),
        "the released slot was not reused"
    );
    drop(open);
    server.abort();
}
