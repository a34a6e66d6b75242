//! The playbook language through the real binary: handlers, blocks, loops, includes, tags,
//! --start-at-task, roles, variable precedence, task control and no_log. Each playbook records what
//! ran in `{{ dir }}/log` (one line per step) and/or asserts inside, and the tests check the log, the
//! files and the recap from outside. Expected values were checked against ansible-core 2.18.

mod common;

use common::*;
use std::path::Path;

/// The lines of `dir/log` (empty when the file does not exist).
fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- handlers

#[test]
fn handler_notified_twice_runs_once_at_the_end() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo task1 >> {{ dir }}/log
      notify: restart
    - shell: echo task2 >> {{ dir }}/log
      notify: [restart]
    - shell: echo task3 >> {{ dir }}/log
  handlers:
    - name: restart
      shell: echo handler >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["task1", "task2", "task3", "handler"]);
    assert_eq!(r.host("localhost").ok, 4, "{}", r.dump());
    assert!(
        r.stdout.contains("RUNNING HANDLER [restart]"),
        "{}",
        r.dump()
    );
}

#[test]
fn handler_is_not_notified_by_an_unchanged_task() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg=unchanged
      notify: restart
  handlers:
    - name: restart
      shell: echo handler >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert!(log(t.path()).is_empty());
    assert_eq!(r.host("localhost").ok, 1);
}

const HANDLER_ON_FAILING_HOST: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo notify >> {{ dir }}/{{ inventory_hostname }}.log
      notify: restart
    - fail: msg="late failure"
      when: inventory_hostname == 'a'
  handlers:
    - name: restart
      shell: echo handler >> {{ dir }}/{{ inventory_hostname }}.log
"#;

#[test]
fn handlers_skip_a_failed_host() {
    let t = tempdir();
    let r = run_hosts(t.path(), &["a", "b"], HANDLER_ON_FAILING_HOST, &[]);
    r.assert_exit(2);
    assert_eq!(read(&t.path().join("a.log")), "notify\n");
    assert_eq!(read(&t.path().join("b.log")), "notify\nhandler\n");
    assert_eq!(r.host("a").failed, 1);
    assert_eq!(r.host("b").ok, 2, "{}", r.dump());
}

#[test]
fn force_handlers_runs_handlers_on_a_failed_host() {
    let t = tempdir();
    let r = run_hosts(
        t.path(),
        &["a", "b"],
        HANDLER_ON_FAILING_HOST,
        &["--force-handlers"],
    );
    r.assert_exit(2);
    assert_eq!(read(&t.path().join("a.log")), "notify\nhandler\n");
    assert_eq!(read(&t.path().join("b.log")), "notify\nhandler\n");
}

#[test]
fn meta_flush_handlers_runs_them_mid_play() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo first >> {{ dir }}/log
      notify: h
    - meta: flush_handlers
    - shell: echo second >> {{ dir }}/log
      notify: h
  handlers:
    - name: h
      shell: echo handler >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["first", "handler", "second", "handler"]);
}

#[test]
fn listen_topic_triggers_every_listening_handler_in_order() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo task >> {{ dir }}/log
      notify: restart stack
  handlers:
    - name: restart db
      shell: echo db >> {{ dir }}/log
      listen: restart stack
    - name: unrelated
      shell: echo unrelated >> {{ dir }}/log
    - name: restart web
      shell: echo web >> {{ dir }}/log
      listen: restart stack
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["task", "db", "web"]);
}

#[test]
fn handlers_run_after_pre_tasks_tasks_and_post_tasks() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  pre_tasks:
    - shell: echo pre >> {{ dir }}/log
      notify: h
  tasks:
    - shell: echo main >> {{ dir }}/log
      notify: h
  post_tasks:
    - shell: echo post >> {{ dir }}/log
      notify: h
  handlers:
    - name: h
      shell: echo handler >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        log(t.path()),
        ["pre", "handler", "main", "handler", "post", "handler"]
    );
}

// ---------------------------------------------------------------- blocks

