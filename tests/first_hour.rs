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

/// Item 5: what kplay does not support is refused at load time, naming file:line, before any
/// host is touched.
#[test]
fn item5_unsupported_features_are_refused_at_load_time() {
    let dir = tempdir();
    local_inventory(dir.path(), &["h1"]);
    let marker = dir.path().join("touched");
    let touch = format!("    - file: path={} state=touch\n", marker.display());
    let cases: Vec<(String, usize, &str)> = vec![
        (format!("- hosts: all\n  debugger: on_failed\n  tasks:\n{touch}"), 2, "'debugger' is not supported"),
        (format!("- hosts: all\n  strategy: host_pinned\n  tasks:\n{touch}"), 2, "strategy 'host_pinned' is not supported"),
        (format!("- hosts: all\n  order: random\n  tasks:\n{touch}"), 2, "invalid order 'random'"),
        (format!("- hosts: all\n  vars_prompt:\n    - name: pw\n      encrypt: sha512_crypt\n  tasks:\n{touch}"), 4, "vars_prompt 'encrypt' is not supported"),
        (format!("- hosts: all\n  tasks:\n{touch}    - meta: refresh_inventory\n"), 4, "refresh_inventory is not supported"),
        (format!("- hosts: all\n  tasks:\n{touch}    - command: echo\n      poll: 5\n"), 5, "'poll' without 'async'"),
        (format!("- hosts: all\n  tasks:\n{touch}    - command: echo\n      throttle: many\n"), 5, "'throttle' must be a whole number"),
        (format!("- hosts: all\n  tasks:\n{touch}    - command: echo\n      run_once: sometimes\n"), 5, "'run_once' must be a literal boolean"),
        (format!("- hosts: all\n  module_defaults:\n    group/aws: {{}}\n  tasks:\n{touch}"), 3, "action groups are not supported"),
        (format!("- hosts: all\n  tasks:\n{touch}    - pause: seconds=1 minutes=1\n"), 4, "mutually exclusive"),
        (format!("- hosts: all\n  tasks:\n{touch}    - pause: delay=1\n"), 4, "Unsupported parameters for (pause) module: delay"),
    ];
    for (pb, line, msg) in cases {
        write(dir.path(), "pb.yml", &pb);
        let r = kplay(dir.path(), &["run", "pb.yml", "-i", "hosts"]);
        assert_eq!(r.code, Some(4), "{pb}\n{}", r.dump());
        assert!(
            r.stderr.contains(&format!("pb.yml:{line}:")) && r.stderr.contains(msg),
            "expected pb.yml:{line}: {msg}\n{}",
            r.dump()
        );
        assert!(!marker.exists(), "a host was touched: {pb}");
    }
}

/// Item 5: `async` + `poll: 0` returns a job id at once and the job keeps running;
/// `async_status` with `until` waits for it and returns the module's result.
#[test]
fn item5_async_poll_zero_and_async_status() {
    let dir = tempdir();
    let r = run_hosts(
        dir.path(),
        &["h1", "h2"],
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: sleep 1; echo done > {{ dir }}/{{ inventory_hostname }}.job
      async: 30
      poll: 0
      register: job
    - stat: path={{ dir }}/{{ inventory_hostname }}.job
      register: before
    - async_status: jid={{ job.ansible_job_id }}
      register: st
      until: st.finished
      retries: 30
      delay: 0.2
    - stat: path={{ dir }}/{{ inventory_hostname }}.job
      register: after
    - assert:
        that:
          - job.ansible_job_id is match('^j[0-9]+[.][0-9]+$')
          - job.started == 1 and job.finished == 0 and job is changed
          - not before.stat.exists
          - st.finished == 1 and st.rc == 0 and st.cmd is defined
          - after.stat.exists
"#,
        &[],
    );
    r.assert_exit(0);
    assert_eq!(r.host("h1").failed, 0, "{}", r.dump());
}

