//! Issue [12] "An Ansible user's first hour": what an Ansible user hits in their first hour,
//! through the real binary on local-connection hosts (the lab parts are in
//! `tests/lab_e2e/first_hour.rs`). Each test names the item of the issue it proves.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A playbook of nine tasks (with facts gathered) on three hosts.
const NINE_TASKS: &str = r#"
- hosts: all
  tasks:
    - command: echo 1
    - command: echo 2
    - name: three
      command: echo 3
    - command: echo 4
    - command: echo 5
    - debug: msg=six
    - command: echo 7
    - command: echo 8
    - name: nine
      command: echo 9
"#;

fn banners(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("TASK [") || l.starts_with("RUNNING HANDLER ["))
        .collect()
}

/// Item 1: one banner per task, every result under it, in task order.
#[test]
fn item1_each_task_prints_one_banner_with_all_its_results() {
    let dir = tempdir();
    let r = run_hosts(dir.path(), &["h1", "h2", "h3"], NINE_TASKS, &["-f", "3"]);
    r.assert_exit(0);
    let b = banners(&r.stdout);
    assert_eq!(b.len(), 10, "10 tasks, 10 banners\n{}", r.dump());
    assert!(b[0].starts_with("TASK [Gathering Facts]"), "{}", r.dump());
    assert!(b[3].starts_with("TASK [three]") && b[9].starts_with("TASK [nine]"));
    // Under each banner: exactly one result per host.
    let blocks: Vec<&str> = r.stdout.split("\nTASK [").skip(1).collect();
    for block in &blocks {
        let block = block.split("\nPLAY RECAP").next().unwrap_or_default();
        for h in ["h1", "h2", "h3"] {
            let n = block
                .lines()
                .filter(|l| l.contains(&format!(": [{h}]")))
                .count();
            assert_eq!(n, 1, "host {h} in block {block:?}\n{}", r.dump());
        }
    }
}

/// Item 1: `strategy = linear` in ansible.cfg and `ANSIBLE_STRATEGY` work as in Ansible:
/// every task is a barrier in `kplay plan`; unknown strategies are refused with file:line.
#[test]
fn item1_strategy_from_ansible_cfg_and_environment() {
    let dir = tempdir();
    write(dir.path(), "pb.yml", NINE_TASKS);
    local_inventory(dir.path(), &["h1", "h2"]);
    let cfg = write(
        dir.path(),
        "cfg/ansible.cfg",
        "[defaults]\nstrategy = linear\n",
    );
    let cfg_s = cfg.to_string_lossy().into_owned();
    let plan = |env: &[(&str, &str)]| {
        kplay_timeout_env(
            dir.path(),
            &["plan", "pb.yml", "-i", "hosts"],
            DEFAULT_TIMEOUT,
            env,
        )
    };
    let r = plan(&[("ANSIBLE_CONFIG", &cfg_s)]);
    r.assert_exit(0);
    assert!(
        !r.stderr.contains("unknown configuration key"),
        "{}",
        r.dump()
    );
    let linear = r.stdout.matches("strategy linear").count();
    assert_eq!(linear, 10, "a barrier after each of 10 tasks\n{}", r.dump());

    let r = plan(&[]);
    r.assert_exit(0);
    assert_eq!(
        r.stdout.matches("strategy linear").count(),
        0,
        "{}",
        r.dump()
    );
    let r = plan(&[("ANSIBLE_STRATEGY", "linear")]);
    assert_eq!(
        r.stdout.matches("strategy linear").count(),
        10,
        "{}",
        r.dump()
    );

    write(
        dir.path(),
        "cfg/ansible.cfg",
        "[defaults]\n\nstrategy = host_pinned\n",
    );
    let r = plan(&[("ANSIBLE_CONFIG", &cfg_s)]);
    r.assert_exit(4);
    assert!(
        r.stderr.contains("ansible.cfg:3:") && r.stderr.contains("host_pinned"),
        "{}",
        r.dump()
    );
}