#[test]
fn rescue_sees_failed_result_and_always_runs() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - shell: echo block >> {{ dir }}/log
        - name: doomed command
          command: /bin/false
        - shell: echo not-reached >> {{ dir }}/log
      rescue:
        - shell: echo "rescue rc={{ ansible_failed_result.rc }} task={{ ansible_failed_task.name }}" >> {{ dir }}/log
      always:
        - shell: echo always >> {{ dir }}/log
    - shell: echo after >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        log(t.path()),
        [
            "block",
            "rescue rc=1 task=doomed command",
            "always",
            "after"
        ]
    );
    let c = r.host("localhost");
    assert_eq!((c.rescued, c.failed), (1, 0), "{}", r.dump());
}

#[test]
fn always_runs_when_there_is_no_rescue_and_the_host_still_fails() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - fail: msg=boom
      always:
        - shell: echo always >> {{ dir }}/log
    - shell: echo after >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(2);
    assert_eq!(log(t.path()), ["always"]);
    assert_eq!(r.host("localhost").failed, 1);
}

#[test]
fn nested_blocks_inherit_when_and_vars_and_rescue_outward() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - block:
            - shell: echo "inner {{ outer_var }} {{ inner_var }}" >> {{ dir }}/log
            - fail: msg="inner boom"
          vars:
            inner_var: iv
          always:
            - shell: echo inner-always >> {{ dir }}/log
      rescue:
        - shell: echo "outer-rescue {{ ansible_failed_result.msg }}" >> {{ dir }}/log
      vars:
        outer_var: ov
    - block:
        - shell: echo skipped-by-when >> {{ dir }}/log
        - block:
            - shell: echo nested-skipped >> {{ dir }}/log
      when: false
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        log(t.path()),
        ["inner ov iv", "inner-always", "outer-rescue inner boom"]
    );
    let c = r.host("localhost");
    assert_eq!((c.rescued, c.skipped, c.failed), (1, 2, 0), "{}", r.dump());
}

// ---------------------------------------------------------------- loops

#[test]
fn loop_results_are_registered_per_item() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo {{ item }}
      loop: [alpha, beta, gamma]
      register: r
    - assert:
        that:
          - r.results | length == 3
          - r.results[1].stdout == 'beta'
          - r.results[2].item == 'gamma'
          - r.results[0].rc == 0
          - r.changed
    - copy:
        content: "{{ r.results | map(attribute='stdout') | join(',') }}"
        dest: "{{ dir }}/out"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(read(&t.path().join("out")), "alpha,beta,gamma");
}

#[test]
fn loop_when_is_evaluated_per_item() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo {{ item }} >> {{ dir }}/log
      loop: [1, 2, 3, 4]
      when: item is even
      register: r
    - assert:
        that:
          - r.results[0].skipped
          - r.results[1].changed
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["2", "4"]);
}

#[test]
fn loop_control_loop_var_index_var_label_extended() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: >-
        echo "{{ pkg.name }} idx={{ i }} first={{ ansible_loop.first }} last={{ ansible_loop.last }}
        len={{ ansible_loop.length }} index={{ ansible_loop.index }}" >> {{ dir }}/log
      loop:
        - {name: one, secret: s1}
        - {name: two, secret: s2}
      loop_control:
        loop_var: pkg
        index_var: i
        label: "{{ pkg.name }}"
        extended: true
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        log(t.path()),
        [
            "one idx=0 first=True last=False len=2 index=1",
            "two idx=1 first=False last=True len=2 index=2"
        ]
    );
    assert!(
        r.stdout.contains("(item=one)"),
        "label not used\n{}",
        r.dump()
    );
    assert!(
        !r.stdout.contains("s1"),
        "label should hide the rest of the item\n{}",
        r.dump()
    );
}

#[test]
fn with_items_dict_sequence_nested_subelements() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    users:
      - name: ann
        keys: [k1, k2]
      - name: bob
        keys: [k3]
  tasks:
    - shell: echo "items {{ item }}" >> {{ dir }}/log
      with_items: [[a, b], c]
    - shell: echo "dict {{ item.key }}={{ item.value }}" >> {{ dir }}/log
      with_dict: {x: 1, y: 2}
    - shell: echo "seq {{ item }}" >> {{ dir }}/log
      with_sequence: start=1 end=5 stride=2 format=n%02d
    - shell: echo "nested {{ item[0] }}{{ item[1] }}" >> {{ dir }}/log
      with_nested:
        - [a, b]
        - [1, 2]
    - shell: echo "sub {{ item.0.name }} {{ item.1 }}" >> {{ dir }}/log
      with_subelements:
        - "{{ users }}"
        - keys
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        log(t.path()),
        [
            "items a",
            "items b",
            "items c",
            "dict x=1",
            "dict y=2",
            "seq n01",
            "seq n03",
            "seq n05",
            "nested a1",
            "nested a2",
            "nested b1",
            "nested b2",
            "sub ann k1",
            "sub ann k2",
            "sub bob k3",
        ]
    );
    assert_eq!(r.host("localhost").changed, 5, "{}", r.dump());
}