/// Item 5: an `async` job past its time is stopped (its command too) and fails with
/// Ansible's `Timeout exceeded`; `ASYNC POLL` lines show while it runs. `timeout:` alike.
#[test]
fn item5_async_and_timeout_stop_their_commands() {
    let dir = tempdir();
    let r = run_hosts(
        dir.path(),
        &["h1"],
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: sleep 41.5
      async: 2
      poll: 1
      ignore_errors: true
      register: a
    - command: sleep 42.5
      timeout: 1
      ignore_errors: true
      register: t
    - assert:
        that:
          - a is failed and a.msg == 'Timeout exceeded' and a.finished == 1
          - t is failed
          - "t.msg == 'The command action failed to execute in the expected time frame (1) and was terminated'"
"#,
        &[],
    );
    r.assert_exit(0);
    assert!(r.stdout.contains("ASYNC POLL on h1: jid="), "{}", r.dump());
    assert!(
        r.stdout.contains("ASYNC FAILED on h1: jid="),
        "{}",
        r.dump()
    );
    assert!(r.elapsed < Duration::from_secs(30), "{}", r.dump());
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        pids_running(&["sleep", "41.5"]).is_empty(),
        "the async command still runs"
    );
    assert!(
        pids_running(&["sleep", "42.5"]).is_empty(),
        "the timed-out command still runs"
    );
}

/// Item 5: `pause: seconds=N` waits once for the whole play and says so; the result is
/// registered for every host.
#[test]
fn item5_pause_seconds_waits_once_and_says_so() {
    let dir = tempdir();
    let r = run_hosts(
        dir.path(),
        &["h1", "h2", "h3"],
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - pause: seconds=1\n      register: p\n    - assert:\n        that: p.stdout is match('Paused for 1')\n",
        &[],
    );
    r.assert_exit(0);
    assert_eq!(
        r.stdout.matches("Pausing for 1 seconds").count(),
        1,
        "{}",
        r.dump()
    );
    let pause_block = r.stdout.split("TASK [assert]").next().unwrap_or_default();
    assert_eq!(pause_block.matches("ok: [").count(), 1, "{}", r.dump());
    assert!(r.elapsed >= Duration::from_secs(1));
}

/// Item 5: `pause: prompt=…` on a terminal waits for the user's answer (`user_input`); without
/// a terminal it says it does not wait, as Ansible does.
#[test]
fn item5_pause_prompt_waits_for_the_answer_on_a_terminal() {
    let dir = tempdir();
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - pause: prompt='Deploy to production?'\n      register: approval\n    - debug: msg='answer={{ approval.user_input }}'\n",
    );
    local_inventory(dir.path(), &["h1"]);
    let cmd = format!("{} run pb.yml -i hosts", kplay_bin());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("KPLAY_LIVE", "0")
        .env("ANSIBLE_CONFIG", dir.path().join("none.cfg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1)");
    std::thread::sleep(Duration::from_millis(1500));
    // Still waiting for the answer.
    assert!(
        child.try_wait().expect("wait").is_none(),
        "pause did not wait"
    );
    use std::io::{Read, Write};
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"approved\r").expect("answering");
    let status = wait_at_most(&mut child, Duration::from_secs(30)).expect("kplay ended");
    drop(stdin);
    let mut out = String::new();
    child.stdout.take().map(|mut o| o.read_to_string(&mut out));
    assert!(status.success(), "{out}");
    assert!(
        out.contains("[pause]") && out.contains("Deploy to production?:"),
        "{out}"
    );
    assert!(out.contains("answer=approved"), "{out}");

    let r = kplay(dir.path(), &["run", "pb.yml", "-i", "hosts"]);
    r.assert_exit(0);
    assert!(
        r.stderr
            .contains("Not waiting for response to prompt as stdin is not interactive"),
        "{}",
        r.dump()
    );
}

/// Item 6: `-v` shows results but not the facts dictionary (as ansible-core's setup asks);
/// `-vvv` shows each connection and command with secrets masked and `no_log` commands hidden;
/// `-vvvv` adds each command's outcome; none of it without `-v`.
#[test]
fn item6_verbosity_levels() {
    let dir = tempdir();
    let pb = r#"
- hosts: all
  tasks:
    - command: echo visible
      environment:
        DB_PASSWORD: hunter2
    - command: echo s3cr3t
      no_log: true
"#;
    let r = run_hosts(dir.path(), &["h1"], pb, &["-v"]);
    r.assert_exit(0);
    let facts_line = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("TASK [Gathering Facts]"))
        .nth(1)
        .unwrap_or_default();
    assert_eq!(facts_line, "ok: [h1]", "{}", r.dump());
    assert!(
        r.stdout
            .contains("changed: [h1] => {\"changed\": true, \"cmd\": [\"echo\", \"visible\"]"),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("ansible_facts"), "{}", r.dump());
    assert!(!r.stdout.contains("EXEC"), "{}", r.dump());

    let r = run_hosts(dir.path(), &["h1"], pb, &["-vvv"]);
    r.assert_exit(0);
    assert!(
        r.stdout.contains("<h1> ESTABLISH LOCAL CONNECTION"),
        "{}",
        r.dump()
    );
    assert!(
        r.stdout
            .contains("<h1> EXEC DB_PASSWORD='********' /bin/sh -c")
            && r.stdout.contains("echo visible"),
        "{}",
        r.dump()
    );
    assert!(
        r.stdout.contains("<h1> EXEC /bin/sh -c '<hidden: no_log>'"),
        "{}",
        r.dump()
    );
    assert!(
        !r.stdout.contains("hunter2") && !r.stdout.contains("s3cr3t"),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("<h1> rc="), "{}", r.dump());

    let r = run_hosts(dir.path(), &["h1"], pb, &["-vvvv"]);
    assert!(r.stdout.contains("<h1> rc=0 stdout="), "{}", r.dump());
    assert!(
        !r.stdout.contains("hunter2") && !r.stdout.contains("s3cr3t"),
        "{}",
        r.dump()
    );
}