/// Spawns kplay with stdout on a pipe; the caller reads what it wants and closes it.
fn spawn_piped(dir: &Path, args: &[&str]) -> Child {
    Command::new(kplay_bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", dir.join("no-such-ansible.cfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning kplay")
}

fn wait_at_most(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().expect("waiting") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Item 2: `kplay … | head -1` for every command that prints: the reader goes away after one
/// line; kplay ends quietly (killed by SIGPIPE like any Unix tool), without a panic or a hang.
#[test]
fn item2_a_closed_stdout_ends_every_command_quietly() {
    let dir = tempdir();
    let hosts: Vec<String> = (0..60).map(|i| format!("h{i:02}")).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    local_inventory(dir.path(), &names);
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo {{ inventory_hostname }}\n    - command: sleep 0.2\n    - command: echo done\n",
    );
    for args in [
        vec![
            "adhoc", "all", "-i", "hosts", "-m", "command", "-a", "echo hi",
        ],
        vec!["run", "pb.yml", "-i", "hosts", "-f", "20"],
        vec!["run", "pb.yml", "-i", "hosts", "--output", "json"],
        vec!["inventory", "-i", "hosts", "--list"],
        vec!["inventory", "-i", "hosts", "--graph"],
        vec!["plan", "pb.yml", "-i", "hosts", "--dot"],
    ] {
        let mut child = spawn_piped(dir.path(), &args);
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("reading the first line");
        drop(out);
        let status = wait_at_most(&mut child, Duration::from_secs(60));
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let status = status.unwrap_or_else(|| panic!("kplay {args:?} hung after its reader left"));
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "kplay {args:?}: {err}"
        );
        assert!(
            status.signal() == Some(13) || status.code() == Some(0),
            "kplay {args:?} ended with {status:?}: {err}"
        );
    }
}

/// Processes whose command line is exactly `words` (NUL-separated in /proc).
fn pids_running(words: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = words.join("\0").into_bytes();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.strip_suffix(b"\0").unwrap_or(&c) == want.as_slice())
                .unwrap_or(false)
        })
        .collect()
}

/// Item 3: a real SIGINT while a task runs `sleep`: Ansible's message, exit 99, the recap of
/// what finished, and the interrupted command stopped (no `sleep` left behind).
#[test]
fn item3_sigint_stops_the_run_and_its_commands() {
    let dir = tempdir();
    local_inventory(dir.path(), &["h1", "h2"]);
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo before\n    - shell: sleep 37.25; echo never\n",
    );
    let mut child = spawn_piped(dir.path(), &["run", "pb.yml", "-i", "hosts"]);
    let start = Instant::now();
    while pids_running(&["sleep", "37.25"]).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sleep never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = wait_at_most(&mut child, Duration::from_secs(30)).expect("kplay ended");
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    child.stdout.take().map(|mut o| o.read_to_string(&mut out));
    child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert_eq!(status.code(), Some(99), "{out}\n{err}");
    assert!(err.contains("[ERROR]: User interrupted execution"), "{err}");
    assert!(out.contains("PLAY RECAP"), "{out}");
    assert!(!out.contains("never"), "{out}");
    let start = Instant::now();
    while !pids_running(&["sleep", "37.25"]).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the interrupted task's sleep still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Item 4: `-l` matching nothing is an error (exit 1), as in Ansible.
#[test]
fn item4_limit_matching_nothing_is_an_error() {
    let dir = tempdir();
    let r = run_hosts(dir.path(), &["h1"], NINE_TASKS, &["-l", "nosuch"]);
    r.assert_exit(1);
    assert!(
        r.stderr
            .contains("Could not match supplied host pattern, ignoring: nosuch")
            && r.stderr.contains(
                "Specified inventory, host pattern and/or --limit leaves us with no hosts to target."
            ),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("TASK ["), "{}", r.dump());
    let r = kplay(
        dir.path(),
        &["adhoc", "all", "-i", "hosts", "-l", "nosuch", "-m", "ping"],
    );
    r.assert_exit(1);
}

/// Item 4: `--start-at-task` naming no task is refused before any host is touched; a task of a
/// later play starts there (earlier plays run nothing, not even fact gathering).
#[test]
fn item4_start_at_task_that_matches_nothing_is_refused() {
    let dir = tempdir();
    let r = run_hosts(
        dir.path(),
        &["h1"],
        NINE_TASKS,
        &["--start-at-task", "nope"],
    );
    r.assert_exit(1);
    assert!(
        r.stderr.contains(
            "No matching task \"nope\" found. Note: --start-at-task can only follow static includes."
        ),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("Gathering Facts"), "{}", r.dump());

    let two_plays = "- hosts: all\n  tasks:\n    - name: first\n      command: echo 1\n- hosts: all\n  gather_facts: false\n  tasks:\n    - name: second\n      command: echo 2\n    - name: third\n      command: echo 3\n";
    let r = run_hosts(
        dir.path(),
        &["h1"],
        two_plays,
        &["--start-at-task", "third"],
    );
    r.assert_exit(0);
    let b = banners(&r.stdout);
    assert!(
        b.len() == 1 && b[0].starts_with("TASK [third] ***"),
        "{}",
        r.dump()
    );
}