#[test]
fn dynamic_include_tasks_inside_a_loop() {
    let t = tempdir();
    write(
        t.path(),
        "per_item.yml",
        "- shell: echo \"inc {{ outer }} a\" >> {{ dir }}/log\n- shell: echo \"inc {{ outer }} b\" >> {{ dir }}/log\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - include_tasks: per_item.yml
      loop: [x, y]
      loop_control:
        loop_var: outer
    - include_tasks: "{{ 'per_item' }}.yml"
      vars:
        outer: z
      when: true
    - shell: echo done >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        log(t.path()),
        ["inc x a", "inc x b", "inc y a", "inc y b", "inc z a", "inc z b", "done"]
    );
    assert_eq!(r.host("localhost").changed, 7, "{}", r.dump());
}

// ---------------------------------------------------------------- tags

const TAGGED: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo untagged >> {{ dir }}/log
    - shell: echo web >> {{ dir }}/log
      tags: web
    - shell: echo db >> {{ dir }}/log
      tags: [db]
    - shell: echo always >> {{ dir }}/log
      tags: always
    - shell: echo never >> {{ dir }}/log
      tags: [never, debugonly]
    - import_tasks: imported.yml
      tags: imp
"#;

fn run_tagged(dir: &Path, extra: &[&str]) -> Vec<String> {
    write(
        dir,
        "imported.yml",
        "- shell: echo imported1 >> {{ dir }}/log\n- shell: echo imported2 >> {{ dir }}/log\n",
    );
    let _ = std::fs::remove_file(dir.join("log"));
    let r = run_local(dir, TAGGED, extra);
    r.assert_exit(0);
    log(dir)
}

#[test]
fn no_tag_options_run_everything_but_never() {
    let t = tempdir();
    assert_eq!(
        run_tagged(t.path(), &[]),
        ["untagged", "web", "db", "always", "imported1", "imported2"]
    );
}

#[test]
fn tags_select_tasks_and_always_still_runs() {
    let t = tempdir();
    assert_eq!(run_tagged(t.path(), &["--tags", "web"]), ["web", "always"]);
}

#[test]
fn import_tasks_tags_are_inherited_by_imported_tasks() {
    let t = tempdir();
    assert_eq!(
        run_tagged(t.path(), &["--tags", "imp"]),
        ["always", "imported1", "imported2"]
    );
}

#[test]
fn never_tag_runs_only_when_asked_for() {
    let t = tempdir();
    assert_eq!(
        run_tagged(t.path(), &["--tags", "debugonly"]),
        ["always", "never"]
    );
    assert_eq!(
        run_tagged(t.path(), &["--tags", "never"]),
        ["always", "never"]
    );
    assert!(!run_tagged(t.path(), &["--tags", "all"]).contains(&"never".to_string()));
}

#[test]
fn skip_tags_skip_tagged_tasks_including_always_when_named() {
    let t = tempdir();
    assert_eq!(
        run_tagged(t.path(), &["--skip-tags", "web,imp"]),
        ["untagged", "db", "always"]
    );
    assert_eq!(
        run_tagged(t.path(), &["--skip-tags", "always"]),
        ["untagged", "web", "db", "imported1", "imported2"]
    );
}

#[test]
fn tagged_and_untagged_special_tags() {
    let t = tempdir();
    assert_eq!(
        run_tagged(t.path(), &["--tags", "untagged"]),
        ["untagged", "always"]
    );
    assert_eq!(
        run_tagged(t.path(), &["--tags", "tagged"]),
        ["web", "db", "always", "imported1", "imported2"]
    );
}

// ---------------------------------------------------------------- start-at-task

#[test]
fn start_at_task_skips_earlier_tasks() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: one
      shell: echo one >> {{ dir }}/log
    - name: two
      shell: echo two >> {{ dir }}/log
    - name: three
      shell: echo three >> {{ dir }}/log
