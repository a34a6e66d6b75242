//! Hostile input is refused with exit 4 in bounded time and without a panic: binary garbage,
//! 20,000-deep nesting, YAML alias bombs, a multi-megabyte single line.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// Every hostile case must be refused well within this.
const BOUND: Duration = Duration::from_secs(20);

/// Writes `content` as the playbook and runs it against a local inventory; asserts exit 4, no panic,
/// bounded time, and that nothing ran.
fn assert_refused(dir: &Path, playbook_file: &str, content: &[u8]) -> Run {
    std::fs::write(dir.join(playbook_file), content).expect("writing the hostile playbook");
    local_inventory(dir, &["localhost"]);
    let r = kplay_timeout(dir, &["run", playbook_file, "-i", "hosts"], BOUND);
    assert!(!r.timed_out, "kplay did not finish within {BOUND:?}");
    r.assert_no_panic();
    r.assert_exit(4);
    assert!(!r.stdout.contains("TASK ["), "tasks ran\n{}", r.dump());
    assert!(!r.stderr.trim().is_empty(), "refused without saying why");
    r
}

#[test]
fn binary_garbage_playbook_is_refused() {
    let t = tempdir();
    // A deterministic pseudo-random byte soup including NULs and invalid UTF-8.
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect();
    assert_refused(t.path(), "garbage.yml", &bytes);
}

#[test]
fn invalid_utf8_playbook_is_refused() {
    let t = tempdir();
    let mut content = b"- hosts: all\n  tasks:\n    - debug: msg=\"".to_vec();
    content.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    content.extend_from_slice(b"\"\n");
    assert_refused(t.path(), "pb.yml", &content);
}

#[test]
fn deep_flow_nesting_is_refused() {
    let t = tempdir();
    let depth = 20_000;
    let content = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_refused(t.path(), "deep.yml", content.as_bytes());
}

#[test]
fn deep_mapping_nesting_inside_a_play_is_refused() {
    let t = tempdir();
    let depth = 20_000;
    let mut content = String::from("- hosts: all\n  vars:\n    x: ");
    content.push_str(&"{a: ".repeat(depth));
    content.push('1');
    content.push_str(&"}".repeat(depth));
    content.push_str("\n  tasks: []\n");
    assert_refused(t.path(), "deep.yml", content.as_bytes());
}

#[test]
fn deep_block_indentation_is_refused() {
    let t = tempdir();
    // Indentation grows quadratically with depth: 3,000 levels is already a 4.5 MB file.
    let depth = 3_000;
    let mut content = String::new();
    for i in 0..depth {
        content.push_str(&" ".repeat(i));
        content.push_str("-\n");
    }
    assert_refused(t.path(), "deep.yml", content.as_bytes());
}

#[test]
fn yaml_alias_bomb_is_refused() {
    let t = tempdir();
    // Billion laughs: 9 levels of 9 references each expand to 9^9 ≈ 387 million leaves.
    let mut content = String::from("- hosts: all\n  vars:\n    l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*l{p}"); 9].join(",");
        content.push_str(&format!("    l{i}: &l{i} [{refs}]\n"));
    }
    content.push_str("  tasks:\n    - debug: var=l9\n");
    assert_refused(t.path(), "bomb.yml", content.as_bytes());
}

#[test]
fn alias_bomb_in_a_vars_file_is_refused() {
    let t = tempdir();
    let mut vars = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        vars.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    write(t.path(), "bomb_vars.yml", &vars);
    let pb = "- hosts: all\n  gather_facts: false\n  vars_files: [bomb_vars.yml]\n  tasks:\n    - debug: msg=hi\n";
    assert_refused(t.path(), "pb.yml", pb.as_bytes());
}

#[test]
fn huge_single_line_is_refused() {
    let t = tempdir();
    // ~4 MB on one line: a plain scalar that is not a valid playbook (a play must be a mapping).
    let content = "x".repeat(4 * 1024 * 1024);
    assert_refused(t.path(), "huge.yml", content.as_bytes());
}

#[test]
fn huge_single_line_unterminated_string_is_refused() {
    let t = tempdir();
    let mut content = String::from("- hosts: all\n  tasks:\n    - debug:\n        msg: \"");
    content.push_str(&"y".repeat(4 * 1024 * 1024));
    content.push('\n');
    assert_refused(t.path(), "huge.yml", content.as_bytes());
}

#[test]
fn garbage_inventory_is_refused() {
    let t = tempdir();
    write(
        t.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n",
    );
    let bytes: Vec<u8> = (0u32..20_000).map(|i| (i * 7919 % 256) as u8).collect();
    std::fs::write(t.path().join("inv.bin"), bytes).unwrap();
    let r = kplay_timeout(t.path(), &["run", "pb.yml", "-i", "inv.bin"], BOUND);
    assert!(!r.timed_out);
    r.assert_no_panic().assert_exit(4);
    assert!(!r.stdout.contains("TASK ["), "{}", r.dump());
}
