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

/// Writes a file owner-only (mode 0600) many times, on the agent path and the sh path, while
/// the second user opens every file that appears in the directory. Before the fix the temp file
/// was created 0644 and only chmod'ed after the content was in: the watcher kept it open.
#[test]
fn files_being_written_are_never_open_to_another_user() {
    if !second_user::root_or_skip("temp_files_owner_only") {
        return;
    }
    let t = tempdir();
    second_user::open_to_others(t.path(), 0o755);
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    second_user::open_to_others(&out, 0o755);
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "{{ 'secret-' * 200000 }}"
        dest: "{{ dir }}/out/secret{{ item }}"
        mode: "0600"
      loop: "{{ range(8) | list }}"
"#;
    for no_agent in [false, true] {
        let watcher = second_user::Watcher::start(&out, |dir, c| {
            let p = dir.join(&c.name);
            // Opening is enough: an open descriptor reads whatever is written later.
            let f = fs::File::open(&p).ok()?;
            let mut head = [0u8; 6];
            let _ = std::io::Read::read(&mut &f, &mut head);
            Some(format!("{} ({:?})", c.name, String::from_utf8_lossy(&head)))
        });
        write(t.path(), "pb.yml", pb);
        local_inventory(t.path(), &["localhost"]);
        let dir_var = format!("dir={}", t.path().display());
        let env: &[(&str, &str)] = if no_agent {
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
        let opened = watcher.finish();
        r.assert_exit(0);
        assert!(
            opened.is_empty(),
            "another user opened files while kplay wrote them (no_agent={no_agent}): {opened:?}"
        );
        for i in 0..8 {
            let p = out.join(format!("secret{i}"));
            assert_eq!(mode_of(&p), 0o600);
            fs::remove_file(p).unwrap();
        }
    }
}

/// The agent makes a directory in one the second user owns, who swaps each new directory
/// for a symlink to a root-only file as soon as it appears. Before the fix the agent set the
/// mode by name after making it, through the link, on the victim.
#[test]
fn new_directories_are_never_swapped_for_links() {
    directories_swapped_for_links(&[]);
}

/// The same race on the sh path (hosts without the agent): `mkdir` then fixing attributes by
/// name followed the link; the mode now goes to `mkdir -m` and owner/group use `-h`.
#[test]
fn new_directories_are_never_swapped_for_links_on_the_sh_path() {
    directories_swapped_for_links(&["-e", "kplay_agent=false"]);
}

fn directories_swapped_for_links(extra: &[&str]) {
    if !second_user::root_or_skip("mkdir_no_follow") {
        return;
    }
    let (uid, gid) = second_user::ids();
    let t = tempdir();
    second_user::open_to_others(t.path(), 0o755);
    let theirs = t.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(uid), Some(gid)).unwrap();
    let victim = t.path().join("victim");
    fs::write(&victim, "root only\n").unwrap();
    second_user::open_to_others(&victim, 0o600);
    let target = victim.clone();
    let watcher = second_user::Watcher::start(&theirs, move |dir, c| {
        if !c.is_dir || !c.name.starts_with('d') {
            return None;
        }
        let p = dir.join(&c.name);
        fs::rename(&p, dir.join(format!("moved-{}", c.name))).ok()?;
        std::os::unix::fs::symlink(&target, &p).ok()?;
        Some(c.name.clone())
    });
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - file:
        path: "{{ dir }}/theirs/d{{ item }}"
        state: directory
        owner: root
        group: root
        mode: "0777"
      loop: "{{ range(40) | list }}"
      ignore_errors: true
"#;
    let r = run_local(t.path(), pb, extra);
    let swapped = watcher.finish();
    r.assert_exit(0);
    eprintln!("the second user swapped {} directories", swapped.len());
    assert_eq!(
        mode_of(&victim),
        0o600,
        "kplay changed the mode of a file it was never asked to touch\n{}",
        r.dump()
    );
}