"#;
    let r = run_local(t.path(), pb, &["--start-at-task", "two"]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["two", "three"]);
    assert_eq!(r.host("localhost").ok, 2);
}

fn roles_demo(dir: &Path, extra: &[&str]) -> Run {
    local_inventory(dir, &["localhost"]);
    let pb = fixture("playbooks/roles_demo/site.yml");
    let dir_var = format!("dir={}", dir.display());
    let mut args = vec![
        "run",
        pb.to_str().expect("utf-8"),
        "-i",
        "hosts",
        "-e",
        dir_var.as_str(),
    ];
    args.extend_from_slice(extra);
    kplay(dir, &args)
}

fn order_log(dir: &Path) -> Vec<String> {
    read(&dir.join("order.log"))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn start_at_task_inside_a_role() {
    let t = tempdir();
    let r = roles_demo(t.path(), &["--start-at-task", "web : web template"]);
    r.assert_exit(0);
    // Starts at the role's second task: common and "web main" are skipped, so no handler is notified.
    // As in ansible-core 2.18, the dependency did not run, so include_role runs it.
    assert_eq!(
        order_log(t.path()),
        ["play task", "common", "extra web"],
        "{}",
        r.dump()
    );
    assert_eq!(read(&t.path().join("site.conf")), "port=8080\n");
}

// ---------------------------------------------------------------- roles

#[test]
fn roles_defaults_vars_params_dependencies_handlers_and_tasks_from() {
    let t = tempdir();
    let r = roles_demo(t.path(), &[]);
    r.assert_exit(0);
    // Same order and values as ansible-core 2.18: the meta dependency first; role params beat role
    // vars, role vars beat defaults; the role handler runs after the play's tasks; include_role with
    // tasks_from does not re-run the already-run dependency.
    assert_eq!(
        order_log(t.path()),
        [
            "common",
            "web 8080 from_role_vars from_param",
            "play task",
            "extra web",
            "handler restart web"
        ]
    );
    assert_eq!(read(&t.path().join("site.conf")), "port=8080\n");
    assert!(
        r.stdout.contains("TASK [common : common main]"),
        "{}",
        r.dump()
    );
    assert!(
        r.stdout.contains("RUNNING HANDLER [web : restart web]"),
        "{}",
        r.dump()
    );
    assert_eq!(
        r.host("localhost"),
        Counts {
            ok: 7,
            changed: 6,
            ..Default::default()
        },
        "{}",
        r.dump()
    );
}

#[test]
fn role_defaults_used_when_nothing_overrides_them() {
    let t = tempdir();
    write(
        t.path(),
        "roles/r1/defaults/main.yml",
        "greeting: hello-default\nport: 1\n",
    );
    write(
        t.path(),
        "roles/r1/tasks/main.yml",
        "- copy: content=\"{{ greeting }} {{ port }} {{ role_path | basename }}\" dest={{ dir }}/r1\n",
    );
    let pb = "- hosts: all\n  gather_facts: false\n  vars:\n    port: 2\n  roles: [r1]\n";
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    // Play vars beat role defaults.
    assert_eq!(read(&t.path().join("r1")), "hello-default 2 r1");
}

#[test]
fn role_dependency_runs_once_unless_params_differ() {
    let t = tempdir();
    write(
        t.path(),
        "roles/base/tasks/main.yml",
        "- shell: echo \"base {{ flavour | default('plain') }}\" >> {{ dir }}/log\n",
    );
    write(t.path(), "roles/x/meta/main.yml", "dependencies: [base]\n");
    write(
        t.path(),
        "roles/x/tasks/main.yml",
        "- shell: echo x >> {{ dir }}/log\n",
    );
    write(
        t.path(),
        "roles/y/meta/main.yml",
        "dependencies:\n  - role: base\n  - role: base\n    flavour: spicy\n",
    );
    write(
        t.path(),
        "roles/y/tasks/main.yml",
        "- shell: echo y >> {{ dir }}/log\n",
    );
    let pb = "- hosts: all\n  gather_facts: false\n  roles: [x, y]\n";
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["base plain", "x", "base spicy", "y"]);
}

// ---------------------------------------------------------------- precedence

