//! What a task does, resolved once when the playbook is loaded: the executor dispatches on
//! [`Action`] and never matches action names again.

/// A task's action. Engine actions change the run (its hosts, its task list, its state);
/// everything else is a module from the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A module; the kind says what the engine does with its result.
    Module(ModuleKind),
    /// `include_tasks` (and the old `include`): loaded when a host reaches it.
    IncludeTasks,
    IncludeRole,
    /// Resolved at load time into the tasks they bring in; never executed.
    ImportTasks,
    ImportRole,
    ImportPlaybook,
    Meta,
    AddHost,
    GroupBy,
    /// Runs once for the whole batch, like `run_once`.
    Pause,
    SetStats,
    /// `validate_argument_spec` (also a role's implicit first task): checked by the engine,
    /// which has the task's variables.
    ValidateArgSpec,
}

/// Modules whose results the engine treats specially.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    Plain,
    /// Its `ansible_facts` go to the `set_fact` layer.
    SetFact,
    /// Its `ansible_facts` go to the `include_vars` layer.
    IncludeVars,
    /// `debug`/`assert`: the result is shown at any verbosity.
    Report,
    /// `async_status`: answered from the run's job table.
    AsyncStatus,
}

impl Action {
    /// The action a task names (`copy`, `ansible.builtin.include_tasks` …).
    pub fn resolve(name: &str) -> Action {
        use ModuleKind::*;
        match short_name(name) {
            "include_tasks" | "include" => Action::IncludeTasks,
            "include_role" => Action::IncludeRole,
            "import_tasks" => Action::ImportTasks,
            "import_role" => Action::ImportRole,
            "import_playbook" => Action::ImportPlaybook,
            "meta" => Action::Meta,
            "add_host" => Action::AddHost,
            "group_by" => Action::GroupBy,
            "pause" => Action::Pause,
            "set_stats" => Action::SetStats,
            "validate_argument_spec" => Action::ValidateArgSpec,
            "set_fact" => Action::Module(SetFact),
            "include_vars" => Action::Module(IncludeVars),
            "debug" | "assert" => Action::Module(Report),
            "async_status" => Action::Module(AsyncStatus),
            _ => Action::Module(Plain),
        }
    }

    /// Carried out by the engine, so no registry module is needed for it.
    pub fn is_engine(self) -> bool {
        !matches!(
            self,
            Action::Module(ModuleKind::Plain | ModuleKind::SetFact)
                | Action::Module(ModuleKind::IncludeVars | ModuleKind::Report)
        )
    }

    /// Engine actions taking a free-form string (`include_tasks: file.yml`, `meta: noop`).
    pub fn free_form(self) -> bool {
        matches!(
            self,
            Action::IncludeTasks
                | Action::ImportTasks
                | Action::Meta
                | Action::Module(ModuleKind::IncludeVars)
        )
    }

    /// Included at run time: the include itself is not counted in the recap.
    pub fn is_include(self) -> bool {
        matches!(self, Action::IncludeTasks | Action::IncludeRole)
    }
}

/// Strip `ansible.builtin.` / `ansible.legacy.` so actions match by short name.
pub fn short_name(action: &str) -> &str {
    action
        .strip_prefix("ansible.builtin.")
        .or_else(|| action.strip_prefix("ansible.legacy."))
        .unwrap_or(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_with_or_without_their_collection() {
        assert_eq!(Action::resolve("include_tasks"), Action::IncludeTasks);
        assert_eq!(
            Action::resolve("ansible.builtin.include"),
            Action::IncludeTasks
        );
        assert_eq!(Action::resolve("ansible.legacy.meta"), Action::Meta);
        assert_eq!(
            Action::resolve("ansible.builtin.set_fact"),
            Action::Module(ModuleKind::SetFact)
        );
        assert_eq!(
            Action::resolve("community.general.meta"),
            Action::Module(ModuleKind::Plain)
        );
        assert_eq!(Action::resolve("copy"), Action::Module(ModuleKind::Plain));
    }

    #[test]
    fn engine_actions_need_no_module() {
        for a in [
            "pause",
            "set_stats",
            "add_host",
            "group_by",
            "async_status",
            "validate_argument_spec",
        ] {
            assert!(Action::resolve(a).is_engine(), "{a}");
        }
        for a in ["copy", "set_fact", "debug", "include_vars"] {
            assert!(!Action::resolve(a).is_engine(), "{a}");
        }
    }
}
