//! `kplay deploy` / `reset` / `config init` / `init` / `diff-embedded` with the real binary, on
//! local-connection hosts and scratch step playbooks (`--content DIR`): the order of steps, the
//! state file, skip/re-run by input hash, `--from`/`--only`/`--force`, a killed deploy resuming,
//! hooks, config.yaml, bad input refused before any host changes, the live view on a terminal.
//!
//! The lab tests of the real steps are in `tests/deploy_lab.rs`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

/// A scratch site: `content/playbooks/<step>.yml` for the steps given, an inventory of local
/// hosts, a bundle. Every step appends its name to `log` and writes `out/<step>-<host>` with the
/// value of the variable it uses (`<step-var>`: `v_bootstrap_node`, `v_00` …).
struct Site {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn var_of(step: &str) -> String {
    match step.split_once('-') {
        Some((n, _)) if n.chars().all(|c| c.is_ascii_digit()) => format!("v_{n}"),
        _ => format!("v_{}", step.replace('-', "_")),
    }
}

impl Site {
    fn new(steps: &[&str]) -> Site {
        let tmp = tempdir();
        let root = tmp.path().canonicalize().unwrap();
        let site = Site { _tmp: tmp, root };
        for s in steps {
            site.step(s, "");
        }
        write(
            &site.root,
            "bundle/manifest.json",
            "{\"bundle\": 1, \"images\": [{\"name\": \"kube-apiserver\", \"build\": \"kubernetes: test\"}]}\n",
        );
        site.inventory("hosts", &["n1", "n2", "n3"], &["n1", "n2", "n3"]);
        site
    }

    /// Writes the step's playbook; `extra` is more YAML tasks appended to its task list.
    fn step(&self, step: &str, extra: &str) {
        let root = self.root.display();
        let var = var_of(step);
        write(
            &self.root,
            &format!("content/playbooks/{step}.yml"),
            &format!(
                "- hosts: all\n  gather_facts: false\n  tasks:\n\
                 \x20   - name: log {step}\n\
                 \x20     shell: echo {step} >> {root}/log\n\
                 \x20     run_once: true\n\
                 \x20   - name: mark {step}\n\
                 \x20     copy:\n\
                 \x20       dest: \"{root}/out/{step}-{{{{ inventory_hostname }}}}\"\n\
                 \x20       content: \"{{{{ {var} | default('unset') }}}}\"\n{extra}"
            ),
        );
        std::fs::create_dir_all(self.root.join("out")).unwrap();
    }

    fn inventory(&self, name: &str, hosts: &[&str], etcd: &[&str]) -> PathBuf {
        let mut text = String::from("[bootstrap]\nn1\n[kube_control_plane]\nn1\n[etcd]\n");
        for e in etcd {
            text.push_str(&format!("{e}\n"));
        }
        text.push_str("[kube_node]\n");
        for h in hosts {
            text.push_str(&format!("{h}\n"));
        }
        text.push_str("[k8s_cluster:children]\nkube_control_plane\nkube_node\n[all:vars]\nansible_connection=local\n");
        write(&self.root, name, &text)
    }

    fn deploy(&self, extra: &[&str]) -> Run {
        self.kplay_in(&self.root, "deploy", extra)
    }

    fn kplay_in(&self, cwd: &Path, cmd: &str, extra: &[&str]) -> Run {
        let mut args = vec![cmd, "--content", "content"];
        if !extra.iter().any(|a| *a == "-c" || *a == "-i") {
            args.extend(["-i", "hosts"]);
        }
        if cmd == "deploy" && !extra.contains(&"--bundle") {
            args.extend(["--bundle", "bundle"]);
        }
        args.extend_from_slice(extra);
        let run = kplay_timeout(cwd, &args, T);
        run.assert_no_panic();
        run
    }

    /// Step names in the order they ran, across all deploys so far.
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(self.root.join("log"));
    }