#[test]
fn variable_precedence_across_inventory_playbook_role_fact_and_extra_vars() {
    let t = tempdir();
    let pb = fixture("playbooks/precedence/site.yml");
    let inv = fixture("inventories/precedence/hosts");
    let dir_var = format!("dir={}", t.path().display());
    let r = kplay(
        t.path(),
        &[
            "run",
            pb.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "-e",
            &dir_var,
            "-e",
            "e_extra=from_extra",
        ],
    );
    r.assert_exit(0);
    // a: group_vars/child beats group_vars/all      b: host_vars beat group_vars
    // c: play vars beat group_vars                  d: set_fact beats play vars
    // e: extra vars beat set_fact/play/inventory    g: playbook group_vars/all beat inventory's
    // h: playbook host_vars beat inventory host_vars i: parent group beats all
    // j: child group beats parent group
    assert_eq!(
        read(&t.path().join("h1.vars")),
        "a=from_inv_child\nb=from_inv_host\nc=from_play\nd=from_set_fact\ne=from_extra\ng=from_pb_all\nh=from_pb_host\ni=from_inv_parent\nj=from_inv_child\n"
    );
    assert_eq!(
        read(&t.path().join("h2.vars")),
        "a=from_inv_child\nb=from_inv_child\nc=from_play\nd=from_set_fact\ne=from_extra\ng=from_pb_all\nh=undefined\ni=from_inv_parent\nj=from_inv_child\n"
    );
    // Role params beat role vars.
    assert_eq!(read(&t.path().join("h1.role")), "f=from_param\n");
}

#[test]
fn extra_vars_beat_role_vars_and_task_vars() {
    let t = tempdir();
    write(t.path(), "roles/rv/vars/main.yml", "v: from_role_vars\n");
    write(
        t.path(),
        "roles/rv/tasks/main.yml",
        "- copy: content=\"{{ v }}\" dest={{ dir }}/rv\n  vars:\n    v: from_task_vars\n",
    );
    let pb = "- hosts: all\n  gather_facts: false\n  roles: [rv]\n";
    let r = run_local(t.path(), pb, &["-e", "v=from_extra"]);
    r.assert_exit(0);
    assert_eq!(read(&t.path().join("rv")), "from_extra");
}

#[test]
fn dicts_replace_rather_than_merge() {
    let t = tempdir();
    write(t.path(), "group_vars/all.yml", "cfg: {a: 1, b: 2}\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    cfg: {c: 3}
  tasks:
    - copy: content="{{ cfg.keys() | list | join(',') }}" dest="{{ dir }}/cfg"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(read(&t.path().join("cfg")), "c");
}

#[test]
fn to_json_renders_with_python_separators() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    cfg: {c: 3, d: [1, "x"]}
  tasks:
    - copy: content="{{ cfg | to_json }}" dest="{{ dir }}/cfg"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    // Ansible's to_json is Python's json.dumps: ", " and ": " separators.
    assert_eq!(read(&t.path().join("cfg")), "{\"c\": 3, \"d\": [1, \"x\"]}");
}

// ---------------------------------------------------------------- task control

#[test]
fn omit_drops_the_parameter() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "x"
        dest: "{{ dir }}/omitted"
        mode: "{{ wanted_mode | default(omit) }}"
    - copy:
        content: "y"
        dest: "{{ dir }}/given"
        mode: "{{ '0600' if true else omit }}"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(mode_of(&t.path().join("omitted")), 0o666 & !current_umask());
    assert_eq!(mode_of(&t.path().join("given")), 0o600);
}

#[test]
fn until_retries_records_attempts() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo x >> {{ dir }}/log; wc -l < {{ dir }}/log
      register: r
      until: r.stdout | int >= 3
      retries: 5
      delay: 0
    - copy: content="{{ r.attempts }} {{ r.stdout }}" dest="{{ dir }}/attempts"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(read(&t.path().join("attempts")), "3 3");
    assert_eq!(log(t.path()).len(), 3);
}

#[test]
fn until_exhausting_retries_fails_the_host() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo x >> {{ dir }}/log
      register: r
      until: false
      retries: 2
      delay: 0
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(2);
    // One first attempt plus two retries.
    assert_eq!(log(t.path()).len(), 3, "{}", r.dump());
    // ansible-core 2.18 reports the configured retries (2), not the number of runs, when it gives up.
    assert!(r.stdout.contains("\"attempts\": 2"), "{}", r.dump());
}

