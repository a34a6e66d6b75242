//! Issue [10], hardening: each test reproduces one way a secret leaked, a race let another local
//! user in, or hostile input reached outside where it belonged, through the real binary against
//! local temp dirs. Races are driven by a second local user: a watcher thread of this test
//! process that switches itself (only itself) to that user and reacts to inotify events.
//!
//! Tests that need root (a second user, sudo) print SKIP without it; CI runs them as root.

mod common;
#[path = "security/second_user.rs"]
mod second_user;

use common::*;
use std::fs;

/// sudo must not find the become password in front of the command's stdin when it does not
/// ask for one (root), and `environment:` must survive sudo.
#[test]
fn local_become_password_is_sent_only_when_prompted_and_env_is_kept() {
    if !second_user::root_or_skip("local_become_password") {
        return;
    }
    if !std::path::Path::new("/usr/bin/sudo").exists() {
        eprintln!("SKIP: sudo is not installed");
        return;
    }
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  become: true
  vars:
    ansible_become_password: "Sekr3t-become-pw"
  tasks:
    - copy:
        content: "hello\n"
        dest: "{{ dir }}/written.txt"
    - shell: cat
      args:
        stdin: "from stdin"
      register: fed
    - shell: printf '%s' "$KPLAY_SEC_ENV"
      environment:
        KPLAY_SEC_ENV: kept
      register: env_out
    - copy:
        content: "{{ fed.stdout }}|{{ env_out.stdout }}\n"
        dest: "{{ dir }}/seen.txt"
"#;
    for no_agent in ["0", "1"] {
        let _ = fs::remove_file(t.path().join("written.txt"));
        write(t.path(), "pb.yml", pb);
        local_inventory(t.path(), &["localhost"]);
        let dir_var = format!("dir={}", t.path().display());
        let env: &[(&str, &str)] = if no_agent == "1" {
            &[("KPLAY_NO_AGENT", "1")]
        } else {
            &[]
        };
        let r = kplay_timeout_env(
            t.path(),
            &["run", "pb.yml", "-i", "hosts", "-e", &dir_var],
            DEFAULT_TIMEOUT,
            env,
        );
        r.assert_exit(0);
        assert_eq!(
            read(&t.path().join("written.txt")),
            "hello\n",
            "{}",
            r.dump()
        );
        assert_eq!(
            read(&t.path().join("seen.txt")),
            "from stdin|kept\n",
            "{}",
            r.dump()
        );
        assert!(!r.stdout.contains("Sekr3t") && !r.stderr.contains("Sekr3t"));
    }
}