/// Item 7: ad-hoc `copy src=FILE` finds FILE in the current directory, and `-o` prints one
/// line per host as `ansible -o` does.
#[test]
fn item7_adhoc_paths_from_the_current_directory_and_one_line_output() {
    let dir = tempdir();
    write(dir.path(), "hello.txt", "hello from cwd\n");
    local_inventory(dir.path(), &["h1", "h2"]);
    let dest = dir.path().join("copied.txt");
    let a = format!("src=hello.txt dest={}", dest.display());
    let r = kplay(
        dir.path(),
        &["adhoc", "h1", "-i", "hosts", "-m", "copy", "-a", &a],
    );
    r.assert_exit(0);
    assert_eq!(read(&dest), "hello from cwd\n", "{}", r.dump());

    let r = kplay(
        dir.path(),
        &[
            "adhoc",
            "all",
            "-i",
            "hosts",
            "-m",
            "shell",
            "-a",
            "echo a; echo b",
            "-o",
        ],
    );
    r.assert_exit(0);
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "h1 | CHANGED | rc=0 | (stdout) a\\nb",
            "h2 | CHANGED | rc=0 | (stdout) a\\nb"
        ],
        "{}",
        r.dump()
    );
    let r = kplay(
        dir.path(),
        &["adhoc", "h1", "-i", "hosts", "-m", "ping", "-o"],
    );
    assert_eq!(
        r.stdout.trim(),
        r#"h1 | SUCCESS => {"changed": false,"ping": "pong"}"#
    );
}

/// Item 8: `--step` asks before each task (y runs, n skips, c runs the rest).
#[test]
fn item8_step_asks_before_each_task() {
    let dir = tempdir();
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: first\n      command: echo 1\n    - name: second\n      command: echo 2\n    - name: third\n      command: echo 3\n    - name: fourth\n      command: echo 4\n",
    );
    local_inventory(dir.path(), &["h1"]);
    let mut child = Command::new(kplay_bin())
        .args(["run", "pb.yml", "-i", "hosts", "--step"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", dir.path().join("none.cfg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kplay");
    use std::io::{Read, Write};
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"y\nn\nc\n")
        .expect("answers");
    let status = wait_at_most(&mut child, Duration::from_secs(30)).expect("ended");
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().map(|mut o| o.read_to_string(&mut out));
    child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert!(status.success(), "{out}{err}");
    assert_eq!(
        err.matches("Perform task: TASK: ").count(),
        3,
        "asked for first, second, third only\n{err}"
    );
    let b = banners(&out);
    assert!(
        b.len() == 3
            && b[0].starts_with("TASK [first]")
            && b[1].starts_with("TASK [third]")
            && b[2].starts_with("TASK [fourth]"),
        "{out}"
    );
}

/// Item 8: `inventory --graph --vars` shows variables as ansible-inventory does.
#[test]
fn item8_inventory_graph_with_vars() {
    let dir = tempdir();
    write(dir.path(), "hosts", "[web]\nh1 a=1\nh2\n[web:vars]\ngv=x\n");
    let r = kplay(
        dir.path(),
        &["inventory", "-i", "hosts", "--graph", "--vars"],
    );
    r.assert_exit(0);
    assert_eq!(
        r.stdout,
        "@all:\n  |--@ungrouped:\n  |--@web:\n  |  |--h1\n  |  |  |--{a = 1}\n  |  |  |--{gv = x}\n  |  |--h2\n  |  |  |--{gv = x}\n  |  |--{gv = x}\n"
    );
}