    fn out(&self, step: &str, host: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("out/{step}-{host}"))).unwrap_or_default()
    }

    fn state(&self) -> serde_json::Value {
        let text = read(&self.root.join(".kplay/deploy-state.json"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{text}"))
    }
}

const FOUR: [&str; 4] = [
    "00-preflight",
    "bootstrap-node",
    "01-cluster-bootstrap-os",
    "02-cluster-etcd",
];

/// The summary line of a step.
fn summary_line<'a>(run: &'a Run, step: &str) -> &'a str {
    let pos = run
        .stdout
        .rfind("DEPLOY SUMMARY")
        .unwrap_or_else(|| panic!("no DEPLOY SUMMARY\n{}", run.dump()));
    run.stdout[pos..]
        .lines()
        .find(|l| l.split_whitespace().next() == Some(step))
        .unwrap_or_else(|| panic!("{step} not in the summary\n{}", run.dump()))
}

fn assert_summary(run: &Run, step: &str, word: &str) {
    let line = summary_line(run, step);
    assert!(
        line.split_whitespace().nth(1) == Some(word),
        "{step}: expected '{word}' in the summary, got: {line}\n{}",
        run.dump()
    );
}

#[test]
fn a_deploy_runs_the_steps_in_order_and_a_second_one_skips_them_all() {
    let site = Site::new(&FOUR);
    let first = site.deploy(&[]);
    first.assert_exit(0);
    assert_eq!(site.log(), FOUR);
    for s in FOUR {
        assert_summary(&first, s, "done");
        assert_eq!(site.out(s, "n3"), "unset");
    }
    for s in [
        "03-cluster-kubernetes",
        "04-cluster-network",
        "05-cluster-apps",
    ] {
        assert!(
            summary_line(&first, s).ends_with("not available yet"),
            "{}",
            first.dump()
        );
    }
    let state = site.state();
    let recorded: Vec<&String> = state["steps"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, FOUR, "only finished steps are recorded");
    assert!(state.get("running").is_none());

    site.clear_log();
    let started = Instant::now();
    let second = site.deploy(&[]);
    second.assert_exit(0);
    assert!(site.log().is_empty(), "a finished step ran again");
    for s in FOUR {
        assert_summary(&second, s, "skipped");
    }
    eprintln!("second deploy: {:.2} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_changed_variable_reruns_only_the_step_that_uses_it() {
    let site = Site::new(&FOUR);
    site.deploy(&[]).assert_exit(0);
    site.clear_log();
    // Inventory group_vars beside the inventory: only 02 refers to v_02.
    write(
        &site.root,
        "group_vars/all/site.yml",
        "v_02: etcd-b\nunused: 1\n",
    );
    let listed = site.deploy(&["--list"]);
    listed.assert_exit(0);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.contains("02-cluster-etcd") && l.contains("changed: variable v_02")),
        "{}",
        listed.dump()
    );
    assert!(site.log().is_empty(), "--list ran something");
    let run = site.deploy(&[]);
    run.assert_exit(0);
    assert_eq!(site.log(), ["02-cluster-etcd"]);
    assert_eq!(site.out("02-cluster-etcd", "n1"), "etcd-b");
    // A variable no step refers to changes nothing.
    site.clear_log();
    write(
        &site.root,
        "group_vars/all/site.yml",
        "v_02: etcd-b\nunused: 2\n",
    );
    site.deploy(&[]).assert_exit(0);
    assert!(site.log().is_empty(), "{:?}", site.log());
}

#[test]
fn an_edited_role_reruns_the_steps_that_use_it() {
    let site = Site::new(&FOUR);
    site.step(
        "01-cluster-bootstrap-os",
        "    - include_role:\n        name: tuned\n",
    );
    write(
        &site.root,
        "content/roles/tuned/tasks/main.yml",
        "- debug: msg=one\n",
    );
    site.deploy(&[]).assert_exit(0);
    site.clear_log();
    write(
        &site.root,
        "content/roles/tuned/tasks/main.yml",
        "- debug: msg=two\n",
    );
    let run = site.deploy(&[]);
    run.assert_exit(0);
    assert_eq!(site.log(), ["01-cluster-bootstrap-os"], "{}", run.dump());
}

