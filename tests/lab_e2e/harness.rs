//! The lab_e2e harness: the lab (up once, down on drop), kplay runs and their recap checks, plain
//! OpenSSH to the hosts, and the scenario runner.

pub use crate::common::{kplay_timeout, kplay_timeout_env, root_or_skip, Run};
pub use serde_json::{json, Map, Value};
pub use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
pub use std::path::{Path, PathBuf};
pub use std::process::{Command, Output, Stdio};
pub use std::time::{Duration, Instant};

/// The lab's name; other engineers' labs use other names.
pub const LAB: &str = "e2e";
/// Where the HTTP server on host 1 listens.
pub const HTTP_PORT: u16 = 8080;
/// Upper bound for one kplay run (an unreachable host costs a connect timeout).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The ansible-core the facts are compared with (the venv is shared with tests/differential.rs).
pub const ANSIBLE_SPEC: &str = "ansible-core>=2.18,<2.19";

pub fn kplay_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kplay")
}

pub fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root_dir().join("tests").join("lab_e2e").join("fixtures")
}

/// Runs a command to completion, panicking (with its output) when it cannot start or fails.
pub fn sh_ok(program: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Brings the lab down when dropped, so a panicking scenario cannot leave it running.
pub struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let out = Command::new(kplay_bin())
            .args(["lab", "down", "--name", LAB])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => eprintln!("lab {LAB} down"),
            Ok(o) => eprintln!(
                "kplay lab down --name {LAB} failed: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("kplay lab down --name {LAB} could not run: {e}"),
        }
    }
}

/// What the lab's INI inventory says, plus the controller-side work directory of this run.
pub struct Lab {
    pub inventory: PathBuf,
    /// (inventory name, address) of the three hosts, in order.
    pub hosts: Vec<(String, String)>,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub common_args: Vec<String>,
    pub unused_ip: String,
    pub work: PathBuf,
}

impl Lab {
    pub fn up(work: PathBuf) -> Lab {
        let out = Command::new(kplay_bin())
            .args(["lab", "up", "--hosts", "3", "--name", LAB])
            .stdin(Stdio::null())
            .output()
            .expect("running kplay lab up");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kplay lab up failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inventory = PathBuf::from(stdout.lines().last().unwrap_or_default());
        Lab::read(inventory, work)
    }

