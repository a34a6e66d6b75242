//! Load errors exit 4 before any host is touched, with one line naming file:line and the offending
//! key; runtime errors fail only that host (exit 2) and are rescuable by block/rescue.

mod common;

use common::*;
use std::path::Path;

/// A first play whose only task would create `{{ dir }}/touched`: if that file exists after a load
/// error, a host was touched before the whole run was validated.
const TOUCH_FIRST: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - file: path="{{ dir }}/touched" state=touch
"#;

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} not in\n{text}"))
}

/// Asserts a load error: exit 4, nothing touched, and exactly one error line on stderr that names
/// `file:line` and contains `key`.
fn assert_load_error(dir: &Path, r: &Run, file: &str, line: usize, key: &str) {
    r.assert_no_panic();
    r.assert_exit(4);
    assert!(
        !dir.join("touched").exists(),
        "a host was touched before the load error was reported\n{}",
        r.dump()
    );
    assert!(
        !r.stdout.contains("TASK ["),
        "tasks ran before the load error\n{}",
        r.dump()
    );
    let error_lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(
        error_lines.len(),
        1,
        "expected one error line\n{}",
        r.dump()
    );
    let l = error_lines[0];
    assert!(
        l.contains(&format!("{file}:{line}")),
        "error line does not name {file}:{line}: {l}"
    );
    assert!(l.contains(key), "error line does not name {key}: {l}");
}

fn run_pb(dir: &Path, pb: &str) -> Run {
    run_local(dir, pb, &[])
}

#[test]
fn malformed_yaml_is_a_load_error_naming_the_line() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}    - debug:\n        msg: a: b\n");
    let r = run_pb(t.path(), &pb);
    assert_load_error(t.path(), &r, "pb.yml", line_of(&pb, "msg: a: b"), "YAML");
}

#[test]
fn bad_indentation_is_a_load_error() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}   - debug: msg=b\n");
    let r = run_pb(t.path(), &pb);
    assert_load_error(t.path(), &r, "pb.yml", line_of(&pb, "msg=b"), "YAML");
}

#[test]
fn unknown_module_is_a_load_error() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}    - no_such_module_xyz:\n        a: 1\n");
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "no_such_module_xyz"),
        "no_such_module_xyz",
    );
}

#[test]
fn unknown_module_in_a_later_play_stops_the_first_play() {
    let t = tempdir();
    let pb = format!(
        "{TOUCH_FIRST}- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=fine\n    - frobnicate: x=1\n"
    );
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "frobnicate"),
        "frobnicate",
    );
}

#[test]
fn unknown_keyword_on_a_block_is_a_load_error() {
    let t = tempdir();
    let pb =
        format!("{TOUCH_FIRST}    - block:\n        - debug: msg=x\n      bogus_block_kw: 1\n");
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "bogus_block_kw"),
        "bogus_block_kw",
    );
}

#[test]
fn unknown_keyword_on_a_play_is_a_load_error() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}- hosts: all\n  bogus_play_kw: 1\n  tasks: []\n");
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "bogus_play_kw"),
        "bogus_play_kw",
    );
}

#[test]
fn unknown_keyword_on_a_task_is_a_load_error() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}    - debug: msg=x\n      bogus_task_kw: 1\n");
    let r = run_pb(t.path(), &pb);
    // Ansible points at the task; kplay may point at the key itself, which names it more precisely.
    let task_line = line_of(&pb, "debug: msg=x");
    let key_line = line_of(&pb, "bogus_task_kw");
    let named = if r.stderr.contains(&format!("pb.yml:{key_line}")) {
        key_line
    } else {
        task_line
    };
    assert_load_error(t.path(), &r, "pb.yml", named, "bogus_task_kw");
}

#[test]
fn missing_import_tasks_file_is_a_load_error() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}    - import_tasks: not_there.yml\n");
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "not_there.yml"),
        "not_there.yml",
    );
}

#[test]
fn missing_role_is_a_load_error() {
    let t = tempdir();
    let pb = format!(
        "{TOUCH_FIRST}- hosts: all\n  gather_facts: false\n  roles:\n    - no_such_role_abc\n"
    );
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "no_such_role_abc"),
        "no_such_role_abc",
    );
}

#[test]
fn missing_vars_file_is_a_load_error() {
    let t = tempdir();
    let pb = format!(
        "{TOUCH_FIRST}- hosts: all\n  gather_facts: false\n  vars_files:\n    - missing_vars.yml\n  tasks:\n    - debug: msg=x\n"
    );
    let r = run_pb(t.path(), &pb);
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "missing_vars.yml"),
        "missing_vars.yml",
    );
}

#[test]
fn bad_inventory_line_is_a_load_error() {
    let t = tempdir();
    write(t.path(), "pb.yml", TOUCH_FIRST);
    write(
        t.path(),
        "badinv",
        "localhost ansible_connection=local\nother ansible_connection=local junk\n",
    );
    let dir_var = format!("dir={}", t.path().display());
    let r = kplay(t.path(), &["run", "pb.yml", "-i", "badinv", "-e", &dir_var]);
    assert_load_error(t.path(), &r, "badinv", 2, "junk");
}