#[test]
fn from_only_and_force_select_what_runs() {
    let site = Site::new(&FOUR);
    site.deploy(&[]).assert_exit(0);
    site.clear_log();
    site.deploy(&["--from", "01"]).assert_exit(0);
    assert_eq!(site.log(), ["01-cluster-bootstrap-os", "02-cluster-etcd"]);
    site.clear_log();
    site.deploy(&["--only", "bootstrap", "cluster-etcd"])
        .assert_exit(0);
    assert_eq!(site.log(), ["bootstrap-node", "02-cluster-etcd"]);
    site.clear_log();
    let forced = site.deploy(&["--force"]);
    forced.assert_exit(0);
    assert_eq!(site.log(), FOUR);
    // Unknown and unavailable steps are refused before anything runs.
    site.clear_log();
    let bad = site.deploy(&["--from", "7"]);
    bad.assert_exit(5);
    assert!(bad.stderr.contains("unknown step '7'"), "{}", bad.dump());
    let missing = site.deploy(&["--only", "03"]);
    missing.assert_exit(5);
    assert!(
        missing.stderr.contains("03-cluster-kubernetes")
            && missing.stderr.contains("not available yet"),
        "{}",
        missing.dump()
    );
    assert!(site.log().is_empty());
}

#[test]
fn a_failed_step_stops_the_deploy_and_the_next_one_resumes_there() {
    let site = Site::new(&FOUR);
    let flag = site.root.join("fail-01");
    site.step(
        "01-cluster-bootstrap-os",
        &format!(
            "    - fail: msg=broken\n      when: \"'{}' is exists\"\n",
            flag.display()
        ),
    );
    std::fs::write(&flag, "").unwrap();
    let failed = site.deploy(&[]);
    failed.assert_exit(2);
    assert_eq!(
        site.log(),
        ["00-preflight", "bootstrap-node", "01-cluster-bootstrap-os"]
    );
    assert_summary(&failed, "01-cluster-bootstrap-os", "FAILED");
    assert!(summary_line(&failed, "02-cluster-etcd").contains("not run"));
    assert!(
        failed
            .stdout
            .contains("deploy stopped at 01-cluster-bootstrap-os"),
        "{}",
        failed.dump()
    );
    std::fs::remove_file(&flag).unwrap();
    site.clear_log();
    site.deploy(&[]).assert_exit(0);
    assert_eq!(site.log(), ["01-cluster-bootstrap-os", "02-cluster-etcd"]);
}