    pub fn read(inventory: PathBuf, work: PathBuf) -> Lab {
        let text = std::fs::read_to_string(&inventory)
            .unwrap_or_else(|e| panic!("reading {}: {e}", inventory.display()));
        let mut lab = Lab {
            inventory,
            hosts: Vec::new(),
            key: PathBuf::new(),
            known_hosts: PathBuf::new(),
            common_args: Vec::new(),
            unused_ip: String::new(),
            work,
        };
        let mut section = "";
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            if line.starts_with('[') {
                section = line;
            } else if section == "[lab]" {
                let mut words = line.split_whitespace();
                let name = words.next().unwrap_or_default().to_string();
                let ip = words
                    .find_map(|w| w.strip_prefix("ansible_host="))
                    .unwrap_or_default();
                lab.hosts.push((name, ip.to_string()));
            } else if let Some(v) = line.strip_prefix("ansible_ssh_private_key_file=") {
                lab.key = PathBuf::from(v);
            } else if let Some(v) = line.strip_prefix("ansible_ssh_common_args=") {
                lab.common_args = v
                    .trim_matches('\'')
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
            } else if let Some(v) = line.strip_prefix("kplay_lab_unused_ip=") {
                lab.unused_ip = v.to_string();
            }
        }
        lab.known_hosts = lab
            .common_args
            .iter()
            .find_map(|a| a.strip_prefix("UserKnownHostsFile="))
            .map(PathBuf::from)
            .unwrap_or_default();
        assert_eq!(
            lab.hosts.len(),
            3,
            "the lab inventory must list 3 hosts:\n{text}"
        );
        assert!(
            lab.key.is_file(),
            "no private key in the inventory:\n{text}"
        );
        assert!(
            lab.known_hosts.is_file(),
            "no UserKnownHostsFile in the inventory:\n{text}"
        );
        assert!(
            !lab.unused_ip.is_empty(),
            "no kplay_lab_unused_ip in the inventory:\n{text}"
        );
        lab
    }

    pub fn ip(&self, n: usize) -> &str {
        &self.hosts[n - 1].1
    }

    pub fn name(&self, n: usize) -> &str {
        &self.hosts[n - 1].0
    }

    /// Variables every playbook gets (`-e`), merged with the scenario's own.
    pub fn vars(&self, extra: Value) -> Value {
        let mut vars = Map::new();
        for n in 1..=3 {
            vars.insert(format!("h{n}"), json!(self.ip(n)));
        }
        vars.insert("http_port".into(), json!(HTTP_PORT));
        vars.insert("fixtures".into(), json!(fixtures()));
        vars.insert("work".into(), json!(self.work));
        if let Value::Object(extra) = extra {
            vars.extend(extra);
        }
        Value::Object(vars)
    }

    /// `kplay run tests/lab_e2e/fixtures/<playbook> -i <inventory> -e <vars>`.
    pub fn play_with(&self, inventory: &Path, playbook: &str, vars: Value) -> Run {
        self.play_env(inventory, playbook, vars, &[])
    }

    /// [`Lab::play_with`] with extra environment variables for kplay.
    pub fn play_env(
        &self,
        inventory: &Path,
        playbook: &str,
        vars: Value,
        env: &[(&str, &str)],
    ) -> Run {
        let pb = fixtures().join(playbook);
        let vars = self.vars(vars).to_string();
        let inv = inventory.to_string_lossy().into_owned();
        let pb = pb.to_string_lossy().into_owned();
        let run = kplay_timeout_env(
            &self.work,
            &["run", &pb, "-i", &inv, "-e", &vars],
            RUN_TIMEOUT,
            env,
        );
        run.assert_no_panic();
        run
    }

    pub fn play(&self, playbook: &str, vars: Value) -> Run {
        self.play_with(&self.inventory, playbook, vars)
    }

    /// Runs a playbook twice on the lab inventory: both runs succeed on exactly `hosts`, the first
    /// changes something on every host when `first_changes`, the second changes nothing anywhere.
    pub fn twice(
        &self,
        playbook: &str,
        vars: Value,
        hosts: &[&str],
        first_changes: bool,
    ) -> (Run, Run) {
        self.twice_with(&self.inventory, playbook, vars, hosts, first_changes)
    }

    pub fn twice_with(
        &self,
        inventory: &Path,
        playbook: &str,
        vars: Value,
        hosts: &[&str],
        first_changes: bool,
    ) -> (Run, Run) {
        let first = self.play_with(inventory, playbook, vars.clone());
        assert_succeeded(&first, hosts, "first run");
        if first_changes {
            for host in hosts {
                assert!(
                    first.host(host).changed > 0,
                    "first run changed nothing on {host}\n{}",
                    first.dump()
                );
            }
        }
        let second = self.play_with(inventory, playbook, vars);
        assert_succeeded(&second, hosts, "second run");
        for (host, counts) in second.recap() {
            assert_eq!(
                counts.changed,
                0,
                "second run of {playbook} changed {host}\n{}",
                second.dump()
            );
        }
        (first, second)
    }

    /// An inventory beside the lab's with the given `[lab]` lines and ssh arguments.
    pub fn inventory_variant(
        &self,
        file: &str,
        host_lines: &[String],
        common_args: &str,
    ) -> PathBuf {
        let body = format!(
            "[lab]\n{}\n\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\n\
             ansible_ssh_common_args='{common_args}'\n",
            host_lines.join("\n"),
            self.key.display()
        );
        let path = self.work.join(file);
        std::fs::write(&path, body).expect("writing an inventory variant");
        path
    }

    /// Plain OpenSSH to `ip` as `user` with the inventory's key and arguments.
    pub fn ssh_as(&self, user: &str, ip: &str, command: &str) -> Output {
        Command::new("ssh")
            .arg("-i")
            .arg(&self.key)
            .args(&self.common_args)
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
            .arg(format!("{user}@{ip}"))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("running ssh")
    }

    /// Plain OpenSSH as root; panics with stderr when the command fails. Returns trimmed stdout.
    pub fn ssh_ok(&self, ip: &str, command: &str) -> String {
        let out = self.ssh_as("root", ip, command);
        assert!(
            out.status.success(),
            "ssh {ip} {command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn each_host(&self, f: impl Fn(usize, &str, &str)) {
        for (i, (name, ip)) in self.hosts.iter().enumerate() {
            f(i + 1, name, ip);
        }
    }
}

/// Exit 0, every expected host in the recap with no failure and no unreachable.
pub fn assert_succeeded(run: &Run, hosts: &[&str], what: &str) {
    assert_eq!(run.code, Some(0), "{what}: kplay failed\n{}", run.dump());
    let recap = run.recap();
    let seen: BTreeSet<&str> = recap.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = hosts.iter().copied().collect();
    assert_eq!(
        seen,
        expected,
        "{what}: hosts in the PLAY RECAP\n{}",
        run.dump()
    );
    for (host, c) in &recap {
        assert!(
            c.failed == 0 && c.unreachable == 0,
            "{what}: {host} {c:?}\n{}",
            run.dump()
        );
    }
}

/// Records scenario outcomes; a panicking scenario is caught so the next one still runs.
#[derive(Default)]
pub struct Scenarios {
    pub outcomes: Vec<(String, Result<Duration, String>)>,
}

impl Scenarios {
    /// Runs scenario `name`, unless `KPLAY_LAB_ONLY` is set and not part of its name (to run
    /// one area's scenarios while working on it).
    pub fn run(&mut self, name: &str, f: impl FnOnce()) {
        if std::env::var("KPLAY_LAB_ONLY").is_ok_and(|only| !name.contains(&only)) {
            eprintln!("===== SKIP {name} (KPLAY_LAB_ONLY)");
            return;
        }
        eprintln!("\n===== scenario: {name}");
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(f))
            .map(|()| started.elapsed())
            .map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".to_string())
            });
        match &outcome {
            Ok(t) => eprintln!("===== PASS {name} ({:.1} s)", t.as_secs_f64()),
            Err(_) => eprintln!("===== FAIL {name}"),
        }
        self.outcomes.push((name.to_string(), outcome));
    }

    pub fn summary(&self) -> Vec<String> {
        eprintln!("\n===== lab_e2e summary");
        let mut failed = Vec::new();
        for (name, outcome) in &self.outcomes {
            match outcome {
                Ok(t) => eprintln!("PASS {name} ({:.1} s)", t.as_secs_f64()),
                Err(msg) => {
                    let first = msg.lines().next().unwrap_or_default();
                    eprintln!("FAIL {name}: {first}");
                    failed.push(name.clone());
                }
            }
        }
        failed
    }
}
