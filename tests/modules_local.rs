//! Every state-managing module through the real binary against local temp dirs: the first run makes
//! the change (and the files are right), the second run reports `changed=0`, and new files get
//! `0666 & ~umask` (directories `0777 & ~umask`) unless `mode` says otherwise.

mod common;

use common::*;
use std::fs;

/// Runs the playbook twice: asserts `changed=first_changed` on the first run and `changed=0` (with the
/// same `ok`) on the second.
fn assert_idempotent(dir: &std::path::Path, playbook: &str, tasks: u32, first_changed: u32) {
    let first = run_local(dir, playbook, &[]);
    first.assert_exit(0);
    let c1 = first.host("localhost");
    assert_eq!(c1.changed, first_changed, "first run\n{}", first.dump());
    assert_eq!(c1.ok, tasks, "first run ok count\n{}", first.dump());
    assert_eq!(c1.failed, 0);
    let second = run_local(dir, playbook, &[]);
    second.assert_exit(0);
    let c2 = second.host("localhost");
    assert_eq!(
        c2.changed,
        0,
        "second run must change nothing\n{}",
        second.dump()
    );
    assert_eq!(c2.ok, tasks, "second run ok count\n{}", second.dump());
}

#[test]
fn copy_content_changes_once_then_is_idempotent() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "hello\nworld\n"
        dest: "{{ dir }}/out/hello.txt"
    - copy:
        content: "second\n"
        dest: "{{ dir }}/second.txt"
        mode: "0600"
"#;
    fs::create_dir(t.path().join("out")).unwrap();
    assert_idempotent(t.path(), pb, 2, 2);
    assert_eq!(read(&t.path().join("out/hello.txt")), "hello\nworld\n");
    assert_eq!(read(&t.path().join("second.txt")), "second\n");
    assert_eq!(mode_of(&t.path().join("second.txt")), 0o600);
}