/// Runs kplay to the end and returns its exit code and peak RSS in MB (wait4's rusage of
/// that one child).
// The child is reaped by wait4 (which also reports its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run_measured(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, u64, String) {
    use std::process::{Command, Stdio};
    let child = Command::new(kplay_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", dir.join("no-such-ansible.cfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning kplay");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 / 1024, format!("{args:?}"))
}

/// A 128 MB controller file copied, and a `--diff` against a 400 MB destination: kplay's
/// memory must not grow with the file (before the fix a 275 MB copy peaked at 843 MB RSS and
/// a diff onto 1.5 GB at 1554 MB; after, both stay at 17 MB).
#[test]
fn large_copies_and_diffs_run_in_bounded_memory() {
    let t = tempdir();
    let big = t.path().join("files/big.bin");
    fs::create_dir_all(big.parent().unwrap()).unwrap();
    // Sparse: no disk for the source, but every byte is read.
    fs::File::create(&big).unwrap().set_len(128 << 20).unwrap();
    let huge = t.path().join("huge.bin");
    fs::File::create(&huge).unwrap().set_len(400 << 20).unwrap();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        src: big.bin
        dest: "{{ dir }}/copied.bin"
      when: case == 'copy'
    - copy:
        content: "small\n"
        dest: "{{ dir }}/huge.bin"
      check_mode: true
      diff: true
      when: case == 'diff'
"#;
    write(t.path(), "pb.yml", pb);
    local_inventory(t.path(), &["localhost"]);
    let dir_var = format!("dir={}", t.path().display());
    let mut seen = Vec::new();
    for no_agent in ["0", "1"] {
        for case in ["copy", "diff"] {
            let _ = fs::remove_file(t.path().join("copied.bin"));
            let case_var = format!("case={case}");
            let env: &[(&str, &str)] = if no_agent == "1" {
                &[("KPLAY_NO_AGENT", "1")]
            } else {
                &[]
            };
            let args = [
                "run", "pb.yml", "-i", "hosts", "-e", &dir_var, "-e", &case_var,
            ];
            let (code, mb, what) = run_measured(t.path(), &args, env);
            assert_eq!(code, 0, "{what} failed");
            seen.push(format!("{case} no_agent={no_agent}: {mb} MB"));
            if case == "copy" {
                assert_eq!(
                    fs::metadata(t.path().join("copied.bin")).unwrap().len(),
                    128 << 20
                );
            }
        }
    }
    eprintln!("peak RSS: {seen:?}");
    for s in &seen {
        let mb: u64 = s
            .rsplit(": ")
            .next()
            .and_then(|m| m.trim_end_matches(" MB").parse().ok())
            .unwrap_or(u64::MAX);
        assert!(mb < 100, "kplay's memory grew with the file: {seen:?}");
    }
}

/// `no_log` hides a result everywhere it could appear: the retry line at `-v`, a flag rendered
/// from the loop item or from task vars, and (fail safe) a flag that cannot be rendered; on the
/// console and in `--output json`.
#[test]
fn no_log_hides_results_in_every_scope_and_fails_safe() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: retried
      shell: echo SECRET-RETRY
      register: r
      until: r.rc == 42
      retries: 1
      delay: 0
      no_log: true
      ignore_errors: true
    - name: per item
      debug:
        msg: "{{ item.secret }}"
      no_log: "{{ item.hide }}"
      loop:
        - {hide: true, secret: SECRET-ITEM}
    - name: task vars
      vars:
        hide_it: true
      debug:
        msg: SECRET-TASKVAR
      no_log: "{{ hide_it }}"
    - name: undefined flag
      debug:
        msg: SECRET-UNDEFINED
      no_log: "{{ no_such_variable }}"
    - name: shown
      debug:
        msg: VISIBLE-MARKER
      no_log: "{{ item }}"
      loop: [false]