#[test]
fn changed_when_and_failed_when_override_the_result() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo quiet
      changed_when: false
    - command: echo CHANGED
      register: out
      changed_when: "'CHANGED' in out.stdout"
    - shell: exit 3
      register: three
      failed_when: three.rc not in [0, 3]
    - command: echo ERROR here
      register: e
      failed_when: "'ERROR' in e.stdout"
      ignore_errors: true
    - assert:
        that:
          - three is not failed
          - e is failed
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        r.host("localhost"),
        Counts {
            ok: 5,
            changed: 3,
            ignored: 1,
            ..Default::default()
        },
        "{}",
        r.dump()
    );
}

#[test]
fn no_log_hides_results_in_text_output() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo TOPSECRET-VALUE
      no_log: true
    - debug: msg="TOPSECRET-DEBUG"
      no_log: true
    - command: /bin/sh -c "echo TOPSECRET-FAIL; exit 1"
      no_log: true
      ignore_errors: true
"#;
    let r = run_local(t.path(), pb, &["-v"]);
    r.assert_exit(0);
    assert!(
        !r.stdout.contains("TOPSECRET") && !r.stderr.contains("TOPSECRET"),
        "{}",
        r.dump()
    );
    assert!(r.stdout.contains("censored"), "{}", r.dump());
}

#[test]
fn no_log_hides_results_in_json_output() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo TOPSECRET-VALUE
      no_log: true
      register: hidden
    - copy: content="{{ hidden.stdout }}" dest="{{ dir }}/still_usable"
      no_log: true
"#;
    let r = run_local(t.path(), pb, &["--output", "json"]);
    r.assert_exit(0);
    assert!(!r.stdout.contains("TOPSECRET"), "{}", r.dump());
    // The registered value is still there for later tasks; only the output hides it.
    assert_eq!(read(&t.path().join("still_usable")), "TOPSECRET-VALUE");
    let events = r.events();
    let results: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "host_result")
        .collect();
    assert_eq!(results.len(), 2);
}

#[test]
fn when_conditions_with_registered_results_and_facts() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo hello
      register: greet
    - set_fact:
        flag: "yes"
    - shell: echo ran-when-true >> {{ dir }}/log
      when:
        - greet.stdout == 'hello'
        - flag | bool
    - shell: echo must-not-run >> {{ dir }}/log
      when: greet is failed or undefined_thing is defined
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["ran-when-true"]);
    assert_eq!(r.host("localhost").skipped, 1);
}

#[test]
fn meta_end_host_stops_only_that_host() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - meta: end_host
      when: inventory_hostname == 'a'
    - shell: echo {{ inventory_hostname }} >> {{ dir }}/log
"#;
    let r = run_hosts(t.path(), &["a", "b"], pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["b"]);
}

// ---------------------------------------------------------------- run_once in includes, unsafe results

const RUN_ONCE_INCLUDED: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - include_tasks: once.yml
      loop: [1, 2]
"#;

const ONCE_YML: &str = r#"
- shell: echo {{ inventory_hostname }} {{ item }} >> {{ dir }}/log; echo {{ inventory_hostname }}
  register: r
  run_once: true
- shell: echo {{ inventory_hostname }} saw {{ r.stdout }} item {{ item }} >> {{ dir }}/seen-{{ inventory_hostname }}
"#;

/// ansible-core 2.18: a `run_once` task in an included file runs once (on the first host) for
/// every host that includes the file with the same parameters, and each host gets its result.
#[test]
fn run_once_in_an_included_file_runs_once_for_all_hosts() {
    let t = tempdir();
    write(t.path(), "once.yml", ONCE_YML);
    let r = run_hosts(t.path(), &["a", "b", "c"], RUN_ONCE_INCLUDED, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["a 1", "a 2"], "{}", r.dump());
    for h in ["a", "b", "c"] {
        let seen = read(&t.path().join(format!("seen-{h}")));
        assert_eq!(
            seen,
            format!("{h} saw a item 1\n{h} saw a item 2\n"),
            "{}",
            r.dump()
        );
    }
    // Two includes and the per-host task for every host; the run_once task counts on `a` only.
    assert_eq!(r.host("a").ok, 6, "{}", r.dump());
    assert_eq!(r.host("b").ok, 4, "{}", r.dump());
    assert_eq!(r.host("c").changed, 2, "{}", r.dump());
}

