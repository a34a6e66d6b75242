//! The playbook as a typed model with spans: plays, blocks, tasks, roles, handlers.
//!
//! Loading resolves everything static (imports, roles, vars file names) so that load errors
//! stop the run before any host is touched. Anything that needs host variables (dynamic
//! includes, loops, conditions) stays raw (`Value`) and is rendered by the executor.

pub mod action;
pub mod checks;
pub mod keywords;
pub mod kv;
pub mod load;
pub mod role;
pub mod syntax;

use crate::span::Span;
use crate::value::{Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

pub use load::{load_playbook, load_playbook_text, LoadContext};

/// Keywords that blocks, tasks, roles and plays share, and that children inherit.
#[derive(Clone, Debug, Default)]
pub struct Inherited {
    pub become_: Option<Value>,
    pub become_user: Option<Value>,
    pub become_method: Option<Value>,
    pub become_flags: Option<Value>,
    pub become_exe: Option<Value>,
    pub connection: Option<Value>,
    pub remote_user: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    pub no_log: Option<Value>,
    pub any_errors_fatal: Option<Value>,
    pub run_once: Option<Value>,
    pub delegate_to: Option<Value>,
    pub delegate_facts: Option<Value>,
    pub throttle: Option<Value>,
    /// `timeout: N`: the task fails (and its commands are stopped) after N seconds.
    pub timeout: Option<Value>,
    /// `port`: the connection port when the host sets no `ansible_port`.
    pub port: Option<Value>,
    /// Environment layers, outermost first (play, block, task).
    pub environment: Vec<Value>,
    /// `module_defaults` layers, outermost first: default arguments per module name.
    pub module_defaults: Vec<Value>,
}

impl Inherited {
    /// `child` keywords win over `self`'s; environment layers accumulate.
    pub fn overlay(&self, child: &Inherited) -> Inherited {
        fn pick(p: &Option<Value>, c: &Option<Value>) -> Option<Value> {
            c.clone().or_else(|| p.clone())
        }
        let mut environment = self.environment.clone();
        environment.extend(child.environment.iter().cloned());
        let mut module_defaults = self.module_defaults.clone();
        module_defaults.extend(child.module_defaults.iter().cloned());
        Inherited {
            become_: pick(&self.become_, &child.become_),
            become_user: pick(&self.become_user, &child.become_user),
            become_method: pick(&self.become_method, &child.become_method),
            become_flags: pick(&self.become_flags, &child.become_flags),
            become_exe: pick(&self.become_exe, &child.become_exe),
            connection: pick(&self.connection, &child.connection),
            remote_user: pick(&self.remote_user, &child.remote_user),
            check_mode: pick(&self.check_mode, &child.check_mode),
            diff: pick(&self.diff, &child.diff),
            ignore_errors: pick(&self.ignore_errors, &child.ignore_errors),
            ignore_unreachable: pick(&self.ignore_unreachable, &child.ignore_unreachable),
            no_log: pick(&self.no_log, &child.no_log),
            any_errors_fatal: pick(&self.any_errors_fatal, &child.any_errors_fatal),
            run_once: pick(&self.run_once, &child.run_once),
            delegate_to: pick(&self.delegate_to, &child.delegate_to),
            delegate_facts: pick(&self.delegate_facts, &child.delegate_facts),
            throttle: pick(&self.throttle, &child.throttle),
            timeout: pick(&self.timeout, &child.timeout),
            port: pick(&self.port, &child.port),
            environment,
            module_defaults,
        }
    }
}

/// A role as it was loaded for one use in a play.
#[derive(Debug)]
pub struct RoleInstance {
    pub name: String,
    pub path: PathBuf,
    /// `defaults/main.yml` (lowest precedence of all).
    pub defaults: Arc<Map>,
    /// `vars/main.yml`.
    pub vars: Arc<Map>,
    /// Role params (`- role: x` with extra keys, or `vars:` on the role entry).
    pub params: Arc<Map>,
}

/// Where a task sits: its role and the chain of enclosing blocks (outermost first).
#[derive(Clone, Debug, Default)]
pub struct TaskContext {
    pub role: Option<Arc<RoleInstance>>,
    /// Directory for relative `files/`, `templates/`, `vars/` lookups after the role's own.
    pub base_dir: PathBuf,
}

/// One task as written, after static resolution.
#[derive(Debug)]
pub struct Task {
    pub name: Option<String>,
    pub span: Span,
    /// The module or engine action name as written (`copy`, `ansible.builtin.copy`, `include_tasks`).
    pub action: String,
    /// What the action is, resolved from `action` at load time.
    pub kind: action::Action,
    /// Arguments, raw (templated at run time). Free-form text is under `_raw_params`.
    pub args: Map,
    pub when: Vec<(Value, Span)>,
    pub tags: BTreeSet<String>,
    pub vars: Arc<Map>,
    pub register: Option<String>,
    pub loop_: Option<LoopSpec>,
    pub loop_control: Option<Value>,
    pub notify: Vec<String>,
    pub listen: Vec<String>,
    pub changed_when: Vec<Value>,
    pub failed_when: Vec<Value>,
    pub until: Vec<Value>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    /// `async: N`: run as a background job for at most N seconds.
    pub async_: Option<Value>,
    /// `poll: N` (with `async`): check the job every N seconds; 0 leaves it running.
    pub poll: Option<Value>,
    pub keywords: Inherited,
    pub ctx: TaskContext,
}

impl Task {
    /// A task kplay adds itself (fact gathering, a role's argument validation): tagged
    /// `always` like ansible-core's implicit tasks, with no conditions, loop or handlers.
    pub fn implicit(
        name: &str,
        span: Span,
        action: &str,
        kind: action::Action,
        args: Map,
        keywords: Inherited,
        ctx: TaskContext,
    ) -> Task {
        Task {
            name: Some(name.to_string()),
            span,
            action: action.to_string(),
            kind,
            args,
            when: vec![],
            tags: ["always".to_string()].into_iter().collect(),
            vars: Arc::new(Map::new()),
            register: None,
            loop_: None,
            loop_control: None,
            notify: vec![],
            listen: vec![],
            changed_when: vec![],
            failed_when: vec![],
            until: vec![],
            retries: None,
            delay: None,
            async_: None,
            poll: None,
            keywords,
            ctx,
        }
    }
}

/// `loop:` or `with_<lookup>:`.
#[derive(Clone, Debug)]
pub struct LoopSpec {
    /// `loop` or the lookup name of `with_<name>`.
    pub kind: String,
    pub value: Value,
}

/// Which part of a block a task is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Block,
    Rescue,
    Always,
}

