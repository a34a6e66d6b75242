//! The command line as a user meets it: exit codes as ansible-playbook returns them, PLAY RECAP
//! semantics, the listing flags, `kplay inventory`, `kplay plan --dot`, `kplay adhoc`, `--limit` and
//! `-e` in its three forms. Expected text was taken from ansible-core 2.18 on the same fixtures.

mod common;

use common::*;
use serde_json::json;

// ---------------------------------------------------------------- exit codes

#[test]
fn exit_0_when_every_host_is_ok() {
    let t = tempdir();
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo hi\n";
    let r = run_hosts(t.path(), &["a", "b"], pb, &[]);
    r.assert_exit(0);
    for h in ["a", "b"] {
        assert_eq!(
            r.host(h),
            Counts {
                ok: 1,
                changed: 1,
                ..Default::default()
            }
        );
    }
}

#[test]
fn exit_2_when_a_host_fails_and_the_other_host_finishes() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - fail: msg="only a"
      when: inventory_hostname == 'a'
    - file: path="{{ dir }}/{{ inventory_hostname }}" state=touch
"#;
    let r = run_hosts(t.path(), &["a", "b"], pb, &[]);
    r.assert_exit(2);
    assert_eq!(
        r.host("a"),
        Counts {
            failed: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        r.host("b"),
        Counts {
            ok: 1,
            changed: 1,
            skipped: 1,
            ..Default::default()
        }
    );
    assert!(t.path().join("b").exists() && !t.path().join("a").exists());
}

#[test]
fn exit_4_when_a_host_is_unreachable_and_the_other_host_finishes() {
    let t = tempdir();
    write(
        t.path(),
        "hosts",
        "a ansible_connection=local\nclosed ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1\n",
    );
    write(
        t.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo one\n    - file: path=\"{{ dir }}/{{ inventory_hostname }}\" state=touch\n",
    );
    let dir_var = format!("dir={}", t.path().display());
    let r = kplay(t.path(), &["run", "pb.yml", "-i", "hosts", "-e", &dir_var]);
    r.assert_no_panic().assert_exit(4);
    assert_eq!(
        r.host("closed"),
        Counts {
            unreachable: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        r.host("a"),
        Counts {
            ok: 2,
            changed: 2,
            ..Default::default()
        }
    );
    assert!(t.path().join("a").exists());
    assert!(r.stdout.contains("UNREACHABLE!"), "{}", r.dump());
}

#[test]
fn unreachable_wins_over_failed_for_the_exit_code() {
    let t = tempdir();
    write(
        t.path(),
        "hosts",
        "a ansible_connection=local\nclosed ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1\n",
    );
    // `fail` runs on the controller and never connects, so a command comes first to meet the port.
    write(
        t.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo\n    - fail: msg=x\n",
    );
    let r = kplay(t.path(), &["run", "pb.yml", "-i", "hosts"]);
    r.assert_exit(4);
    assert_eq!(r.host("a").failed, 1);
    assert_eq!(r.host("closed").unreachable, 1);
}

#[test]
fn exit_5_for_a_non_numeric_forks_value() {
    let t = tempdir();
    let r = run_local(t.path(), "- hosts: all\n  tasks: []\n", &["--forks", "x"]);
    r.assert_no_panic().assert_exit(5);
    assert!(r.stderr.contains("forks"), "{}", r.dump());
    assert!(!r.stdout.contains("PLAY ["));
}

#[test]
fn exit_5_for_an_unknown_flag() {
    let t = tempdir();
    let r = run_local(t.path(), "- hosts: all\n  tasks: []\n", &["--no-such-flag"]);
    r.assert_no_panic().assert_exit(5);
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.dump());
}

#[test]
fn exit_5_when_run_has_no_playbook() {
    let t = tempdir();
    let r = kplay(t.path(), &["run"]);
    r.assert_no_panic().assert_exit(5);
}

// ---------------------------------------------------------------- recap semantics

#[test]
fn recap_ok_includes_changed_and_a_loop_counts_once() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: echo {{ item }}
      loop: [1, 2, 3]
    - debug: msg=plain
    - debug: msg={{ item }}
      loop: [1, 2]
      when: item == 1
    - debug: msg=never
      when: false
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    // Ansible 2.18: ok=3 changed=1 skipped=1 (a loop with some items skipped is ok, not skipped).
    assert_eq!(
        r.host("localhost"),
        Counts {
            ok: 3,
            changed: 1,
            skipped: 1,
            ..Default::default()
        },
        "{}",
        r.dump()
    );
}

