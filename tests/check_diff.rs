//! `--check` changes nothing on the host (a before/after snapshot of the tree proves it) yet reports
//! what would change; `--check --diff` prints unified diffs for template/copy/lineinfile/blockinfile/
//! replace; `--diff` alone prints them while changing.

mod common;

use common::*;

/// A playbook touching every state-managing module, all of which would change something.
const ALL_MODULES: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    greeting: hello
  tasks:
    - name: copy
      copy: content="new content\n" dest="{{ dir }}/tree/copied.txt"
    - name: template
      template: src=greet.j2 dest="{{ dir }}/tree/greet.txt"
    - name: lineinfile
      lineinfile: path="{{ dir }}/tree/cfg" regexp="^port=" line="port=9090"
    - name: blockinfile
      blockinfile: path="{{ dir }}/tree/cfg" block="managed=1"
    - name: replace
      replace: path="{{ dir }}/tree/cfg" regexp="^name=old$" replace="name=new"
    - name: file dir
      file: path="{{ dir }}/tree/subdir" state=directory
    - name: file mode
      file: path="{{ dir }}/tree/cfg" mode="0600"
    - name: command
      command: touch "{{ dir }}/tree/by_command"
      args:
        creates: "{{ dir }}/tree/by_command"
"#;

fn seed(dir: &std::path::Path) {
    write(dir, "greet.j2", "{{ greeting }} world\n");
    write(dir, "tree/cfg", "name=old\nport=80\n");
    write(dir, "tree/greet.txt", "hi world\n");
}

#[test]
fn check_mode_changes_nothing_and_reports_changes() {
    let t = tempdir();
    seed(t.path());
    let before = snapshot(&t.path().join("tree"));
    let r = run_local(t.path(), ALL_MODULES, &["--check"]);
    r.assert_exit(0);
    let after = snapshot(&t.path().join("tree"));
    assert_eq!(before, after, "--check modified the tree\n{}", r.dump());
    let c = r.host("localhost");
    // ansible-core 2.18: command with `creates` supports check mode and reports it would run
    // (changed), so all 8 tasks report changed and nothing is skipped.
    assert_eq!(c.changed, 8, "{}", r.dump());
    assert_eq!(c.skipped, 0, "{}", r.dump());
    assert_eq!(c.failed, 0);
}

#[test]
fn check_after_a_real_run_reports_no_changes() {
    let t = tempdir();
    seed(t.path());
    run_local(t.path(), ALL_MODULES, &[]).assert_exit(0);
    let before = snapshot(t.path());
    let r = run_local(t.path(), ALL_MODULES, &["--check"]);
    r.assert_exit(0);
    assert_eq!(before, snapshot(t.path()));
    let c = r.host("localhost");
    assert_eq!(c.changed, 0, "{}", r.dump());
    assert_eq!(c.ok, 8, "{}", r.dump());
}

/// Splits text output into per-task sections keyed by the task name in `TASK [name]`.
fn section<'a>(stdout: &'a str, task: &str) -> &'a str {
    let header = format!("TASK [{task}]");
    let start = stdout
        .find(&header)
        .unwrap_or_else(|| panic!("no {header} in output:\n{stdout}"));
    let rest = &stdout[start + header.len()..];
    let end = rest
        .find("\nTASK [")
        .or_else(|| rest.find("\nPLAY RECAP"))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn assert_unified_diff(stdout: &str, task: &str, removed: &[&str], added: &[&str]) {
    let s = section(stdout, task);
    assert!(s.contains("--- before"), "{task}: no '--- before' in\n{s}");
    assert!(s.contains("+++ after"), "{task}: no '+++ after' in\n{s}");
    assert!(s.contains("@@ "), "{task}: no hunk header in\n{s}");
    for line in removed {
        assert!(
            s.lines().any(|l| l == format!("-{line}")),
            "{task}: no removed line -{line} in\n{s}"
        );
    }
    for line in added {
        assert!(
            s.lines().any(|l| l == format!("+{line}")),
            "{task}: no added line +{line} in\n{s}"
        );
    }
}

#[test]
fn check_diff_prints_unified_diffs_for_file_editing_modules() {
    let t = tempdir();
    seed(t.path());
    let before = snapshot(&t.path().join("tree"));
    let r = run_local(t.path(), ALL_MODULES, &["--check", "--diff"]);
    r.assert_exit(0);
    assert_eq!(
        before,
        snapshot(&t.path().join("tree")),
        "--check --diff modified the tree"
    );
    let out = &r.stdout;
    assert_unified_diff(out, "copy", &[], &["new content"]);
    assert_unified_diff(out, "template", &["hi world"], &["hello world"]);
    assert_unified_diff(out, "lineinfile", &["port=80"], &["port=9090"]);
    assert_unified_diff(
        out,
        "blockinfile",
        &[],
        &[
            "# BEGIN ANSIBLE MANAGED BLOCK",
            "managed=1",
            "# END ANSIBLE MANAGED BLOCK",
        ],
    );
    assert_unified_diff(out, "replace", &["name=old"], &["name=new"]);
    assert_eq!(read(&t.path().join("tree/cfg")), "name=old\nport=80\n");
}

#[test]
fn diff_without_check_prints_diff_and_applies_change() {
    let t = tempdir();
    write(t.path(), "f", "a\nb\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: edit
      lineinfile: path="{{ dir }}/f" regexp="^b$" line="B"
"#;
    let r = run_local(t.path(), pb, &["--diff"]);
    r.assert_exit(0);
    assert_unified_diff(&r.stdout, "edit", &["b"], &["B"]);
    assert_eq!(read(&t.path().join("f")), "a\nB\n");
}

#[test]
fn check_mode_false_task_runs_and_ansible_check_mode_is_set() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: touch "{{ dir }}/ran_anyway"
      check_mode: false
    - copy: content="{{ ansible_check_mode }}" dest="{{ dir }}/mode_in_check"
      check_mode: false
    - command: touch "{{ dir }}/must_not_exist"
"#;
    let r = run_local(t.path(), pb, &["--check"]);
    r.assert_exit(0);
    assert!(t.path().join("ran_anyway").exists(), "{}", r.dump());
    assert_eq!(read(&t.path().join("mode_in_check")), "True");
    assert!(!t.path().join("must_not_exist").exists());
    assert_eq!(r.host("localhost").skipped, 1, "{}", r.dump());
}

#[test]
fn check_mode_true_on_a_task_does_not_change_outside_check_runs() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: content="x" dest="{{ dir }}/never"
      check_mode: true
      register: r
    - assert:
        that: r.changed
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert!(!t.path().join("never").exists());
    assert_eq!(r.host("localhost").changed, 1, "{}", r.dump());
}
