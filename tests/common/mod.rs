//! Shared helpers for the integration tests: run the real `kplay` binary in a temp dir, capture its
//! output and exit code, parse the PLAY RECAP and `--output json` events, and snapshot directory trees
//! so a `--check` run can be proven to have changed nothing.
//!
//! Every test file includes this with `mod common;`, so not every helper is used by every file.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Default upper bound for one kplay run: generous, so a slow shared machine does not flake, but
/// finite, so a hang fails the test instead of wedging the suite.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code; `None` when the process was killed (timeout) or died from a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

impl Run {
    /// The exit code, panicking with the full output when there is none (signal or timeout).
    pub fn exit(&self) -> i32 {
        match self.code {
            Some(c) => c,
            None => panic!(
                "kplay did not exit normally (timed_out={})\n{}",
                self.timed_out,
                self.dump()
            ),
        }
    }

    /// stdout and stderr together, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit={:?} elapsed={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code, printing all output on mismatch.
    pub fn assert_exit(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n{}",
            self.dump()
        );
        self
    }

    /// The recap of this run's text output.
    pub fn recap(&self) -> BTreeMap<String, Counts> {
        parse_recap(&self.stdout)
    }

    /// The recap counts of one host, panicking with the output when the host is absent.
    pub fn host(&self, host: &str) -> Counts {
        match self.recap().get(host) {
            Some(c) => *c,
            None => panic!("host {host} not in the PLAY RECAP\n{}", self.dump()),
        }
    }

    /// The JSON events of a `--output json` run.
    pub fn events(&self) -> Vec<Value> {
        parse_events(&self.stdout)
    }

    /// Asserts that nothing panicked (Rust's panic message never reaches the user).
    pub fn assert_no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "kplay panicked\n{}",
            self.dump()
        );
        self
    }
}

/// Path of the kplay binary built for these tests.
pub fn kplay_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kplay")
}

/// Absolute path of a fixture under `tests/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// Runs `kplay args…` in `cwd` with the default timeout.
pub fn kplay(cwd: &Path, args: &[&str]) -> Run {
    kplay_timeout(cwd, args, DEFAULT_TIMEOUT)
}

/// Runs `kplay args…` in `cwd`, killing it after `timeout`. Colour and any ambient Ansible
/// configuration are switched off so the output is the plain text the tests parse.
pub fn kplay_timeout(cwd: &Path, args: &[&str], timeout: Duration) -> Run {
    kplay_timeout_env(cwd, args, timeout, &[])
}

/// [`kplay_timeout`] with extra environment variables.
pub fn kplay_timeout_env(
    cwd: &Path,
    args: &[&str],
    timeout: Duration,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = Command::new(kplay_bin());
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", cwd.join("no-such-ansible.cfg"))
        .env_remove("ANSIBLE_INVENTORY")
        .env_remove("ANSIBLE_ROLES_PATH")
        .env_remove("ANSIBLE_FORKS");
    // The caller's variables win over the defaults above.
    cmd.envs(env.iter().copied());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawning the kplay binary");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("waiting for kplay") {
            Some(status) => break Some(status),
            None if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Run {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        elapsed,
        timed_out,
    }
}

/// A fresh temp dir for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("kplay-it-")
        .tempdir()
        .expect("creating a temp dir")
}

/// Writes `content` to `dir/name` (creating parent dirs) and returns the full path.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("creating fixture dirs");
    }
    fs::write(&path, content).expect("writing a fixture file");
    path
}

/// Writes an INI inventory of local-connection hosts to `dir/hosts` and returns its path.
pub fn local_inventory(dir: &Path, hosts: &[&str]) -> PathBuf {
    let body: String = hosts
        .iter()
        .map(|h| format!("{h} ansible_connection=local\n"))
        .collect();
    write(dir, "hosts", &body)
}

/// Writes `playbook` and a one-host local inventory into `dir`, then runs
/// `kplay run pb.yml -i hosts -e dir=<dir> extra…`. The playbook refers to its sandbox as `{{ dir }}`.
pub fn run_local(dir: &Path, playbook: &str, extra: &[&str]) -> Run {
    run_hosts(dir, &["localhost"], playbook, extra)
}

/// Like [`run_local`] with several local-connection host aliases.
pub fn run_hosts(dir: &Path, hosts: &[&str], playbook: &str, extra: &[&str]) -> Run {
    write(dir, "pb.yml", playbook);
    local_inventory(dir, hosts);
    let dir_var = format!("dir={}", dir.display());
    let mut args = vec!["run", "pb.yml", "-i", "hosts", "-e", dir_var.as_str()];
    args.extend_from_slice(extra);
    kplay(dir, &args)
}