#[test]
fn recap_counts_include_tasks_as_ansible_does() {
    // ansible-core 2.18 counts each included file once as ok ("included: … for host"); an include
    // in a two-item loop includes two files.
    let t = tempdir();
    write(
        t.path(),
        "inc.yml",
        "- debug: msg=\"inc {{ item | default('') }}\"\n",
    );
    let single = "- hosts: all\n  gather_facts: false\n  tasks:\n    - include_tasks: inc.yml\n";
    let r = run_local(t.path(), single, &[]);
    r.assert_exit(0);
    assert_eq!(r.host("localhost").ok, 2, "single include\n{}", r.dump());
    let looped = "- hosts: all\n  gather_facts: false\n  tasks:\n    - include_tasks: inc.yml\n      loop: [a, b]\n";
    let r = run_local(t.path(), looped, &[]);
    r.assert_exit(0);
    assert_eq!(r.host("localhost").ok, 4, "looped include\n{}", r.dump());
}

#[test]
fn recap_rescued_counts_rescued_not_failed() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - fail: msg=boom
      rescue:
        - debug: msg=rescued
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(
        r.host("localhost"),
        Counts {
            ok: 1,
            rescued: 1,
            ..Default::default()
        },
        "{}",
        r.dump()
    );
}

#[test]
fn recap_ignore_errors_counts_ok_and_ignored() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: /bin/false
      ignore_errors: true
    - debug: msg=after
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert!(r.stdout.contains("...ignoring"), "{}", r.dump());
    // The failed command reports changed=true (as Ansible's command does), and counts ok + ignored.
    assert_eq!(
        r.host("localhost"),
        Counts {
            ok: 2,
            changed: 1,
            ignored: 1,
            ..Default::default()
        },
        "{}",
        r.dump()
    );
}

#[test]
fn recap_lines_are_sorted_and_padded_like_ansible() {
    let t = tempdir();
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=x\n";
    let r = run_hosts(t.path(), &["zeta", "alpha"], pb, &[]);
    r.assert_exit(0);
    let recap = &r.stdout[r.stdout.find("PLAY RECAP").expect("recap")..];
    let lines: Vec<&str> = recap
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "alpha                      : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   ",
            "zeta                       : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   ",
        ]
    );
}

