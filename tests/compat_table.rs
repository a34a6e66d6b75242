//! README's "Compatibility with Ansible" table stays complete and true: every name in
//! ansible-core 2.18's builtin plugin lists (`ansible-doc -t module|filter|test|lookup|keyword
//! -l`: modules, lookups and keywords below, filters and tests from the engine's `fqcn` table)
//! and every module kplay carries is classified there, and every module the table calls
//! supported answers `kplay doc`.

mod common;

use common::*;
use std::collections::BTreeSet;

const MODULES: &[&str] = &[
    "add_host",
    "apt",
    "apt_key",
    "apt_repository",
    "assemble",
    "assert",
    "async_status",
    "blockinfile",
    "command",
    "copy",
    "cron",
    "deb822_repository",
    "debconf",
    "debug",
    "dnf",
    "dnf5",
    "dpkg_selections",
    "expect",
    "fail",
    "fetch",
    "file",
    "find",
    "gather_facts",
    "get_url",
    "getent",
    "git",
    "group",
    "group_by",
    "hostname",
    "import_playbook",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "iptables",
    "known_hosts",
    "lineinfile",
    "meta",
    "mount_facts",
    "package",
    "package_facts",
    "pause",
    "ping",
    "pip",
    "raw",
    "reboot",
    "replace",
    "rpm_key",
    "script",
    "service",
    "service_facts",
    "set_fact",
    "set_stats",
    "setup",
    "shell",
    "slurp",
    "stat",
    "subversion",
    "systemd",
    "systemd_service",
    "sysvinit",
    "tempfile",
    "template",
    "unarchive",
    "uri",
    "user",
    "validate_argument_spec",
    "wait_for",
    "wait_for_connection",
    "yum_repository",
];
use kplay_engine::template::fqcn::{FILTERS, TESTS};
const LOOKUPS: &[&str] = &[
    "config",
    "csvfile",
    "dict",
    "env",
    "file",
    "fileglob",
    "first_found",
    "indexed_items",
    "ini",
    "inventory_hostnames",
    "items",
    "lines",
    "list",
    "nested",
    "password",
    "pipe",
    "random_choice",
    "sequence",
    "subelements",
    "template",
    "together",
    "unvault",
    "url",
    "varnames",
    "vars",
];
const KEYWORDS: &[&str] = &[
    "accelerate",
    "accelerate_ipv6",
    "accelerate_port",
    "action",
    "always",
    "any_errors_fatal",
    "args",
    "async",
    "become",
    "become_exe",
    "become_flags",
    "become_method",
    "become_user",
    "block",
    "changed_when",
    "check_mode",
    "collections",
    "connection",
    "debugger",
    "delay",
    "delegate_facts",
    "delegate_to",
    "diff",
    "environment",
    "fact_path",
    "failed_when",
    "force_handlers",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "handlers",
    "hosts",
    "ignore_errors",
    "ignore_unreachable",
    "loop",
    "loop_control",
    "max_fail_percentage",
    "module_defaults",
    "name",
    "no_log",
    "notify",
    "order",
    "poll",
    "port",
    "post_tasks",
    "pre_tasks",
    "register",
    "remote_user",
    "rescue",
    "retries",
    "roles",
    "run_once",
    "serial",
    "strategy",
    "tags",
    "tasks",
    "throttle",
    "timeout",
    "until",
    "vars",
    "vars_files",
    "vars_prompt",
    "when",
];
/// Actions the engine carries out itself (not in `kplay doc --list`).
const ENGINE_ACTIONS: &[&str] = &[
    "include_tasks",
    "import_tasks",
    "include_role",
    "import_role",
    "import_playbook",
    "meta",
    "add_host",
    "group_by",
    "pause",
    "async_status",
    "set_stats",
    "validate_argument_spec",
];

/// The table's rows: (kind, [supported, partial, not planned]).
fn table() -> Vec<(String, [String; 3])> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    let start = readme
        .find("## Compatibility with Ansible")
        .unwrap_or_else(|| panic!("README.md has no '## Compatibility with Ansible' section"));
    let section = &readme[start..];
    let end = section[3..]
        .find("\n## ")
        .map(|i| i + 3)
        .unwrap_or(section.len());
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| kind"))
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().to_string()).collect();
            assert!(cells.len() >= 6, "a row needs four cells: {l}");
            (
                cells[1].clone(),
                [cells[2].clone(), cells[3].clone(), cells[4].clone()],
            )
        })
        .collect()
}

/// The names a cell mentions (identifiers, `with_<lookup>` kept whole).
fn words(cell: &str) -> BTreeSet<String> {
    cell.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|w| {
            w.trim_matches('.')
                .rsplit('.')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn classified(rows: &[(String, [String; 3])], kind: &str) -> BTreeSet<String> {
    rows.iter()
        .filter(|(k, _)| k.starts_with(kind))
        .flat_map(|(_, cells)| cells.iter().flat_map(|c| words(c)))
        .collect()
}

fn kplay_modules() -> Vec<String> {
    let t = tempdir();
    let r = kplay(t.path(), &["doc", "--list"]);
    assert_eq!(r.code, Some(0), "kplay doc --list\n{}", r.stderr);
    r.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.rsplit('.').next().unwrap_or(n).to_string())
        .collect()
}

#[test]
fn every_ansible_core_builtin_and_every_kplay_module_is_classified() {
    let rows = table();
    let mut missing = Vec::new();
    for (kind, names) in [
        ("modules", MODULES),
        ("filters", FILTERS),
        ("tests", TESTS),
        ("lookups", LOOKUPS),
        ("play and task keywords", KEYWORDS),
    ] {
        let known = classified(&rows, kind);
        missing.extend(
            names
                .iter()
                .filter(|n| !known.contains(**n))
                .map(|n| format!("{kind}: {n}")),
        );
    }
    let modules = classified(&rows, "modules");
    missing.extend(
        kplay_modules()
            .into_iter()
            .filter(|m| !modules.contains(m))
            .map(|m| format!("modules: {m} (kplay carries it)")),
    );
    assert!(
        missing.is_empty(),
        "not in README's compatibility table:\n{}",
        missing.join("\n")
    );
}

#[test]
fn modules_the_table_calls_supported_exist() {
    let carried: BTreeSet<String> = kplay_modules().into_iter().collect();
    let t = tempdir();
    let mut absent = Vec::new();
    for (kind, cells) in table().iter().filter(|(k, _)| k.starts_with("modules")) {
        for name in words(&cells[0]) {
            if carried.contains(&name) || ENGINE_ACTIONS.contains(&name.as_str()) {
                continue;
            }
            let r = kplay(t.path(), &["doc", &name]);
            if r.code != Some(0) {
                absent.push(format!("{kind}: {name}"));
            }
        }
    }
    assert!(
        absent.is_empty(),
        "marked supported but unknown to kplay:\n{}",
        absent.join("\n")
    );
}
