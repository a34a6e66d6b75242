//! Ansible's keyword lists: anything else on a task is its action (module), and anything else on
//! a play or block is an error naming the key.

pub const TASK_KEYWORDS: &[&str] = &[
    "action", "any_errors_fatal", "args", "async", "become", "become_exe", "become_flags", "become_method",
    "become_user", "changed_when", "check_mode", "collections", "connection", "debugger", "delay",
    "delegate_facts", "delegate_to", "diff", "environment", "failed_when", "ignore_errors",
    "ignore_unreachable", "local_action", "loop", "loop_control", "module_defaults", "name", "no_log",
    "notify", "poll", "port", "register", "remote_user", "retries", "run_once", "tags", "throttle",
    "timeout", "until", "vars", "when", "listen",
];

pub const BLOCK_KEYWORDS: &[&str] = &[
    "block", "rescue", "always", "name", "any_errors_fatal", "become", "become_exe", "become_flags",
    "become_method", "become_user", "check_mode", "collections", "connection", "debugger",
    "delegate_facts", "delegate_to", "diff", "environment", "ignore_errors", "ignore_unreachable",
    "module_defaults", "no_log", "port", "remote_user", "run_once", "tags", "throttle", "timeout", "vars",
    "when", "notify",
];

pub const PLAY_KEYWORDS: &[&str] = &[
    "hosts", "name", "gather_facts", "gather_subset", "gather_timeout", "vars", "vars_files",
    "vars_prompt", "pre_tasks", "roles", "tasks", "post_tasks", "handlers", "become", "become_exe",
    "become_flags", "become_method", "become_user", "check_mode", "collections", "connection",
    "debugger", "diff", "environment", "fact_path", "force_handlers", "ignore_errors",
    "ignore_unreachable", "max_fail_percentage", "module_defaults", "no_log", "order", "port",
    "remote_user", "run_once", "serial", "strategy", "tags", "throttle", "timeout", "any_errors_fatal",
];

/// Keywords allowed on a `roles:` entry besides the role name and its params.
pub const ROLE_ENTRY_KEYWORDS: &[&str] = &[
    "role", "name", "when", "tags", "vars", "become", "become_user", "become_method", "become_flags",
    "become_exe", "connection", "remote_user", "check_mode", "diff", "environment", "ignore_errors",
    "ignore_unreachable", "no_log", "any_errors_fatal", "run_once", "delegate_to", "delegate_facts",
    "module_defaults", "collections", "debugger", "port", "throttle", "timeout",
];

/// Actions the engine carries out itself: they change the run, not a host.
pub const ENGINE_ACTIONS: &[&str] = &[
    "include_tasks", "import_tasks", "include_role", "import_role", "include", "meta", "add_host",
    "group_by", "import_playbook", "set_stats", "pause",
];

/// Strip `ansible.builtin.` / `ansible.legacy.` so engine actions match by short name.
pub fn short_action(action: &str) -> &str {
    action
        .strip_prefix("ansible.builtin.")
        .or_else(|| action.strip_prefix("ansible.legacy."))
        .unwrap_or(action)
}

pub fn is_engine_action(action: &str) -> bool {
    ENGINE_ACTIONS.contains(&short_action(action))
}
