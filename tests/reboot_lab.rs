//! `reboot` on a lab host: kplay's SSH connection is cut under it and must be renewed for the
//! reboot module and for every later task. The lab cannot reboot a host for real (its systemd
//! exits and is not started again), so the "reboot" drops every SSH session of the host and the
//! boot id is a fresh random UUID per read; the rest (detached command, reconnect loop,
//! test_command, later tasks on the new connection) is the real path. A negative control shows
//! that without the reboot module the same cut fails the next task.

mod common;

use common::root_or_skip;
use std::process::{Command, Stdio};

const LAB: &str = "compat6m-reboot";

#[test]
fn reboot_reconnects_and_later_tasks_use_the_new_connection() {
    if !root_or_skip("reboot_lab") {
        return;
    }
    let _machine = common::lab_lock();
    let up = Command::new(common::kplay_bin())
        .args(["lab", "up", "--name", LAB, "--hosts", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("kplay lab up");
    let _down = common::LabDown(LAB);
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(
        up.status.success(),
        "lab up: {text}{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let inventory = text.lines().last().unwrap_or_default().to_string();
    let t = common::tempdir();
    let cut = "pkill -KILL -f 'sshd.*: root@'";
    let pb = format!(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - reboot:
        reboot_command: "{cut}"
        boot_time_command: cat /proc/sys/kernel/random/uuid
        reboot_timeout: 60
      register: r
    - command: echo after
      register: a
    - assert:
        that: [r.rebooted, r.changed, "a.stdout == 'after'"]
"#
    );
    common::write(t.path(), "reboot.yml", &pb);
    let started = std::time::Instant::now();
    let run = common::kplay(t.path(), &["run", "reboot.yml", "-i", &inventory]);
    eprintln!(
        "reboot over a cut connection: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    run.assert_exit(0);
    let c = run.recap();
    let host = c.keys().next().cloned().unwrap_or_default();
    assert_eq!((c[&host].ok, c[&host].failed), (3, 0), "{}", run.dump());
    // Negative control: the same cut without the reboot module breaks the next task.
    let control = format!(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: "(sleep 1; {cut}) >/dev/null 2>&1 &"
    - pause: {{seconds: 3}}
    - command: echo after
"#
    );
    common::write(t.path(), "control.yml", &control);
    let run = common::kplay(t.path(), &["run", "control.yml", "-i", &inventory]);
    assert_ne!(
        run.exit(),
        0,
        "the cut must break a connection nobody renews\n{}",
        run.dump()
    );
}
