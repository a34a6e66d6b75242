//! Issue [12] "An Ansible user's first hour", the parts that need real hosts over SSH: Ctrl-C
//! stops the commands it started on the hosts (with and without become), `-vvv`/`-vvvv`
//! show the SSH connection and the commands, an unreachable host costs one connection attempt,
//! and the live compact view on a terminal.

use crate::harness::*;

/// `sleep` processes with exactly this argument on the host at `ip`.
fn sleeping(lab: &Lab, ip: &str, arg: &str) -> usize {
    let out = lab.ssh_as("root", ip, &format!("pgrep -x -f 'sleep {arg}' | wc -l"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Item 3: a real SIGINT while every host runs a long command (one plain, one with become):
/// exit 99 with Ansible's message, and no `sleep` left on any host.
pub fn ctrl_c_stops_remote_commands(lab: &Lab) {
    let pb = lab.work.join("first-hour-sleep.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: sleep 36.6; echo never\n      when: inventory_hostname != groups['all'][0]\n    - command: sleep 37.7\n      become: true\n      when: inventory_hostname == groups['all'][0]\n",
    )
    .expect("playbook");
    let child = Command::new(kplay_bin())
        .arg("run")
        .arg(&pb)
        .arg("-i")
        .arg(&lab.inventory)
        .current_dir(&lab.work)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", lab.work.join("none.cfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kplay");
    let started = Instant::now();
    loop {
        let running = sleeping(lab, lab.ip(1), "37.7")
            + sleeping(lab, lab.ip(2), "36.6")
            + sleeping(lab, lab.ip(3), "36.6");
        if running == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sleeps never started on all hosts"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("kplay ended");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(99), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[ERROR]: User interrupted execution"),
        "{stderr}"
    );
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    for n in 1..=3 {
        assert_eq!(
            sleeping(lab, lab.ip(n), "36.6") + sleeping(lab, lab.ip(n), "37.7"),
            0,
            "a sleep of the interrupted run still runs on {}",
            lab.name(n)
        );
    }
}

/// Item 6: `-vvv` shows the SSH connection and each command; `-vvvv` the transport detail.
pub fn verbose_ssh_traces(lab: &Lab) {
    let inv = lab.inventory.to_string_lossy().into_owned();
    let host = lab.name(1);
    let r = kplay_timeout(
        &lab.work,
        &["adhoc", host, "-i", &inv, "-m", "ping", "-vvv"],
        RUN_TIMEOUT,
    );
    assert_eq!(r.code, Some(0), "{}", r.dump());
    assert!(
        r.stdout.contains(&format!(
            "<{host}> ESTABLISH SSH CONNECTION FOR USER: root TO {}:22",
            lab.ip(1)
        )) && r
            .stdout
            .contains(&format!("<{host}> EXEC /bin/sh -c 'echo pong'")),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("authenticated in"), "{}", r.dump());
    let r = kplay_timeout(
        &lab.work,
        &["adhoc", host, "-i", &inv, "-m", "ping", "-vvvv"],
        RUN_TIMEOUT,
    );
    assert!(
        r.stdout.contains("host key policy Strict")
            && r.stdout.contains("connected and authenticated in")
            && r.stdout.contains(&format!("<{host}> rc=0")),
        "{}",
        r.dump()
    );
}

/// Item 10: an unreachable host is tried once (ansible-core's default), not three times.
pub fn unreachable_host_is_tried_once(lab: &Lab) {
    let lines = [format!("e2e-ghost ansible_host={}", lab.unused_ip)];
    let inv = lab.inventory_variant("ghost.ini", &lines, &lab.common_args.join(" "));
    let inv = inv.to_string_lossy().into_owned();
    let r = kplay_timeout(
        &lab.work,
        &["adhoc", "all", "-i", &inv, "-m", "ping", "--output", "json"],
        RUN_TIMEOUT,
    );
    assert_eq!(r.code, Some(4), "{}", r.dump());
    let msg = r
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_result")
        .and_then(|e| e["result"]["msg"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(
        !msg.is_empty() && !msg.contains("attempts"),
        "one attempt expected: {msg}\n{}",
        r.dump()
    );
}

/// Issue [7]'s live view on a terminal: one summary line per task, failures in full, the
/// recap; no per-host `ok:`/`changed:` lines.
pub fn live_view_on_a_terminal(lab: &Lab) {
    let pb = lab.work.join("first-hour-live.yml");
    std::fs::write(
        &pb,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: one\n      command: 'true'\n    - name: two\n      command: 'false'\n      when: inventory_hostname == groups['all'][0]\n    - name: three\n      command: 'true'\n",
    )
    .expect("playbook");
    let cmd = format!(
        "{} run {} -i {}",
        kplay_bin(),
        pb.display(),
        lab.inventory.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(&lab.work)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", lab.work.join("none.cfg"))
        .stdin(Stdio::null())
        .output()
        .expect("script(1)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    // What stays on the screen: lines the live rows did not overwrite.
    assert!(
        text.contains("TASK [one] changed=3  (3 hosts")
            && text.contains("TASK [two] failed=1 skipped=2  (3 hosts")
            && text.contains(&format!("fatal: [{}]: FAILED!", lab.name(1)))
            && text.contains("PLAY RECAP"),
        "{text}"
    );
    assert!(!text.contains("changed: ["), "{text}");
}