/// The first host still running (not the failed one) runs an included `run_once` task, for a
/// `run_once` include, a per-host include and an include in a handler alike (counts checked
/// against ansible-core 2.18).
#[test]
fn run_once_in_includes_runs_on_the_first_host_still_running() {
    let t = tempdir();
    write(t.path(), "once.yml", ONCE_YML);
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - fail: msg=x
      when: inventory_hostname == 'a'
    - include_tasks: once.yml
      loop: [1]
      run_once: true
    - include_tasks: once.yml
      loop: [2]
    - debug: msg=hi
      changed_when: true
      notify: h
  handlers:
    - name: h
      include_tasks: once.yml
      loop: [3]
"#;
    let r = run_hosts(t.path(), &["a", "b", "c"], pb, &[]);
    r.assert_exit(2);
    assert_eq!(log(t.path()), ["b 1", "b 2", "b 3"], "{}", r.dump());
    assert_eq!(
        (r.host("b").ok, r.host("b").changed),
        (10, 7),
        "{}",
        r.dump()
    );
    assert_eq!(
        (r.host("c").ok, r.host("c").changed),
        (5, 3),
        "{}",
        r.dump()
    );
}

/// ansible-core gives the facts a `run_once` task sets to every host, at the play's level and
/// inside an included file alike.
#[test]
fn run_once_set_fact_reaches_every_host() {
    let t = tempdir();
    write(
        t.path(),
        "once.yml",
        "- set_fact:\n    inner: \"{{ inventory_hostname }}\"\n  run_once: true\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - set_fact:
        picked: "{{ inventory_hostname }}"
      run_once: true
    - include_tasks: once.yml
    - shell: echo {{ inventory_hostname }} {{ picked | default('none') }} {{ inner | default('none') }} > {{ dir }}/{{ inventory_hostname }}
"#;
    let r = run_hosts(t.path(), &["a", "b", "c"], pb, &[]);
    r.assert_exit(0);
    for h in ["a", "b", "c"] {
        assert_eq!(
            read(&t.path().join(h)),
            format!("{h} a a\n"),
            "{}",
            r.dump()
        );
    }
}

/// ansible-core marks module results unsafe: text in a registered result that looks like a
/// template is data, never rendered again (here it would fail: `boom` is undefined).
#[test]
fn registered_results_are_never_templated_again() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: printf '{%raw%}{{ boom }}{%endraw%}'
      register: r
      until: "'boom' in r.stdout"
    - copy:
        dest: "{{ dir }}/out"
        content: "{{ r.stdout }}|{{ hostvars[inventory_hostname].r.stdout }}|{{ r | to_json | from_json | json_query('stdout') }}"
    - assert:
        that:
          - r.stdout == '{' ~ '{ boom }' ~ '}'
          - r.stdout_lines | length == 1
    # What is rendered from a result is data too (ansible-core's unsafe marking carries over),
    # while a value built from plain text is rendered again when used.
    - set_fact:
        copied: "{{ r.stdout }}"
        lines: "{{ r.stdout_lines }}"
        plain: "{{ '{{' }} inventory_hostname {{ '}}' }}"
    - copy:
        dest: "{{ dir }}/facts"
        content: "{{ copied }}|{{ lines[0] }}|{{ plain }}"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        read(&t.path().join("out")),
        "{{ boom }}|{{ boom }}|{{ boom }}",
        "{}",
        r.dump()
    );
    assert_eq!(
        read(&t.path().join("facts")),
        "{{ boom }}|{{ boom }}|localhost",
        "{}",
        r.dump()
    );
}

// ---------------------------------------------------------------- set_stats

const SET_STATS: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - set_stats:
        data:
          packages: [a]
          count: 2
          info: {a: 1}
    - set_stats:
        data:
          count: 3
          info: {b: 2}
          packages: [z]
    - set_stats:
        data:
          mine: "{{ inventory_hostname }}"
        per_host: true
    - set_stats:
        data: {total: 10}
        aggregate: false
      register: r
    - copy:
        dest: "{{ dir }}/registered"
        content: "{{ r.ansible_stats | to_json }}"
"#;