#[derive(Debug)]
pub struct Block {
    pub id: usize,
    pub name: Option<String>,
    pub span: Span,
    pub block: Vec<TaskItem>,
    pub rescue: Vec<TaskItem>,
    pub always: Vec<TaskItem>,
    pub when: Vec<(Value, Span)>,
    pub tags: BTreeSet<String>,
    pub vars: Arc<Map>,
    pub keywords: Inherited,
}

#[derive(Debug)]
pub enum TaskItem {
    Task(Arc<Task>),
    Block(Arc<Block>),
}

/// One `vars_prompt` entry: a variable asked of the user when the play starts.
#[derive(Clone, Debug)]
pub struct VarsPrompt {
    pub name: String,
    pub prompt: String,
    pub default: Option<Value>,
    /// Input not echoed (Ansible's default).
    pub private: bool,
    /// Asked twice; both answers must match.
    pub confirm: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct Play {
    pub name: String,
    pub span: Span,
    pub hosts: Value,
    pub gather_facts: Option<Value>,
    pub gather_subset: Option<Value>,
    pub vars: Arc<Map>,
    /// `vars_files` entries, raw (names may be templates); a list entry means "first found".
    pub vars_files: Vec<(Value, Span)>,
    pub pre_tasks: Vec<TaskItem>,
    /// `roles:` expanded to their tasks (each wrapped in a block carrying the role's `when`/`tags`).
    pub roles: Vec<TaskItem>,
    pub tasks: Vec<TaskItem>,
    pub post_tasks: Vec<TaskItem>,
    pub handlers: Vec<TaskItem>,
    pub role_instances: Vec<Arc<RoleInstance>>,
    /// Roles the play already loaded (path, params, files): `include_role` dependencies that
    /// match one are not run again.
    pub role_seen: Vec<(PathBuf, String, String)>,
    pub tags: BTreeSet<String>,
    pub keywords: Inherited,
    pub strategy: Option<String>,
    pub serial: Option<Value>,
    pub force_handlers: Option<Value>,
    pub max_fail_percentage: Option<Value>,
    pub order: Option<String>,
    pub base_dir: PathBuf,
    pub vars_prompt: Vec<VarsPrompt>,
    /// `gather_timeout`: seconds fact gathering may take.
    pub gather_timeout: Option<Value>,
    /// `fact_path`: where `ansible_local` facts are read on the hosts.
    pub fact_path: Option<Value>,
}

#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Arc<Play>>,
}

#[cfg(test)]
pub(crate) mod tests;