#[test]
fn a_killed_deploy_resumes_at_the_step_it_was_in() {
    let site = Site::new(&FOUR);
    let slow = site.root.join("slow");
    let started = site.root.join("02-started");
    site.step(
        "02-cluster-etcd",
        &format!(
            "    - shell: touch {started}; if [ -e {slow} ]; then sleep 60; fi\n",
            started = started.display(),
            slow = slow.display()
        ),
    );
    std::fs::write(&slow, "").unwrap();
    let mut child = Command::new(kplay_bin())
        .args([
            "deploy",
            "--content",
            "content",
            "-i",
            "hosts",
            "--bundle",
            "bundle",
        ])
        .current_dir(&site.root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting kplay deploy");
    let deadline = Instant::now() + T;
    while !started.exists() {
        assert!(Instant::now() < deadline, "02 never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "kplay exited before 02 started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("killing kplay");
    child.wait().unwrap();
    // The state is whole (written atomically) and says where the deploy was.
    let state = site.state();
    assert_eq!(state["running"]["step"], "02-cluster-etcd", "{state}");
    assert!(state["steps"].get("02-cluster-etcd").is_none());
    assert_eq!(
        site.log(),
        [
            "00-preflight",
            "bootstrap-node",
            "01-cluster-bootstrap-os",
            "02-cluster-etcd"
        ]
    );
    std::fs::remove_file(&slow).unwrap();
    site.clear_log();
    let resumed = site.deploy(&[]);
    resumed.assert_exit(0);
    assert_eq!(site.log(), ["02-cluster-etcd"], "{}", resumed.dump());
    assert!(
        resumed.stderr.contains("stopped during 02-cluster-etcd"),
        "{}",
        resumed.dump()
    );
    assert!(site.state().get("running").is_none());
}

#[test]
fn ctrl_c_stops_the_step_and_its_commands_and_the_next_deploy_resumes_there() {
    let site = Site::new(&FOUR);
    let slow = site.root.join("slow-int");
    let started = site.root.join("02-started");
    site.step(
        "02-cluster-etcd",
        &format!(
            "    - shell: touch {started}; if [ -e {slow} ]; then sleep 61; fi\n",
            started = started.display(),
            slow = slow.display()
        ),
    );
    std::fs::write(&slow, "").unwrap();
    let child = Command::new(kplay_bin())
        .args([
            "deploy",
            "--content",
            "content",
            "-i",
            "hosts",
            "--bundle",
            "bundle",
        ])
        .current_dir(&site.root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kplay deploy");
    let deadline = Instant::now() + T;
    while !started.exists() {
        assert!(Instant::now() < deadline, "02 never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGINT to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(99), "{stderr}");
    assert!(stderr.contains("User interrupted execution"), "{stderr}");
    // The host's command was stopped with the step.
    let left = Command::new("pgrep")
        .args(["-f", &format!("{}; then sleep 61", slow.display())])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the step's command still runs: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    assert_eq!(site.state()["running"]["step"], "02-cluster-etcd");
    std::fs::remove_file(&slow).unwrap();
    site.clear_log();
    let resumed = site.deploy(&[]);
    resumed.assert_exit(0);
    assert_eq!(site.log(), ["02-cluster-etcd"]);
    assert!(resumed.stderr.contains("stopped during 02-cluster-etcd"));
}

#[test]
fn a_second_deploy_of_the_same_cluster_at_once_is_refused() {
    let site = Site::new(&FOUR);
    let started = site.root.join("01-started");
    site.step(
        "01-cluster-bootstrap-os",
        &format!("    - shell: touch {}; sleep 60\n", started.display()),
    );
    let mut child = Command::new(kplay_bin())
        .args([
            "deploy",
            "--content",
            "content",
            "-i",
            "hosts",
            "--bundle",
            "bundle",
        ])
        .current_dir(&site.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    while !started.exists() {
        assert!(Instant::now() < deadline, "01 never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = site.deploy(&[]);
    let _ = child.kill();
    let _ = child.wait();
    second.assert_exit(1);
    assert!(
        second
            .stderr
            .contains("another kplay deploy or reset is running"),
        "{}",
        second.dump()
    );
}

#[test]
fn bad_input_is_refused_before_any_host_changes() {
    let site = Site::new(&FOUR);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--bundle", "no-such-bundle"], "the bundle"),
        (vec!["--bundle", "content"], "is not a kplay bundle"),
        (vec!["-i", "no-etcd", "--bundle", "bundle"], "no etcd hosts"),
        (
            vec!["-i", "even", "--bundle", "bundle"],
            "2 etcd hosts (n1, n2)",
        ),
    ];
    site.inventory("no-etcd", &["n1"], &[]);
    site.inventory("even", &["n1", "n2"], &["n1", "n2"]);
    for (args, want) in cases {
        let run = site.deploy(&args);
        run.assert_exit(5);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.dump());
        assert!(site.log().is_empty(), "{args:?} ran a step");
        assert!(
            !site.root.join(".kplay/deploy-state.json").exists(),
            "{args:?} wrote state"
        );
    }
    // Without --bundle the bootstrap node cannot be set up.
    let run = kplay_timeout(
        &site.root,
        &["deploy", "--content", "content", "-i", "hosts"],
        T,
    );
    run.assert_exit(5);
    assert!(run.stderr.contains("pass --bundle DIR"), "{}", run.dump());
    assert!(site.log().is_empty());
    // Once the bootstrap node has its bundle, later deploys need no --bundle.
    site.deploy(&[]).assert_exit(0);
    site.clear_log();
    let again = kplay_timeout(
        &site.root,
        &[
            "deploy",
            "--content",
            "content",
            "-i",
            "hosts",
            "--force",
            "--from",
            "01",
        ],
        T,
    );
    again.assert_exit(0);
    assert_eq!(site.log(), &FOUR[2..]);
}

#[test]
fn hooks_run_at_their_stages_in_name_order() {
    let all = [
        "00-preflight",
        "bootstrap-node",
        "01-cluster-bootstrap-os",
        "02-cluster-etcd",
        "03-cluster-kubernetes",
        "04-cluster-network",
        "05-cluster-apps",
    ];
    let site = Site::new(&all);
    let root = site.root.display().to_string();
    for (stage, name) in [
        ("pre-install", "20-second"),
        ("pre-install", "10-first"),
        ("post-cluster-ready", "10-ready"),
        ("post-install", "10-done"),
    ] {
        write(
            &site.root,
            &format!("hooks/{stage}/{name}.yml"),
            &format!(
                "- hosts: kube_control_plane\n  gather_facts: false\n  tasks:\n    - shell: echo {stage}/{name} >> {root}/log\n"
            ),
        );
    }
    write(
        &site.root,
        "hooks/pre-install/README.md",
        "not a playbook\n",
    );
    let run = site.deploy(&[]);
    run.assert_exit(0);
    assert_eq!(
        site.log(),
        [
            "pre-install/10-first",
            "pre-install/20-second",
            "00-preflight",
            "bootstrap-node",
            "01-cluster-bootstrap-os",
            "02-cluster-etcd",
            "03-cluster-kubernetes",
            "04-cluster-network",
            "post-cluster-ready/10-ready",
            "05-cluster-apps",
            "post-install/10-done"
        ]
    );
    // A finished stage is skipped like a step; an edited hook runs again.
    site.clear_log();
    site.deploy(&[]).assert_exit(0);
    assert!(site.log().is_empty());
    write(
        &site.root,
        "hooks/post-install/10-done.yml",
        &format!("- hosts: n1\n  gather_facts: false\n  tasks:\n    - shell: echo edited >> {root}/log\n"),
    );
    site.deploy(&[]).assert_exit(0);
    assert_eq!(site.log(), ["edited"]);
}

#[test]
fn hooks_after_a_step_that_is_not_available_wait() {
    let site = Site::new(&FOUR);
    let root = site.root.display().to_string();
    write(
        &site.root,
        "hooks/post-install/a.yml",
        &format!(
            "- hosts: n1\n  gather_facts: false\n  tasks:\n    - shell: echo hook >> {root}/log\n"
        ),
    );
    let run = site.deploy(&[]);
    run.assert_exit(0);
    assert_eq!(site.log(), FOUR);
    assert!(
        summary_line(&run, "post-install").contains("waiting"),
        "{}",
        run.dump()
    );
}

#[test]
fn a_config_file_gives_the_hosts_and_the_settings() {
    let site = Site::new(&FOUR);
    let cfg = "bundle: bundle\ncompose:\n  registry_domain: reg.example\nkubespray:\n  v_02: from-config\ninventory:\n  all:\n    vars: {ansible_connection: local}\n    hosts: {n1: , n2: , n3: }\n    children:\n      bootstrap: {hosts: {n1: }}\n      etcd: {hosts: {n1: , n2: , n3: }}\n      kube_control_plane: {hosts: {n1: }}\n";
    write(&site.root, "site/config.yaml", cfg);
    let run = site.kplay_in(&site.root, "deploy", &["-c", "site/config.yaml"]);
    run.assert_exit(0);
    assert_eq!(site.out("02-cluster-etcd", "n2"), "from-config");
    assert!(site.root.join("site/.kplay/deploy-state.json").is_file());
    assert!(site.root.join("site/.kplay/inventory.yml").is_file());
    // -e wins over the config's settings.
    site.clear_log();
    let run = site.kplay_in(
        &site.root,
        "deploy",
        &["-c", "site/config.yaml", "-e", "v_02=cli"],
    );
    run.assert_exit(0);
    assert_eq!(site.log(), ["02-cluster-etcd"]);
    assert_eq!(site.out("02-cluster-etcd", "n2"), "cli");
    // Errors name the file and line.
    write(
        &site.root,
        "site/bad.yaml",
        "inventory: {all: {hosts: {n1: }}}\ncompose:\n  nginx_http_port: http\n",
    );
    let bad = site.kplay_in(&site.root, "deploy", &["-c", "site/bad.yaml"]);
    bad.assert_exit(5);
    assert!(
        bad.stderr.contains("site/bad.yaml:3:")
            && bad.stderr.contains("nginx_http_port must be a port number"),
        "{}",
        bad.dump()
    );
}

#[test]
fn config_init_writes_a_commented_config_that_parses() {
    let dir = tempdir();
    let run = kplay(dir.path(), &["config", "init"]);
    run.assert_exit(0);
    let text = read(&dir.path().join("config.yaml"));
    assert!(text.contains("# ") && text.contains("inventory:") && text.contains("compose:"));
    let again = kplay(dir.path(), &["config", "init"]);
    again.assert_exit(1);
    assert!(again.stderr.contains("--force"), "{}", again.dump());
    // The written file is accepted by deploy (--list contacts no host).
    write(dir.path(), "bundle/manifest.json", "{}");
    let listed = kplay(
        dir.path(),
        &[
            "deploy",
            "-c",
            "config.yaml",
            "--bundle",
            "bundle",
            "--list",
        ],
    );
    listed.assert_exit(0);
    assert!(listed.stdout.contains("00-preflight"), "{}", listed.dump());
}

/// `kplay deploy --lab` without bringing a lab up: `--list` says what it would bring up and
/// which bundle it would use, bad options are refused first, `reset --lab` needs the lab up. (The
/// deploy itself is tests/deploy_e2e.rs.)
#[test]
fn deploy_lab_lists_what_it_would_do_and_refuses_bad_options_first() {
    let dir = tempdir();
    let name = "t-deploy-lab-list";
    let lab_dir = Path::new("/var/lib/kplay/lab").join(name);
    let listed = kplay(dir.path(), &["deploy", "--lab", name, "--list"]);
    listed.assert_exit(0);
    for want in [
        format!("lab \"{name}\": not up; kplay deploy --lab {name} brings up 5 hosts"),
        "bundle: /var/cache/kplay/lab-bundle/".to_string(),
    ] {
        assert!(listed.stderr.contains(&want), "{want}\n{}", listed.dump());
    }
    assert!(!lab_dir.exists(), "--list brought a lab up");
    // The default name, and the same bundle for the same content.
    let default = kplay(dir.path(), &["deploy", "--lab", "--list"]);
    default.assert_exit(0);
    assert!(
        default.stderr.contains("lab \"kplay\""),
        "{}",
        default.dump()
    );
    let bundle_line = |r: &Run| {
        r.stderr
            .lines()
            .find(|l| l.starts_with("bundle: "))
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
    };
    assert_eq!(bundle_line(&listed), bundle_line(&default));

    // Refused before anything comes up: an inventory or a config too, an unknown step.
    let both = kplay(dir.path(), &["deploy", "--lab", name, "-i", "hosts"]);
    both.assert_exit(5);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.dump()
    );
    let bad_step = kplay(dir.path(), &["deploy", "--lab", name, "--from", "7"]);
    bad_step.assert_exit(5);
    assert!(
        bad_step.stderr.contains("unknown step '7'"),
        "{}",
        bad_step.dump()
    );
    let bad_name = kplay(dir.path(), &["deploy", "--lab", "Bad_Name", "--list"]);
    assert_ne!(bad_name.code, Some(0), "{}", bad_name.dump());
    assert!(bad_name.stderr.contains("Bad_Name"), "{}", bad_name.dump());
    // reset --lab resets a lab that is up, and brings none up.
    let reset = kplay(dir.path(), &["reset", "--lab", name, "--yes"]);
    reset.assert_exit(5);
    assert!(
        reset.stderr.contains("is not up") && reset.stderr.contains("nothing to reset"),
        "{}",
        reset.dump()
    );
    assert!(!lab_dir.exists());
}

#[test]
fn init_writes_the_embedded_content_and_diff_embedded_shows_edits() {
    let dir = tempdir();
    let site = dir.path().join("site");
    let run = kplay(dir.path(), &["init", "site"]);
    run.assert_exit(0);
    assert!(site.join("playbooks/00-preflight.yml").is_file());
    assert!(site.join("inventory/sample/hosts.ini").is_file());
    let clean = kplay(dir.path(), &["diff-embedded", "site"]);
    clean.assert_exit(0);
    assert!(
        clean.stdout.contains("matches the embedded content"),
        "{}",
        clean.dump()
    );
    let f = site.join("roles/preflight/defaults/main.yml");
    let text = read(&f);
    std::fs::write(&f, format!("{text}# site edit\n")).unwrap();
    write(&site, "roles/site_extra/tasks/main.yml", "- ping:\n");
    std::fs::remove_file(site.join("playbooks/00-preflight.yml")).unwrap();
    write(&site, "inventory/mycluster/hosts.ini", "[etcd]\nn1\n");
    let diff = kplay(dir.path(), &["diff-embedded", "site"]);
    diff.assert_exit(1);
    assert!(
        diff.stdout
            .contains("--- embedded/roles/preflight/defaults/main.yml")
            && diff.stdout.contains("+# site edit"),
        "{}",
        diff.dump()
    );
    assert!(diff
        .stdout
        .contains("added: roles/site_extra/tasks/main.yml"));
    assert!(diff.stdout.contains("added: inventory/mycluster/hosts.ini"));
    assert!(diff.stdout.contains("deleted: playbooks/00-preflight.yml"));
    assert!(
        diff.stdout.contains("1 modified, 2 added, 1 deleted"),
        "{}",
        diff.dump()
    );
    // init refuses a non-empty directory.
    kplay(dir.path(), &["init", "site"]).assert_exit(1);
}

#[test]
fn reset_runs_reset_yml_clears_the_state_and_asks_first() {
    let site = Site::new(&FOUR);
    site.deploy(&[]).assert_exit(0);
    let state = site.root.join(".kplay/deploy-state.json");
    assert!(state.is_file());
    // No reset.yml in the content: refused, state kept.
    let none = site.kplay_in(&site.root, "reset", &["--yes"]);
    none.assert_exit(5);
    assert!(none.stderr.contains("not available yet"), "{}", none.dump());
    let root = site.root.display();
    write(
        &site.root,
        "content/playbooks/reset.yml",
        &format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - file: path={root}/out state=absent\n      run_once: true\n"),
    );
    // Not a terminal and no --yes: refused, nothing removed.
    let refused = site.kplay_in(&site.root, "reset", &[]);
    refused.assert_exit(5);
    assert!(refused.stderr.contains("--yes"), "{}", refused.dump());
    assert!(state.is_file() && site.root.join("out").is_dir());
    let done = site.kplay_in(&site.root, "reset", &["--yes"]);
    done.assert_exit(0);
    assert!(!state.exists(), "{}", done.dump());
    assert!(!site.root.join("out").exists());
    // The next deploy starts from the first step.
    site.clear_log();
    std::fs::create_dir_all(site.root.join("out")).unwrap();
    site.deploy(&[]).assert_exit(0);
    assert_eq!(site.log(), FOUR);
}

#[test]
fn the_live_view_on_a_terminal_shows_the_running_step_and_the_summary() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no script(1) to provide a terminal");
        return;
    }
    let site = Site::new(&FOUR);
    site.step("01-cluster-bootstrap-os", "    - command: sleep 1\n");
    let cmd = format!(
        "{} deploy --content content -i hosts --bundle bundle",
        kplay_bin()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(&site.root)
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // The running step as a live row with each host's progress, then one line per finished step.
    assert!(text.contains("[3/4] 01-cluster-bootstrap-os"), "{text}");
    assert!(text.contains("n1 ok="), "{text}");
    assert!(text.contains("✔ 00-preflight done in"), "{text}");
    assert!(text.contains("✔ 02-cluster-etcd done in"), "{text}");
    assert!(text.contains("DEPLOY SUMMARY"), "{text}");
    // The plain view's task banners are not printed on a terminal.
    assert!(!text.contains("TASK [log 00-preflight] ****"), "{text}");
}

/// `kplay reset` on a terminal (script(1)) with `answer` typed at its question.
fn reset_on_a_terminal(site: &Site, answer: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let cmd = format!("{} reset --content content -i hosts", kplay_bin());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(&site.root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Typed once the question is up (script forwards its input to the terminal).
    std::thread::sleep(Duration::from_millis(500));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{answer}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn reset_on_a_terminal_asks_and_does_nothing_without_yes() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no script(1) to provide a terminal");
        return;
    }
    let site = Site::new(&FOUR);
    let root = site.root.display();
    write(
        &site.root,
        "content/playbooks/reset.yml",
        &format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - file: path={root}/out state=absent\n      run_once: true\n"),
    );
    site.deploy(&[]).assert_exit(0);
    let state = site.root.join(".kplay/deploy-state.json");
    let (code, text) = reset_on_a_terminal(&site, "no");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("Type yes to continue") && text.contains("n1, n2, n3"),
        "{text}"
    );
    assert!(text.contains("reset cancelled"), "{text}");
    assert!(state.is_file() && site.root.join("out").is_dir());
    let (code, text) = reset_on_a_terminal(&site, "yes");
    assert_eq!(code, Some(0), "{text}");
    assert!(!state.exists() && !site.root.join("out").exists(), "{text}");
}

#[test]
fn kubernetes_steps_are_left_out_when_the_bundle_carries_no_kubernetes() {
    let site = Site::new(&[
        "00-preflight",
        "bootstrap-node",
        "01-cluster-bootstrap-os",
        "02-cluster-etcd",
        "03-cluster-kubernetes",
        "04-cluster-network",
        "05-cluster-apps",
    ]);
    write(
        &site.root,
        "bundle/manifest.json",
        "{\"bundle\": 1, \"images\": []}\n",
    );
    let run = site.deploy(&[]);
    run.assert_exit(0);
    assert_eq!(
        site.log(),
        [
            "00-preflight",
            "bootstrap-node",
            "01-cluster-bootstrap-os",
            "02-cluster-etcd"
        ]
    );
    for s in [
        "03-cluster-kubernetes",
        "04-cluster-network",
        "05-cluster-apps",
    ] {
        let line = summary_line(&run, s);
        assert!(
            line.contains("left out") && line.contains("--kubernetes-from"),
            "{line}\n{}",
            run.dump()
        );
    }
}