/// Item 8: every option of `plan` and `inventory` has a help text.
#[test]
fn item8_help_texts_are_not_empty() {
    let dir = tempdir();
    for (cmd, opts) in [
        (
            "plan",
            &["PLAYBOOK", "--tags", "--skip-tags", "--dot", "--inventory"][..],
        ),
        (
            "inventory",
            &["--inventory", "--list", "--graph", "--host", "--vars"][..],
        ),
        ("adhoc", &["--one-line", "--module-name"][..]),
        ("run", &["--step"][..]),
    ] {
        let r = kplay(dir.path(), &[cmd, "--help"]);
        r.assert_exit(0);
        for o in opts {
            let line = r
                .stdout
                .lines()
                .find(|l| {
                    l.trim_start().starts_with('-') && l.contains(o)
                        || l.trim_start().starts_with(&format!("<{o}>"))
                        || l.trim_start().starts_with(o)
                })
                .unwrap_or_else(|| panic!("{cmd} --help has no {o}\n{}", r.stdout));
            let words = line
                .split_whitespace()
                .filter(|w| !w.starts_with('-') && !w.starts_with('<') && !w.ends_with(','))
                .count();
            assert!(
                words >= 2,
                "{cmd} {o} has no help text: {line:?}\n{}",
                r.stdout
            );
        }
    }
}

/// Item 8: the stdout callback and enabled callbacks from ansible.cfg / the environment:
/// `yaml` prints results as YAML, `timer` prints the run time, what kplay lacks is refused.
#[test]
fn item8_stdout_callback_and_callbacks_enabled() {
    let dir = tempdir();
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=\"line1\\nline2\"\n",
    );
    local_inventory(dir.path(), &["h1"]);
    let run = |env: &[(&str, &str)]| {
        kplay_timeout_env(
            dir.path(),
            &["run", "pb.yml", "-i", "hosts"],
            DEFAULT_TIMEOUT,
            env,
        )
    };
    let r = run(&[("ANSIBLE_STDOUT_CALLBACK", "yaml")]);
    r.assert_exit(0);
    assert!(
        r.stdout
            .contains("ok: [h1] => \n    msg: |-\n        line1\n        line2\n"),
        "{}",
        r.dump()
    );
    let r = run(&[("ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.timer")]);
    r.assert_exit(0);
    assert!(
        r.stdout
            .contains("Playbook run took 0 days, 0 hours, 0 minutes, "),
        "{}",
        r.dump()
    );
    // profile_tasks (kubespray's ansible.cfg enables it) is accepted.
    run(&[("ANSIBLE_CALLBACKS_ENABLED", "profile_tasks")]).assert_exit(0);
    let r = run(&[("ANSIBLE_STDOUT_CALLBACK", "debug")]);
    r.assert_exit(4);
    assert!(
        r.stderr.contains("$ANSIBLE_STDOUT_CALLBACK") && r.stderr.contains("debug"),
        "{}",
        r.dump()
    );
}

/// Item 10: a YAML error shows the offending line with a caret; an undefined variable fails
/// on one line; `kplay plan` says where each barrier is and why.
#[test]
fn item10_errors_and_plan_explain_themselves() {
    let dir = tempdir();
    local_inventory(dir.path(), &["h1", "h2"]);
    write(
        dir.path(),
        "bad.yml",
        "- hosts: all\n  tasks:\n    - name: x\n      debug: msg=hi\n     bad: 1\n",
    );
    let r = kplay(dir.path(), &["run", "bad.yml", "-i", "hosts"]);
    r.assert_exit(4);
    assert!(
        r.stderr.contains("bad.yml:5:6:")
            && r.stderr
                .contains("The offending line appears to be:\n\n      debug: msg=hi\n     bad: 1\n     ^ here"),
        "{}",
        r.dump()
    );
    write(
        dir.path(),
        "undef.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: \"{{ nosuch_var }}\"\n",
    );
    let r = kplay(dir.path(), &["run", "undef.yml", "-i", "hosts"]);
    r.assert_exit(2);
    let fatal: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("fatal: ["))
        .collect();
    assert!(
        fatal.len() == 2
            && fatal
                .iter()
                .all(|l| l.ends_with("}") && l.contains("'nosuch_var' is undefined")),
        "{}",
        r.dump()
    );
    write(
        dir.path(),
        "plan.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo a\n    - name: peers\n      debug: msg=\"{{ hostvars['h1'].inventory_hostname }}\"\n    - name: once\n      command: echo b\n      run_once: true\n",
    );
    let r = kplay(dir.path(), &["plan", "plan.yml", "-i", "hosts"]);
    r.assert_exit(0);
    assert!(
        r.stdout.contains("barrier before task 2 [peers] (plan.yml:5:7): its templates read other hosts' variables (hostvars)")
            && r.stdout.contains("barrier before task 3 [once] (plan.yml:7:7): run_once")
            && r.stdout.contains("barrier end of play"),
        "{}",
        r.dump()
    );
}

