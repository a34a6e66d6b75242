//! Ansible's keyword lists: anything else on a task is its action (module), and anything else on
//! a play or block is an error naming the key.

/// The keywords every play, block, task and `roles:` entry takes (Ansible's `Base` attributes
/// with `tags` and `collections`): kept once so the four lists cannot drift apart.
pub const BASE_KEYWORDS: &[&str] = &[
    "any_errors_fatal",
    "become",
    "become_exe",
    "become_flags",
    "become_method",
    "become_user",
    "check_mode",
    "collections",
    "connection",
    "debugger",
    "diff",
    "environment",
    "ignore_errors",
    "ignore_unreachable",
    "module_defaults",
    "name",
    "no_log",
    "port",
    "remote_user",
    "run_once",
    "tags",
    "throttle",
    "timeout",
    "vars",
];

/// One object's keywords: [`BASE_KEYWORDS`] plus its own.
#[derive(Debug, Clone, Copy)]
pub struct Keywords(&'static [&'static str]);

impl Keywords {
    /// True when `key` is a keyword of this object.
    pub fn contains(&self, key: &str) -> bool {
        BASE_KEYWORDS.contains(&key) || self.0.contains(&key)
    }
}

/// Keywords of a task (and a handler: `listen`).
pub const TASK_KEYWORDS: Keywords = Keywords(&[
    "action",
    "args",
    "async",
    "changed_when",
    "delay",
    "delegate_facts",
    "delegate_to",
    "failed_when",
    "local_action",
    "loop",
    "loop_control",
    "notify",
    "poll",
    "register",
    "retries",
    "until",
    "when",
    "listen",
]);

/// Keywords of a block.
pub const BLOCK_KEYWORDS: Keywords = Keywords(&[
    "block",
    "rescue",
    "always",
    "delegate_facts",
    "delegate_to",
    "when",
    "notify",
]);

/// Keywords of a play.
pub const PLAY_KEYWORDS: Keywords = Keywords(&[
    "hosts",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "vars_files",
    "vars_prompt",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "fact_path",
    "force_handlers",
    "max_fail_percentage",
    "order",
    "serial",
    "strategy",
]);

/// Keywords allowed on a `roles:` entry besides the role name and its params.
pub const ROLE_ENTRY_KEYWORDS: Keywords =
    Keywords(&["role", "when", "delegate_to", "delegate_facts"]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_keywords_belong_to_every_object_and_own_ones_to_theirs_only() {
        for kw in [
            TASK_KEYWORDS,
            BLOCK_KEYWORDS,
            PLAY_KEYWORDS,
            ROLE_ENTRY_KEYWORDS,
        ] {
            assert!(kw.contains("become_user"));
            assert!(kw.contains("tags"));
            assert!(!kw.contains("not_a_keyword"));
        }
        assert!(TASK_KEYWORDS.contains("register"));
        assert!(!PLAY_KEYWORDS.contains("register"));
        assert!(PLAY_KEYWORDS.contains("hosts"));
        assert!(!TASK_KEYWORDS.contains("hosts"));
        assert!(BLOCK_KEYWORDS.contains("rescue"));
        assert!(ROLE_ENTRY_KEYWORDS.contains("role"));
        assert!(!ROLE_ENTRY_KEYWORDS.contains("notify"));
    }
}