#[test]
fn copy_src_file_is_copied_and_then_idempotent() {
    let t = tempdir();
    write(t.path(), "files/payload.conf", "key = value\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        src: payload.conf
        dest: "{{ dir }}/payload.conf"
        mode: "0640"
"#;
    assert_idempotent(t.path(), pb, 1, 1);
    assert_eq!(read(&t.path().join("payload.conf")), "key = value\n");
    assert_eq!(mode_of(&t.path().join("payload.conf")), 0o640);
}

#[test]
fn copy_changes_mode_of_existing_file_with_same_content() {
    let t = tempdir();
    write(t.path(), "m.txt", "same\n");
    fs::set_permissions(
        t.path().join("m.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "same\n"
        dest: "{{ dir }}/m.txt"
        mode: "0750"
"#;
    assert_idempotent(t.path(), pb, 1, 1);
    assert_eq!(mode_of(&t.path().join("m.txt")), 0o750);
}

#[test]
fn template_renders_like_ansible_and_is_idempotent() {
    let t = tempdir();
    write(
        t.path(),
        "templates/app.conf.j2",
        "name={{ app_name }}\n{% for p in ports %}\nport={{ p }}\n{% endfor %}\nend\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    app_name: demo
    ports: [80, 443]
  tasks:
    - template:
        src: app.conf.j2
        dest: "{{ dir }}/app.conf"
"#;
    assert_idempotent(t.path(), pb, 1, 1);
    // trim_blocks on: the `{% for %}` lines leave no blank lines; the trailing newline is kept.
    assert_eq!(
        read(&t.path().join("app.conf")),
        "name=demo\nport=80\nport=443\nend\n"
    );
}

#[test]
fn file_directory_link_hard_absent_are_idempotent() {
    let t = tempdir();
    write(t.path(), "target.txt", "t\n");
    write(t.path(), "doomed.txt", "bye\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: path="{{ dir }}/d1/d2" state=directory
    - file: path="{{ dir }}/d3" state=directory mode=0700
    - file: src="{{ dir }}/target.txt" dest="{{ dir }}/soft" state=link
    - file: src="{{ dir }}/target.txt" dest="{{ dir }}/hard" state=hard
    - file: path="{{ dir }}/doomed.txt" state=absent
    - file: path="{{ dir }}/target.txt" mode="0600"
"#;
    assert_idempotent(t.path(), pb, 6, 6);
    let p = t.path();
    assert!(p.join("d1/d2").is_dir());
    assert_eq!(mode_of(&p.join("d3")), 0o700);
    assert_eq!(fs::read_link(p.join("soft")).unwrap(), p.join("target.txt"));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(p.join("hard")).unwrap().ino(),
        fs::metadata(p.join("target.txt")).unwrap().ino()
    );
    assert!(!p.join("doomed.txt").exists());
    assert_eq!(mode_of(&p.join("target.txt")), 0o600);
}

#[test]
fn file_touch_creates_with_umask_mode_and_always_reports_changed() {
    // Ansible: `state: touch` updates the times and reports changed on every run.
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: path="{{ dir }}/touched" state=touch
"#;
    for _ in 0..2 {
        let r = run_local(t.path(), pb, &[]);
        r.assert_exit(0);
        assert_eq!(r.host("localhost").changed, 1, "{}", r.dump());
    }
    assert_eq!(mode_of(&t.path().join("touched")), 0o666 & !current_umask());
}

#[test]
fn lineinfile_adds_and_replaces_once() {
    let t = tempdir();
    write(t.path(), "cfg", "# header\nport=1\nother=x\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - lineinfile: path="{{ dir }}/cfg" regexp="^port=" line="port=8080"
    - lineinfile: path="{{ dir }}/cfg" line="added=yes"
    - lineinfile: path="{{ dir }}/cfg" regexp="^other=" state=absent
    - lineinfile: path="{{ dir }}/new.cfg" line="fresh" create=true
"#;
    assert_idempotent(t.path(), pb, 4, 4);
    assert_eq!(
        read(&t.path().join("cfg")),
        "# header\nport=8080\nadded=yes\n"
    );
    assert_eq!(read(&t.path().join("new.cfg")), "fresh\n");
    assert_eq!(mode_of(&t.path().join("new.cfg")), 0o666 & !current_umask());
}

#[test]
fn blockinfile_inserts_and_updates_once() {
    let t = tempdir();
    write(t.path(), "cfg", "top\n");
    let pb = r##"
- hosts: all
  gather_facts: false
  tasks:
    - blockinfile:
        path: "{{ dir }}/cfg"
        block: |
          a=1
          b=2
    - blockinfile:
        path: "{{ dir }}/cfg"
        marker: "# {mark} CUSTOM"
        block: "c=3"
        insertbefore: BOF
"##;
    assert_idempotent(t.path(), pb, 2, 2);
    assert_eq!(
        read(&t.path().join("cfg")),
        "# BEGIN CUSTOM\nc=3\n# END CUSTOM\ntop\n# BEGIN ANSIBLE MANAGED BLOCK\na=1\nb=2\n# END ANSIBLE MANAGED BLOCK\n"
    );
}

#[test]
fn replace_rewrites_all_matches_with_backrefs_once() {
    let t = tempdir();
    write(
        t.path(),
        "hosts.txt",
        "10.0.0.1 alpha\n10.0.0.2 beta\nkeep me\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - replace:
        path: "{{ dir }}/hosts.txt"
        regexp: '^(10\.0\.0\.\d+) (\w+)$'
        replace: '\2 \1'
"#;
    assert_idempotent(t.path(), pb, 1, 1);
    assert_eq!(
        read(&t.path().join("hosts.txt")),
        "alpha 10.0.0.1\nbeta 10.0.0.2\nkeep me\n"
    );
}

#[test]
fn command_with_creates_runs_once() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: touch "{{ dir }}/marker"
      args:
        creates: "{{ dir }}/marker"
    - shell: echo run >> "{{ dir }}/log"
      args:
        creates: "{{ dir }}/log"
"#;
    assert_idempotent(t.path(), pb, 2, 2);
    assert!(t.path().join("marker").exists());
    assert_eq!(read(&t.path().join("log")), "run\n");
}

#[test]
fn command_with_removes_skips_when_path_is_absent() {
    let t = tempdir();
    write(t.path(), "gone", "x");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: rm "{{ dir }}/gone"
      args:
        removes: "{{ dir }}/gone"
"#;
    assert_idempotent(t.path(), pb, 1, 1);
    assert!(!t.path().join("gone").exists());
}

#[test]
fn new_files_get_umask_mode_and_explicit_mode_is_honoured() {
    let t = tempdir();
    write(t.path(), "t.j2", "x\n");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy: content="a" dest="{{ dir }}/copy_default"
    - copy: content="a" dest="{{ dir }}/copy_0600" mode=0600
    - copy: content="a" dest="{{ dir }}/copy_sym" mode="u=rw,g=r,o="
    - template: src=t.j2 dest="{{ dir }}/tmpl_default"
    - template: src=t.j2 dest="{{ dir }}/tmpl_0755" mode="0755"
    - file: path="{{ dir }}/dir_default" state=directory
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(r.host("localhost").changed, 6, "{}", r.dump());
    let umask = current_umask();
    let p = t.path();
    assert_eq!(mode_of(&p.join("copy_default")), 0o666 & !umask);
    assert_eq!(mode_of(&p.join("copy_0600")), 0o600);
    assert_eq!(mode_of(&p.join("copy_sym")), 0o640);
    assert_eq!(mode_of(&p.join("tmpl_default")), 0o666 & !umask);
    assert_eq!(mode_of(&p.join("tmpl_0755")), 0o755);
    assert_eq!(mode_of(&p.join("dir_default")), 0o777 & !umask);
}

#[test]
fn stat_reports_existing_file_to_a_registered_variable() {
    let t = tempdir();
    write(t.path(), "present", "12345");
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - stat: path="{{ dir }}/present"
      register: s
    - stat: path="{{ dir }}/absent"
      register: a
    - assert:
        that:
          - s.stat.exists
          - s.stat.size == 5
          - s.stat.isreg
          - not a.stat.exists
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(r.host("localhost").ok, 3, "{}", r.dump());
    assert_eq!(r.host("localhost").changed, 0);
}

#[test]
fn gather_facts_counts_as_one_ok_task() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  tasks:
    - assert:
        that:
          - ansible_facts is defined
          - ansible_hostname is defined
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    assert_eq!(r.host("localhost").ok, 2, "{}", r.dump());
}

/// File tasks on `-c local` run the agent's code in-process: no `stat`, `sha1sum`, `mv` … is
/// started. `kplay_agent=false` on the host turns that off (the sh path starts them), with the
/// same files as the result. Observed through logging wrappers placed first in PATH.
#[test]
fn file_tasks_start_no_programs_unless_kplay_agent_is_false() {
    let t = tempdir();
    let log = t.path().join("spawned.log");
    let bin = t.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    for tool in ["stat", "sha1sum", "mv", "chmod", "cat"] {
        let real = path
            .split(':')
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} not on PATH"));
        let wrapper = bin.join(tool);
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho {tool} >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: path="{{ dir }}/{{ v }}/d" state=directory mode=0750
    - copy: content="x\n" dest="{{ dir }}/{{ v }}/d/c.txt" mode=0600
    - lineinfile: path="{{ dir }}/{{ v }}/l.conf" line="a=1" create=true
    - stat: path="{{ dir }}/{{ v }}/d/c.txt"
      register: st
    - assert:
        that: st.stat.size == 2 and st.stat.mode == "0600"
"#;
    write(t.path(), "pb.yml", pb);
    let run = |inventory: &str, v: &str| {
        write(t.path(), "hosts", inventory);
        let dir = t.path().to_string_lossy().into_owned();
        let env_path = format!("{}:{path}", bin.display());
        let r = kplay_timeout_env(
            t.path(),
            &[
                "run",
                "pb.yml",
                "-i",
                "hosts",
                "-e",
                &format!("dir={dir} v={v}"),
            ],
            DEFAULT_TIMEOUT,
            &[("PATH", env_path.as_str())],
        );
        r.assert_exit(0);
        assert_eq!(r.host("localhost").changed, 3, "{}", r.dump());
    };
    run("localhost ansible_connection=local\n", "agent");
    assert!(
        !log.exists(),
        "the in-process path started programs: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    run(
        "localhost ansible_connection=local kplay_agent=false\n",
        "sh",
    );
    let spawned = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        spawned.contains("stat"),
        "the sh path must start stat: {spawned:?}"
    );
    for f in ["d", "d/c.txt", "l.conf"] {
        let (a, s) = (t.path().join("agent").join(f), t.path().join("sh").join(f));
        assert_eq!(mode_of(&a), mode_of(&s), "{f}");
        if a.is_file() {
            assert_eq!(read(&a), read(&s), "{f}");
        }
    }
}

#[test]
fn ini_file_sets_options_once_and_check_mode_writes_nothing() {
    let t = tempdir();
    write(
        t.path(),
        "app.ini",
        "[server]\nport = 80\n# host = example\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - community.general.ini_file:
        path: "{{ dir }}/app.ini"
        section: server
        option: port
        value: "8080"
    - ini_file:
        path: "{{ dir }}/app.ini"
        section: server
        option: host
        value: 0.0.0.0
        no_extra_spaces: true
    - ini_file:
        path: "{{ dir }}/new/extra.ini"
        section: extra
        option: debug
        value: "false"
        mode: "0640"
"#;
    let check = run_local(t.path(), pb, &["--check", "--diff"]);
    check.assert_exit(0);
    assert_eq!(check.host("localhost").changed, 3, "{}", check.dump());
    assert!(check.stdout.contains("+port = 8080"), "{}", check.dump());
    assert_eq!(
        read(&t.path().join("app.ini")),
        "[server]\nport = 80\n# host = example\n"
    );
    assert!(!t.path().join("new").exists());
    assert_idempotent(t.path(), pb, 3, 3);
    assert_eq!(
        read(&t.path().join("app.ini")),
        "[server]\nport = 8080\nhost=0.0.0.0\n"
    );
    assert_eq!(
        read(&t.path().join("new/extra.ini")),
        "\n[extra]\ndebug = false\n"
    );
    assert_eq!(mode_of(&t.path().join("new/extra.ini")), 0o640);
}

#[test]
fn library_modules_run_with_ansibles_protocol_and_native_modules_win() {
    if std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("SKIP: no python3");
        return;
    }
    let t = tempdir();
    write(
        t.path(),
        "library/greet.py",
        "#!/usr/bin/python\n# WANT_JSON\nimport json, sys\na = json.load(open(sys.argv[1]))\nprint(json.dumps({'changed': False, 'greeting': 'hello ' + a['name']}))\n",
    );
    // A library module named like a kplay module never runs: kplay's copy does.
    write(
        t.path(),
        "library/copy.py",
        "#!/usr/bin/python\n# WANT_JSON\nprint('{\"failed\": true, \"msg\": \"library copy ran\"}')\n",
    );
    write(
        t.path(),
        "roles/r/library/word.sh",
        "#!/bin/sh\n. \"$1\"\nprintf '{\"changed\": false, \"got\": \"%s\"}' \"$word\"\n",
    );
    write(
        t.path(),
        "roles/r/tasks/main.yml",
        "- word: {word: from-role}\n  register: w\n",
    );
    let pb = r#"
- hosts: all
  gather_facts: false
  roles: [r]
  tasks:
    - greet: {name: kplay}
      register: g
    - copy: {content: "x\n", dest: "{{ dir }}/out.txt"}
    - assert:
        that:
          - g.greeting == 'hello kplay'
          - w.got == 'from-role'
"#;
    let run = run_local(t.path(), pb, &[]);
    run.assert_exit(0);
    assert_eq!(read(&t.path().join("out.txt")), "x\n");
    let syntax = run_local(t.path(), pb, &["--syntax-check"]);
    syntax.assert_exit(0);
}