#[test]
fn bad_inventory_group_vars_line_is_a_load_error() {
    let t = tempdir();
    write(t.path(), "pb.yml", TOUCH_FIRST);
    write(
        t.path(),
        "badinv",
        "[g]\nlocalhost ansible_connection=local\n[g:vars]\nnot a pair\n",
    );
    let dir_var = format!("dir={}", t.path().display());
    let r = kplay(t.path(), &["run", "pb.yml", "-i", "badinv", "-e", &dir_var]);
    assert_load_error(t.path(), &r, "badinv", 4, "not a pair");
}

#[test]
fn syntax_check_reports_the_same_load_error() {
    let t = tempdir();
    let pb = format!("{TOUCH_FIRST}    - no_such_module_xyz: {{}}\n");
    write(t.path(), "pb.yml", &pb);
    local_inventory(t.path(), &["localhost"]);
    let r = kplay(
        t.path(),
        &["run", "pb.yml", "-i", "hosts", "--syntax-check"],
    );
    assert_load_error(
        t.path(),
        &r,
        "pb.yml",
        line_of(&pb, "no_such_module_xyz"),
        "no_such_module_xyz",
    );
}

#[test]
fn undefined_variable_fails_the_host_with_exit_2_naming_it() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: content="{{ not_defined_anywhere }}" dest="{{ dir }}/x"
    - file: path="{{ dir }}/after_failure" state=touch
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_no_panic().assert_exit(2);
    assert!(r.stdout.contains("not_defined_anywhere"), "{}", r.dump());
    let c = r.host("localhost");
    assert_eq!((c.ok, c.failed), (0, 1), "{}", r.dump());
    assert!(!t.path().join("after_failure").exists());
}

#[test]
fn undefined_variable_fails_only_that_host() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg="{{ only_b_has_it }}"
    - file: path="{{ dir }}/{{ inventory_hostname }}.done" state=touch
"#;
    write(t.path(), "host_vars/b.yml", "only_b_has_it: yes\n");
    let r = run_hosts(t.path(), &["a", "b"], pb, &[]);
    r.assert_exit(2);
    assert_eq!(r.host("a").failed, 1, "{}", r.dump());
    assert_eq!(r.host("b").failed, 0, "{}", r.dump());
    assert_eq!(r.host("b").ok, 2, "{}", r.dump());
    assert!(t.path().join("b.done").exists());
    assert!(!t.path().join("a.done").exists());
}

#[test]
fn missing_template_src_fails_the_host_with_exit_2() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - template: src=does_not_exist.j2 dest="{{ dir }}/out"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_no_panic().assert_exit(2);
    assert!(r.stdout.contains("does_not_exist.j2"), "{}", r.dump());
    assert_eq!(r.host("localhost").failed, 1);
    assert!(!t.path().join("out").exists());
}

#[test]
fn runtime_errors_are_rescuable() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - debug: msg="{{ not_defined_anywhere }}"
      rescue:
        - copy: content="{{ ansible_failed_result.msg }}" dest="{{ dir }}/rescued1"
    - block:
        - template: src=does_not_exist.j2 dest="{{ dir }}/out"
      rescue:
        - file: path="{{ dir }}/rescued2" state=touch
    - file: path="{{ dir }}/play_went_on" state=touch
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    let c = r.host("localhost");
    assert_eq!(c.rescued, 2, "{}", r.dump());
    assert_eq!(c.failed, 0, "{}", r.dump());
    assert!(read(&t.path().join("rescued1")).contains("not_defined_anywhere"));
    assert!(t.path().join("rescued2").exists());
    assert!(t.path().join("play_went_on").exists());
}

#[test]
fn missing_inventory_file_is_reported_not_panicked() {
    let t = tempdir();
    write(t.path(), "pb.yml", TOUCH_FIRST);
    let r = kplay(t.path(), &["run", "pb.yml", "-i", "no_such_inventory"]);
    r.assert_no_panic();
    assert!(!t.path().join("touched").exists());
}

#[test]
fn missing_playbook_file_exits_nonzero_with_a_message() {
    let t = tempdir();
    local_inventory(t.path(), &["localhost"]);
    let r = kplay(t.path(), &["run", "no_such_playbook.yml", "-i", "hosts"]);
    r.assert_no_panic();
    assert_ne!(r.exit(), 0);
    assert!(r.stderr.contains("no_such_playbook.yml"), "{}", r.dump());
}

#[test]
fn unknown_module_argument_fails_with_ansible_core_wording() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: content=x dest="{{ dir }}/out" bogus=1
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_no_panic().assert_exit(2);
    assert!(
        r.stdout.contains("Unsupported parameters for (copy) module: bogus. Supported parameters include: _original_basename, attributes, backup, checksum, content, decrypt, dest, directory_mode, follow, force, group, local_follow, mode, owner, remote_src, selevel, serole, setype, seuser, src, unsafe_writes, validate (attr, thirsty)."),
        "{}",
        r.dump()
    );
    assert!(!t.path().join("out").exists());
}

#[test]
fn wrong_choice_fails_with_ansible_core_wording() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: path="{{ dir }}/d" state=folder
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_no_panic().assert_exit(2);
    assert!(
        r.stdout.contains("value of state must be one of: absent, directory, file, hard, link, touch, got: folder"),
        "{}",
        r.dump()
    );
    assert!(!t.path().join("d").exists());
}