/// One host's PLAY RECAP line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// Parses the lines after `PLAY RECAP` (`host : ok=1 changed=0 …`) into per-host counts.
pub fn parse_recap(stdout: &str) -> BTreeMap<String, Counts> {
    let mut map = BTreeMap::new();
    let Some(pos) = stdout.rfind("PLAY RECAP") else {
        return map;
    };
    for line in stdout[pos..].lines().skip(1) {
        let Some((host, rest)) = line.split_once(" : ") else {
            continue;
        };
        let mut c = Counts::default();
        for field in rest.split_whitespace() {
            let Some((k, v)) = field.split_once('=') else {
                continue;
            };
            let n: u32 = v.parse().unwrap_or(u32::MAX);
            match k {
                "ok" => c.ok = n,
                "changed" => c.changed = n,
                "unreachable" => c.unreachable = n,
                "failed" => c.failed = n,
                "skipped" => c.skipped = n,
                "rescued" => c.rescued = n,
                "ignored" => c.ignored = n,
                _ => {}
            }
        }
        map.insert(host.trim().to_string(), c);
    }
    map
}

/// Parses `--output json` stdout: one JSON object per non-empty line. Panics on a line that is not
/// JSON, since stdout must carry nothing else.
pub fn parse_events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) => v,
            Err(e) => panic!("stdout line is not JSON ({e}): {l}"),
        })
        .collect()
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2024-01-02T03:04:05.123456Z` or with a
/// `+hh:mm` offset). `None` when the text is not in that form.
pub fn rfc3339_seconds(s: &str) -> Option<f64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0i64)
    } else {
        let idx = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(idx);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut t = clock.split(':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next()?.parse().ok()?;
    let ss: f64 = t.next()?.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 - offset) as f64 + ss)
}

/// The `time` of an event in seconds, panicking when it is missing or malformed.
pub fn event_time(ev: &Value) -> f64 {
    let t = ev["time"]
        .as_str()
        .unwrap_or_else(|| panic!("event without time: {ev}"));
    rfc3339_seconds(t).unwrap_or_else(|| panic!("event time not RFC 3339: {t}"))
}

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { mode: u32, content: Vec<u8> },
    Dir { mode: u32 },
    Link { target: PathBuf },
}

/// Every path under `root` (relative), with mode and content, for before/after comparison.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut map = BTreeMap::new();
    walk(root, root, &mut map);
    map
}

fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).unwrap_or_default();
            map.insert(rel, Entry::Link { target });
        } else if meta.is_dir() {
            map.insert(rel, Entry::Dir { mode });
            walk(root, &path, map);
        } else {
            let content = fs::read(&path).unwrap_or_default();
            map.insert(rel, Entry::File { mode, content });
        }
    }
}

/// Permission bits of a path (not following symlinks).
pub fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The process umask, read from /proc (kplay inherits it from the test process).
pub fn current_umask() -> u32 {
    // /proc/self/status carries "Umask:\t0022" on Linux; fall back to the common default.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Reads a file to a string, panicking with its path when it is missing.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// True when a lab test can run (root); otherwise it prints why and skips, except under
/// `CI=true`, where skipping would let CI pass without exercising the lab: then it panics.
pub fn root_or_skip(test: &str) -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.is_ok_and(|u| u == "0") {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: the lab needs root and CI=true forbids skipping; run the suite as root");
    }
    eprintln!("SKIPPED {test}: the lab needs root (run the tests as root to exercise it)");
    false
}

/// Held while a test uses a lab: labs are machine-wide (namespaces, bridges, cgroups), and the
/// lab tests compare machine-wide snapshots, so two test processes (two checkouts, or a test run
/// beside a benchmark) must not use labs at the same time. Released when dropped.
pub struct LabLock(fs::File);

/// Waits for the machine-wide lab test lock (`/run/lock/kplay-lab-tests.lock`).
pub fn lab_lock() -> LabLock {
    use std::os::unix::io::AsRawFd;
    let dir = Path::new("/run/lock");
    let path = if dir.is_dir() {
        dir.join("kplay-lab-tests.lock")
    } else {
        std::env::temp_dir().join("kplay-lab-tests.lock")
    };
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let started = Instant::now();
    // SAFETY: flock on a descriptor this function owns; the lock lives as long as the file.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::Interrupted,
            "flock {}: {err}",
            path.display()
        );
    }
    let waited = started.elapsed();
    if waited > Duration::from_secs(1) {
        eprintln!("waited {:.1} s for the lab test lock", waited.as_secs_f64());
    }
    LabLock(file)
}

/// Takes the named lab down however the test ends (`let _down = LabDown("name");`).
pub struct LabDown(pub &'static str);

impl Drop for LabDown {
    fn drop(&mut self) {
        let _ = Command::new(kplay_bin())
            .args(["lab", "down", "--name", self.0])
            .stdin(Stdio::null())
            .output();
    }
}

/// kubespray's unmodified tree, read in place: `$KPLAY_KUBESPRAY`, else
/// `../shared/corpus/kubespray` beside the workspace or beside its worktree directory.
pub fn kubespray_tree() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut candidates: Vec<PathBuf> = std::env::var_os("KPLAY_KUBESPRAY")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(manifest.join("../shared/corpus/kubespray"));
    candidates.push(manifest.join("../../shared/corpus/kubespray"));
    candidates
        .into_iter()
        .find(|p| p.join("cluster.yml").is_file())
}