"#;
    for extra in [&["-v"][..], &["--output", "json"][..]] {
        let r = run_local(t.path(), pb, extra);
        r.assert_exit(0);
        let all = format!("{}{}", r.stdout, r.stderr);
        for s in [
            "SECRET-RETRY",
            "SECRET-ITEM",
            "SECRET-TASKVAR",
            "SECRET-UNDEFINED",
        ] {
            assert!(!all.contains(s), "{s} leaked with {extra:?}\n{}", r.dump());
        }
        assert!(all.contains("VISIBLE-MARKER"), "{}", r.dump());
    }
}

/// `-K` on a terminal: the password is read with echo off, so it never appears in what the
/// terminal shows (before, it was read with a plain `read_line`, echo on).
#[test]
fn ask_become_pass_does_not_echo_the_password() {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let t = tempdir();
    write(
        t.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=done-here\n",
    );
    local_inventory(t.path(), &["localhost"]);
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors this test then owns.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut cmd = Command::new(kplay_bin());
    cmd.args(["run", "pb.yml", "-i", "hosts", "-K"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", t.path().join("no-such-ansible.cfg"))
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawning kplay on a pty");
    // Every copy of the terminal's other end must go, or reading ours never ends.
    drop(cmd);
    drop(slave);
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let sink = screen.clone();
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let shown = |s: &str| String::from_utf8_lossy(&screen.lock().unwrap()).contains(s);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shown("BECOME password:") {
        assert!(Instant::now() < deadline, "no prompt");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give kplay the time to turn echo off (it prints the prompt first).
    let echo_off = || {
        // SAFETY: termios of our own pty.
        let mut tio: libc::termios = unsafe { std::mem::zeroed() };
        unsafe { libc::tcgetattr(std::os::fd::AsRawFd::as_raw_fd(&master), &mut tio) };
        tio.c_lflag & libc::ECHO == 0
    };
    let wait_echo = Instant::now() + Duration::from_secs(3);
    while !echo_off() && Instant::now() < wait_echo {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut w = std::fs::File::from(master.try_clone().unwrap());
    w.write_all(b"Hunter2-typed-pw\n").unwrap();
    let status = child.wait().unwrap();
    drop(master);
    drop(w);
    let _ = pump.join();
    let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    assert!(status.success(), "{text}");
    assert!(text.contains("done-here"), "{text}");
    assert!(
        !text.contains("Hunter2"),
        "the password was echoed:\n{text}"
    );
}

/// `-K` without a terminal reads standard input, and says so.
#[test]
fn ask_become_pass_without_a_terminal_says_where_it_reads() {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let t = tempdir();
    write(
        t.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=done-here\n",
    );
    local_inventory(t.path(), &["localhost"]);
    let mut cmd = Command::new(kplay_bin());
    cmd.args(["run", "pb.yml", "-i", "hosts", "-K"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", t.path().join("no-such-ansible.cfg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // No controlling terminal, whatever the test runner has.
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped-pw\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("standard input"), "{err}");
    assert!(!err.contains("piped-pw"));
}

/// A module name is data: backticks in it were executed by the read step's grep (as root,
/// even under `--check`).
#[test]
fn modprobe_name_never_runs_as_code() {
    let t = tempdir();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - modprobe:
        name: "x`id>PWNED`$(id>PWNED2)"
        state: present
      ignore_errors: true
"#;
    let r = run_local(t.path(), pb, &["--check"]);
    r.assert_no_panic();
    assert!(
        !t.path().join("PWNED").exists() && !t.path().join("PWNED2").exists(),
        "the module name ran as a command\n{}",
        r.dump()
    );
}

/// `[web` alone in an INI inventory is refused with exit 4 naming file and line (it was read as
/// a host called `[web`).
#[test]
fn ini_section_header_without_its_bracket_is_a_load_error() {
    let t = tempdir();
    write(t.path(), "hosts", "[web\nw1 ansible_connection=local\n");
    let r = kplay(t.path(), &["inventory", "-i", "hosts", "--list"]);
    r.assert_exit(4);
    assert!(r.stderr.contains("hosts:1"), "{}", r.dump());
}

/// `apt: deb:` uploads the package for root to install (here through sudo, whose upload
/// renames with `mv`). The second user watches the shared temp
/// directory and, for every name kplay creates there, makes a directory of that name plus
/// `.deb` (the upload's old destination, which root then moved its file into). The upload must
/// land only in a private directory of kplay's own.
#[test]
fn apt_deb_upload_never_lands_where_another_user_can_reach() {
    if !second_user::root_or_skip("apt_deb_private_upload") {
        return;
    }
    if !std::path::Path::new("/usr/bin/dpkg-deb").exists()
        || !std::path::Path::new("/usr/bin/sudo").exists()
    {
        eprintln!("SKIP: dpkg-deb or sudo is not installed");
        return;
    }
    let (uid, _) = second_user::ids();
    let t = tempdir();
    second_user::open_to_others(t.path(), 0o755);
    // sudo resets TMPDIR: the upload goes to the machine's shared /tmp, watched there (only
    // kplay's own names are claimed, and every claim is removed afterwards).
    let shared = std::path::PathBuf::from("/tmp");
    let pkg = t.path().join("pkg");
    write(
        &pkg,
        "DEBIAN/control",
        "Package: kplay-sec-dummy\nVersion: 1.0\nArchitecture: all\nMaintainer: kplay <kplay@localhost>\nDescription: test\n",
    );
    fs::create_dir_all(t.path().join("files")).unwrap();
    let built = std::process::Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&pkg)
        .arg(t.path().join("files/dummy.deb"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let watcher = second_user::Watcher::start(&shared, |dir, c| {
        if !c.name.starts_with(".kplay-") || c.name.ends_with(".deb") {
            return None;
        }
        let claim = dir.join(format!("{}.deb", c.name));
        fs::create_dir(&claim).ok()?;
        second_user::open_to_others(&claim, 0o777);
        Some(claim.to_string_lossy().into_owned())
    });
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - apt:
        deb: dummy.deb
      become: true
      ignore_errors: true
"#;
    let r = run_local(t.path(), pb, &["--check"]);
    let claimed = watcher.finish();
    let mut landed = Vec::new();
    for c in &claimed {
        let p = std::path::Path::new(c);
        if let Ok(md) = fs::symlink_metadata(p) {
            if md.is_dir() && std::os::unix::fs::MetadataExt::uid(&md) == uid {
                for e in fs::read_dir(p).unwrap().flatten() {
                    landed.push(e.path());
                }
            }
        }
        let _ = fs::remove_dir_all(p);
    }
    r.assert_exit(0);
    assert!(
        landed.is_empty(),
        "root's upload landed in directories the second user owns: {landed:?}\n{}",
        r.dump()
    );
}

/// `helm_repository`'s password goes to helm on stdin (`--password-stdin`), never into argv,
/// where every user of the host reads it in `ps`.
#[test]
fn helm_repository_password_never_reaches_argv() {
    let t = tempdir();
    let helm = t.path().join("helm");
    fs::write(
        &helm,
        "#!/bin/sh\ncase \"$2\" in\n  list) echo 'no repositories to show'; exit 1;;\n  add) echo \"$*\" > \"$(dirname \"$0\")/args\"; cat > \"$(dirname \"$0\")/stdin\";;\nesac\n",
    )
    .unwrap();
    fs::set_permissions(&helm, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - kubernetes.core.helm_repository:
        name: r
        url: http://repo.example/charts
        username: u
        password: s3cret-pw
        binary_path: "{{ dir }}/helm"
"#;
    let r = run_local(t.path(), pb, &[]);
    r.assert_exit(0);
    let args = fs::read_to_string(t.path().join("args")).unwrap();
    assert!(!args.contains("s3cret-pw"), "password in argv: {args}");
    assert!(args.contains("--password-stdin"), "{args}");
    assert_eq!(
        fs::read_to_string(t.path().join("stdin")).unwrap().trim(),
        "s3cret-pw"
    );
    assert!(
        !r.stdout.contains("s3cret-pw") && !r.stderr.contains("s3cret-pw"),
        "{}",
        r.dump()
    );
}