/// Item 10 and README: every `--output json` event kplay emits, with every field, is in
/// README's schema table (the run below emits each kind of event).
#[test]
fn item10_json_events_are_documented_in_readme() {
    let dir = tempdir();
    local_inventory(dir.path(), &["h1", "h2"]);
    write(dir.path(), "inc.yml", "- debug: msg=included\n");
    write(
        dir.path(),
        "pb.yml",
        r#"
- hosts: nomatch
  tasks:
    - debug: msg=never
- hosts: all
  gather_facts: false
  handlers:
    - name: bye
      debug: msg=bye
  tasks:
    - command: echo hi
      notify: bye
    - meta: flush_handlers
    - shell: test -e {{ dir }}/flag || { touch {{ dir }}/flag; exit 1; }
      register: r
      until: r.rc == 0
      retries: 2
      delay: 0
      run_once: true
    - command: sleep 1.2
      async: 10
      poll: 1
    - include_tasks: inc.yml
    - pause: seconds=1
    - fail: msg=stop
"#,
    );
    let dir_var = format!("dir={}", dir.path().display());
    let r = kplay(
        dir.path(),
        &[
            "run", "pb.yml", "-i", "hosts", "--output", "json", "-vvv", "-e", &dir_var,
        ],
    );
    let readme = std::fs::read_to_string(fixture("../README.md")).expect("README");
    let table: Vec<&str> = readme
        .split("### `--output json`")
        .nth(1)
        .expect("README has the --output json section")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for ev in r.events() {
        let name = ev["event"].as_str().unwrap_or_default().to_string();
        let row = table
            .iter()
            .find(|row| {
                row.split('|')
                    .nth(1)
                    .is_some_and(|c| c.contains(&format!("`{name}`")))
            })
            .unwrap_or_else(|| panic!("event {name} is not documented in README"));
        for field in ev.as_object().into_iter().flat_map(|o| o.keys()) {
            if field == "event" || field == "time" {
                continue;
            }
            assert!(
                row.contains(&format!("`{field}`")),
                "field {field} of event {name} is not documented in README"
            );
        }
        seen.insert(name);
    }
    for want in [
        "run_start",
        "playbook_start",
        "play_start",
        "task_start",
        "handler_start",
        "host_result",
        "retrying",
        "async_poll",
        "included",
        "message",
        "trace",
        "task_end",
        "no_hosts_matched",
        "no_more_hosts",
        "recap",
    ] {
        assert!(
            seen.contains(want),
            "the run emitted no {want} event\n{}",
            r.dump()
        );
    }
}

/// Item 5: keywords kplay used to accept and ignore now work: `vars_prompt` (its default when
/// stdin is not a terminal, with Ansible's warning), `module_defaults`, `max_fail_percentage`.
#[test]
fn item5_keywords_that_were_ignored_now_work() {
    let dir = tempdir();
    let r = run_hosts(
        dir.path(),
        &["h1", "h2"],
        r#"
- hosts: all
  gather_facts: false
  vars_prompt:
    - name: answer
      prompt: The answer
      default: fortytwo
  module_defaults:
    ansible.builtin.file:
      mode: "0600"
  tasks:
    - file: path={{ dir }}/{{ inventory_hostname }}.md state=touch
    - assert:
        that: answer == 'fortytwo'
- hosts: all
  gather_facts: false
  max_fail_percentage: 40
  tasks:
    - fail: msg=half
      when: inventory_hostname == 'h1'
    - command: touch {{ dir }}/{{ inventory_hostname }}.after
"#,
        &["-f", "1"],
    );
    r.assert_exit(2);
    assert!(
        r.stderr
            .contains("Not prompting as we are not in interactive mode"),
        "{}",
        r.dump()
    );
    for h in ["h1", "h2"] {
        assert_eq!(mode_of(&dir.path().join(format!("{h}.md"))) & 0o777, 0o600);
    }
    assert!(
        !dir.path().join("h2.after").exists(),
        "50% failed > 40%: the play must stop\n{}",
        r.dump()
    );
}