/// `set_stats` as ansible-core 2.18: aggregated by default (numbers added, lists joined,
/// mappings merged), per host on request, shown after the recap only with show_custom_stats.
#[test]
fn set_stats_aggregates_and_shows_custom_stats_when_asked() {
    let t = tempdir();
    write(t.path(), "pb.yml", SET_STATS);
    local_inventory(t.path(), &["localhost"]);
    let dir_var = format!("dir={}", t.path().display());
    let args = ["run", "pb.yml", "-i", "hosts", "-e", dir_var.as_str()];
    let shown = kplay_timeout_env(
        t.path(),
        &args,
        std::time::Duration::from_secs(60),
        &[("ANSIBLE_SHOW_CUSTOM_STATS", "true")],
    );
    shown.assert_exit(0);
    assert_eq!(shown.host("localhost").ok, 5, "{}", shown.dump());
    let tail: Vec<&str> = shown.stdout.lines().rev().take(5).collect();
    assert_eq!(
        tail,
        [
            "",
            "\tRUN: { \"count\": 5, \"info\": {  \"a\": 1,  \"b\": 2 }, \"packages\": [  \"a\",  \"z\" ], \"total\": 10}",
            "",
            "\tlocalhost: { \"mine\": \"localhost\"}",
            "CUSTOM STATS: ******************************************************************",
        ],
        "{}",
        shown.dump()
    );
    assert_eq!(
        read(&t.path().join("registered")),
        r#"{"data": {"total": 10}, "per_host": false, "aggregate": false}"#
    );
    let quiet = kplay(t.path(), &args);
    quiet.assert_exit(0);
    assert!(!quiet.stdout.contains("CUSTOM STATS"), "{}", quiet.dump());
}

/// `run_once` as a template of play-level variables (kubespray's `"{{ download_run_once }}"`):
/// rendered by the plan, in the play and inside an included file alike.
#[test]
fn templated_run_once_follows_its_variable() {
    let t = tempdir();
    write(
        t.path(),
        "inc.yml",
        "- shell: echo inc {{ inventory_hostname }} >> {{ dir }}/log\n  run_once: \"{{ once }}\"\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo play {{ inventory_hostname }} >> {{ dir }}/log
      run_once: "{{ once }}"
    - include_tasks: inc.yml
"#;
    for (once, lines) in [("true", 2), ("false", 6)] {
        let _ = std::fs::remove_file(t.path().join("log"));
        let r = run_hosts(
            t.path(),
            &["a", "b", "c"],
            pb,
            &["-e", &format!("once={once}")],
        );
        r.assert_exit(0);
        assert_eq!(log(t.path()).len(), lines, "once={once}\n{}", r.dump());
    }
}

/// ansible-core's `first_found` skips a candidate whose name does not render (an undefined
/// key), and tries the next one.
#[test]
fn with_first_found_skips_candidates_that_do_not_render() {
    let t = tempdir();
    write(t.path(), "vars/debian.yml", "picked: debian\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    osr: {ID: debian}
  tasks:
    - include_vars: "{{ item }}"
      with_first_found:
        - files:
            - "{{ osr['ID'] }}-{{ osr['VARIANT_ID'] }}.yml"
            - "{{ osr['ID'] }}.yml"
          paths: [vars/]
          skip: true
    - shell: echo {{ picked }} > {{ dir }}/log
"#;
    let r = run_hosts(t.path(), &["a"], pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["debian"], "{}", r.dump());
}

/// ansible-core: a role sees its dependencies' defaults (its own override them), also when it
/// is included with `tasks_from` (kubespray's `network_plugin/calico` and `calico_defaults`).
#[test]
fn a_role_sees_the_defaults_of_its_dependencies() {
    let t = tempdir();
    write(
        t.path(),
        "roles/base/defaults/main.yml",
        "pool: from-base\nshared: base\n",
    );
    write(
        t.path(),
        "roles/app/meta/main.yml",
        "dependencies:\n  - role: base\n",
    );
    write(t.path(), "roles/app/defaults/main.yml", "shared: app\n");
    write(
        t.path(),
        "roles/app/tasks/check.yml",
        "- shell: echo {{ pool }} {{ shared }} >> {{ dir }}/log\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - include_role:
        name: app
        tasks_from: check
"#;
    let r = run_hosts(t.path(), &["a"], pb, &[]);
    r.assert_exit(0);
    assert_eq!(log(t.path()), ["from-base app"], "{}", r.dump());
}