#[test]
fn json_output_is_pure_json_with_recap_counts_and_exit_code() {
    let t = tempdir();
    let pb = r#"
- name: the play
  hosts: all
  gather_facts: false
  tasks:
    - name: say
      command: echo hello
    - name: boom
      fail: msg=bad
      when: inventory_hostname == 'b'
"#;
    let r = run_hosts(t.path(), &["a", "b"], pb, &["--output", "json"]);
    r.assert_exit(2);
    let events = r.events();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for k in ["play_start", "task_start", "host_result", "recap"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert!(events
        .iter()
        .all(|e| e["time"].as_str().and_then(rfc3339_seconds).is_some()));
    let say_a = events
        .iter()
        .find(|e| e["event"] == "host_result" && e["task"] == "say" && e["host"] == "a")
        .expect("say/a result");
    assert_eq!(say_a["play"], "the play");
    assert_eq!(say_a["result"]["stdout"], "hello");
    assert_eq!(say_a["result"]["changed"], true);
    assert!(
        say_a["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("pb.yml:")),
        "{say_a}"
    );
    let recap = events
        .iter()
        .find(|e| e["event"] == "recap")
        .expect("recap");
    assert_eq!(recap["exit_code"], 2);
    assert_eq!(recap["stats"]["b"]["failed"], 1);
    assert_eq!(recap["stats"]["a"]["ok"], 1);
    assert_eq!(recap["stats"]["a"]["skipped"], 1);
}

// ---------------------------------------------------------------- listings

fn listing(flag: &str, extra: &[&str]) -> Run {
    let t = tempdir();
    local_inventory(t.path(), &["localhost"]);
    let pb = fixture("playbooks/listing.yml");
    let pb = pb.to_str().expect("utf-8 path");
    std::fs::copy(pb, t.path().join("pb.yml")).expect("copying the fixture");
    let mut args = vec!["run", "pb.yml", "-i", "hosts", flag];
    args.extend_from_slice(extra);
    kplay(t.path(), &args)
}

#[test]
fn list_hosts_matches_ansible() {
    let r = listing("--list-hosts", &[]);
    r.assert_exit(0);
    assert_eq!(
        r.stdout,
        "\nplaybook: pb.yml\n\n  play #1 (all): first play\tTAGS: [playtag]\n    pattern: ['all']\n    hosts (1):\n      localhost\n\n  play #2 (localhost): localhost\tTAGS: []\n    pattern: ['localhost']\n    hosts (1):\n      localhost\n"
    );
}

#[test]
fn list_tasks_matches_ansible_with_inherited_tags() {
    let r = listing("--list-tasks", &[]);
    r.assert_exit(0);
    assert_eq!(
        r.stdout,
        "\nplaybook: pb.yml\n\n  play #1 (all): first play\tTAGS: [playtag]\n    tasks:\n      one\tTAGS: [playtag, t1]\n      three\tTAGS: [blk, playtag]\n\n  play #2 (localhost): localhost\tTAGS: []\n    tasks:\n      four\tTAGS: []\n"
    );
}

#[test]
fn list_tasks_with_tags_never_lists_the_never_task() {
    let r = listing("--list-tasks", &["--tags", "never"]);
    r.assert_exit(0);
    assert!(
        r.stdout.contains("      two\tTAGS: [never, playtag, t2]"),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("      one\t"), "{}", r.dump());
}

#[test]
fn list_tags_matches_ansible() {
    let r = listing("--list-tags", &[]);
    r.assert_exit(0);
    assert_eq!(
        r.stdout,
        "\nplaybook: pb.yml\n\n  play #1 (all): first play\tTAGS: [playtag]\n      TASK TAGS: [blk, never, playtag, t1, t2]\n\n  play #2 (localhost): localhost\tTAGS: []\n      TASK TAGS: []\n"
    );
}

#[test]
fn syntax_check_on_a_good_playbook_runs_nothing() {
    let t = tempdir();
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - file: path=\"{{ dir }}/touched\" state=touch\n";
    let r = run_local(t.path(), pb, &["--syntax-check"]);
    r.assert_exit(0);
    assert!(r.stdout.contains("playbook: pb.yml"), "{}", r.dump());
    assert!(!t.path().join("touched").exists());
}

// ---------------------------------------------------------------- inventory, plan, adhoc

#[test]
fn inventory_list_has_groups_and_merged_hostvars() {
    let t = tempdir();
    let inv = fixture("inventories/groups/hosts");
    let r = kplay(
        t.path(),
        &["inventory", "-i", inv.to_str().unwrap(), "--list"],
    );
    r.assert_exit(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("inventory --list is JSON");
    // Same document ansible-inventory 2.18 prints for this fixture.
    let expected = json!({
        "_meta": {"hostvars": {
            "d1": {"ansible_connection": "local", "from_all": true, "level": "all"},
            "w1": {"ansible_connection": "local", "from_all": true, "http_port": 8080, "level": "web", "tier": "frontend"},
            "w2": {"ansible_connection": "local", "from_all": true, "level": "host_w2", "tier": "frontend"}
        }},
        "all": {"children": ["ungrouped", "servers"]},
        "db": {"hosts": ["d1"]},
        "servers": {"children": ["web", "db"]},
        "web": {"hosts": ["w1", "w2"]}
    });
    assert_eq!(v, expected);
}

#[test]
fn inventory_graph_matches_ansible() {
    let t = tempdir();
    let inv = fixture("inventories/groups/hosts");
    let r = kplay(
        t.path(),
        &["inventory", "-i", inv.to_str().unwrap(), "--graph"],
    );
    r.assert_exit(0);
    assert_eq!(
        r.stdout,
        "@all:\n  |--@ungrouped:\n  |--@servers:\n  |  |--@web:\n  |  |  |--w1\n  |  |  |--w2\n  |  |--@db:\n  |  |  |--d1\n"
    );
}

#[test]
fn plan_dot_emits_a_digraph_with_every_host_task_node() {
    let t = tempdir();
    write(
        t.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: first\n      command: echo 1\n    - name: second\n      command: echo 2\n",
    );
    local_inventory(t.path(), &["a", "b"]);
    let r = kplay(t.path(), &["plan", "pb.yml", "-i", "hosts", "--dot"]);
    r.assert_exit(0);
    let out = r.stdout.trim();
    assert!(out.starts_with("digraph"), "{out}");
    assert!(out.ends_with('}'), "{out}");
    assert!(out.contains("->"), "no edges: {out}");
    let node_lines = out
        .lines()
        .filter(|l| l.contains("[label=") && !l.contains("->"))
        .count();
    assert!(node_lines >= 4, "expected ≥ 4 host×task nodes: {out}");
    for needle in ["a\\nfirst", "b\\nfirst", "a\\nsecond", "b\\nsecond"] {
        assert!(out.contains(needle), "no node {needle} in {out}");
    }
    assert!(!t.path().join("a").exists());
}

#[test]
fn adhoc_ping_answers_pong() {
    let t = tempdir();
    local_inventory(t.path(), &["a", "b"]);
    let r = kplay(t.path(), &["adhoc", "all", "-i", "hosts", "-m", "ping"]);
    r.assert_exit(0);
    for h in ["a", "b"] {
        assert!(
            r.stdout.contains(&format!("{h} | SUCCESS => {{")),
            "{}",
            r.dump()
        );
    }
    assert_eq!(
        r.stdout.matches("\"ping\": \"pong\"").count(),
        2,
        "{}",
        r.dump()
    );
}

#[test]
fn adhoc_command_runs_with_args_and_pattern() {
    let t = tempdir();
    local_inventory(t.path(), &["a", "b"]);
    let target = t.path().join("adhoc_made");
    let arg = format!("touch {}", target.display());
    let r = kplay(
        t.path(),
        &["adhoc", "a", "-i", "hosts", "-m", "command", "-a", &arg],
    );
    r.assert_exit(0);
    assert!(target.exists());
    assert!(r.stdout.contains("a | CHANGED"), "{}", r.dump());
    assert!(!r.stdout.contains("b |"), "{}", r.dump());
}

// ---------------------------------------------------------------- --limit and -e

#[test]
fn limit_restricts_the_hosts_that_run() {
    let t = tempdir();
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - file: path=\"{{ dir }}/{{ inventory_hostname }}\" state=touch\n";
    let r = run_hosts(t.path(), &["a", "b", "c"], pb, &["--limit", "a:c"]);
    r.assert_exit(0);
    assert_eq!(r.recap().keys().collect::<Vec<_>>(), ["a", "c"]);
    assert!(t.path().join("a").exists() && t.path().join("c").exists());
    assert!(!t.path().join("b").exists());
}

#[test]
fn limit_with_exclusion_and_groups() {
    let t = tempdir();
    let inv = fixture("inventories/groups/hosts");
    write(
        t.path(),
        "pb.yml",
        "- hosts: servers\n  gather_facts: false\n  tasks:\n    - debug: msg=x\n",
    );
    let r = kplay(
        t.path(),
        &[
            "run",
            "pb.yml",
            "-i",
            inv.to_str().unwrap(),
            "--limit",
            "servers:!w1",
        ],
    );
    r.assert_exit(0);
    assert_eq!(r.recap().keys().collect::<Vec<_>>(), ["d1", "w2"]);
}

#[test]
fn extra_vars_in_kv_json_and_file_forms() {
    let t = tempdir();
    write(t.path(), "ev.yml", "from_file: filed\nnum: 7\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "{{ kv }} {{ js.n + 1 }} {{ from_file }} {{ num * 2 }}"
        dest: "{{ dir }}/out"
"#;
    let r = run_local(
        t.path(),
        pb,
        &[
            "-e",
            "kv=plain",
            "-e",
            "{\"js\": {\"n\": 41}}",
            "-e",
            "@ev.yml",
        ],
    );
    r.assert_exit(0);
    assert_eq!(read(&t.path().join("out")), "plain 42 filed 14");
}

// ---------------------------------------------------------------- kplay doc

#[test]
fn doc_copy_prints_every_option_from_the_spec() {
    let t = tempdir();
    let r = kplay(t.path(), &["doc", "copy"]);
    r.assert_exit(0);
    assert!(
        r.stdout.starts_with("> ANSIBLE.BUILTIN.COPY"),
        "{}",
        r.dump()
    );
    assert!(
        r.stdout.contains("Copy files to remote locations"),
        "{}",
        r.dump()
    );
    for needle in [
        "= dest\n",
        "- content\n",
        "- force\n",
        "aliases: [thirsty]",
        "default: true",
        "- mode\n",
        "type: path",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            r.dump()
        );
    }
    // The FQCN answers too, with the same text.
    let fq = kplay(t.path(), &["doc", "ansible.builtin.copy"]);
    assert_eq!(fq.stdout, r.stdout);
}

#[test]
fn doc_list_names_every_module_and_unknown_fails() {
    let t = tempdir();
    let r = kplay(t.path(), &["doc", "--list"]);
    r.assert_exit(0);
    for m in [
        "ansible.builtin.copy",
        "ansible.builtin.lineinfile",
        "ansible.builtin.systemd",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(m)),
            "{m}:\n{}",
            r.dump()
        );
    }
    let bad = kplay(t.path(), &["doc", "no_such_module"]);
    bad.assert_exit(1);
    assert!(bad.stderr.contains("no_such_module"), "{}", bad.dump());
}
