//! `synchronize` with `delegate_to` through the whole engine, over local connections: the
//! module is given the inventory host's connection besides the delegate's, so a push runs
//! from the delegate (a relative `src` is the delegate's, not a controller file) to the
//! inventory host, a pull back to the delegate, and a task delegated to its own host copies
//! within it. (With real hosts the same runs in tests/lab; here every host is local.)

mod common;

use common::*;
use std::fs;

const PLAYBOOK: &str = r#"
- hosts: web1
  gather_facts: false
  tasks:
    - name: not delegated, a relative src is the controller's files/
      synchronize: {src: data.txt, dest: "{{ dir }}/out/pushed.txt"}
    - name: delegated, a relative src is the delegate's
      synchronize: {src: data.txt, dest: "{{ dir }}/out/never.txt"}
      delegate_to: web2
      register: rel
      ignore_errors: true
    - name: delegated push, delegate -> inventory host
      synchronize: {src: "{{ dir }}/files/data.txt", dest: "{{ dir }}/out/delegated.txt"}
      delegate_to: web2
    - name: delegated pull, inventory host -> delegate
      synchronize:
        mode: pull
        src: "{{ dir }}/out/delegated.txt"
        dest: "{{ dir }}/out/pulled.txt"
      delegate_to: web2
    - name: delegated to its own host
      synchronize: {src: "{{ dir }}/out/pulled.txt", dest: "{{ dir }}/out/own.txt"}
      delegate_to: "{{ inventory_hostname }}"
    - copy:
        dest: "{{ dir }}/out/rel.txt"
        content: "{{ rel.failed }} {{ 'does not exist on the delegate' in rel.msg }}"
"#;

#[test]
fn delegated_synchronize_runs_between_the_delegate_and_the_inventory_host() {
    let t = tempdir();
    let d = t.path();
    write(d, "files/data.txt", "payload\n");
    fs::create_dir_all(d.join("out")).expect("mkdir");
    let r = run_hosts(d, &["web1", "web2"], PLAYBOOK, &[]);
    assert_eq!(r.exit(), 0, "{}\n{}", r.stdout, r.stderr);
    for f in ["pushed.txt", "delegated.txt", "pulled.txt", "own.txt"] {
        let got = fs::read_to_string(d.join("out").join(f)).unwrap_or_default();
        assert_eq!(got, "payload\n", "{f}\n{}", r.stdout);
    }
    assert!(!d.join("out/never.txt").exists());
    let rel = fs::read_to_string(d.join("out/rel.txt")).expect("rel.txt");
    assert_eq!(rel, "True True", "{}", r.stdout);
    assert!(r.stdout.contains("changed: [web1 -> web2]"), "{}", r.stdout);
}
