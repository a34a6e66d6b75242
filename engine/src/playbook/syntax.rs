//! `--syntax-check` that reports everything: the whole tree is loaded (plays, roles, static
//! imports, and the dynamic includes whose file names resolve without facts), every problem is
//! collected with file:line instead of stopping at the first, and each task's arguments are
//! checked against its module's declared spec by a caller-given checker (the engine knows no
//! module's spec).

use super::action::Action;
use super::load::{
    load_single_doc, parse_task_list, resolve_task_file, static_render, LoadContext, ARGS_EXPR,
};
use super::role::{role_files, RoleLoader};
use super::{Playbook, Task, TaskItem};
use crate::error::LoadError;
use crate::module::ModuleRegistry;
use crate::template::Templar;
use crate::value::{Map, Value};
use std::collections::HashSet;
use std::path::PathBuf;

/// Checks one task's arguments against its module's spec: `Some(message)` when they are wrong.
pub type ArgChecker<'c> = dyn Fn(&str, &Map) -> Option<String> + 'c;

/// Dynamic includes followed this deep at most (an include of itself ends here).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Loads `paths` as `--syntax-check` does and returns every problem found, in the order found
/// (an empty list: the tree is clean).
pub fn syntax_check(
    paths: &[PathBuf],
    registry: &ModuleRegistry,
    roles_path: &[PathBuf],
    extra_vars: &Map,
    check_args: &ArgChecker<'_>,
) -> Vec<LoadError> {
    let templar = Templar::new();
    let lctx =
        LoadContext::new(registry, &templar, roles_path.to_vec(), extra_vars.clone()).collecting();
    let mut walker = Walker {
        lctx: &lctx,
        check_args,
        errors: Vec::new(),
        included: HashSet::new(),
    };
    for p in paths {
        match super::load_playbook(p, &lctx) {
            Ok(pb) => walker.playbook(&pb),
            Err(e) => walker.errors.push(e),
        }
    }
    let mut all = lctx.take_errors();
    all.append(&mut walker.errors);
    all.extend(lctx.take_errors());
    let mut seen = HashSet::new();
    all.retain(|e| seen.insert(e.to_string()));
    all
}

struct Walker<'l, 'a, 'c> {
    lctx: &'l LoadContext<'a>,
    check_args: &'c ArgChecker<'c>,
    errors: Vec<LoadError>,
    /// Files and roles already followed through a dynamic include.
    included: HashSet<String>,
}

impl Walker<'_, '_, '_> {
    fn playbook(&mut self, pb: &Playbook) {
        for play in &pb.plays {
            for section in [
                &play.pre_tasks,
                &play.roles,
                &play.tasks,
                &play.post_tasks,
                &play.handlers,
            ] {
                self.items(section, &play.vars, 0);
            }
        }
    }

    fn items(&mut self, items: &[TaskItem], vars: &Map, depth: usize) {
        for item in items {
            match item {
                TaskItem::Block(b) => {
                    let mut vars = vars.clone();
                    vars.extend(b.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
                    for list in [&b.block, &b.rescue, &b.always] {
                        self.items(list, &vars, depth);
                    }
                }
                TaskItem::Task(t) => self.task(t, vars, depth),
            }
        }
    }

    fn task(&mut self, t: &Task, vars: &Map, depth: usize) {
        if !t.kind.is_engine() && !t.args.contains_key(ARGS_EXPR) {
            if let Some(msg) = (self.check_args)(&t.action, &t.args) {
                self.errors.push(LoadError::at(&t.span, msg));
            }
        }
        if depth >= MAX_INCLUDE_DEPTH || !t.kind.is_include() {
            return;
        }
        let mut vars = vars.clone();
        vars.extend(t.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        if t.kind == Action::IncludeRole {
            self.include_role(t, &vars, depth);
            return;
        }
        let Some(file) = t
            .args
            .get("_raw_params")
            .or_else(|| t.args.get("file"))
            .and_then(Value::as_str)
        else {
            return;
        };
        // A name that needs facts or host variables is left to run time.
        let Ok(file) = static_render(file, &t.span, self.lctx, &vars) else {
            return;
        };
        // A variable holding a template of its own is rendered again at run time.
        if Templar::is_template(&file) {
            return;
        }
        let Some(path) = resolve_task_file(&file, &t.ctx, &t.span) else {
            self.errors.push(LoadError::at(
                &t.span,
                format!("include_tasks: could not find or access '{file}'"),
            ));
            return;
        };
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !self.included.insert(canonical.display().to_string()) {
            return;
        }
        let items = load_single_doc(&path)
            .and_then(|doc| parse_task_list(Some(&doc), &t.ctx, self.lctx, &vars));
        match items {
            Ok(items) => self.items(&items, &vars, depth + 1),
            Err(e) => self.errors.push(e),
        }
    }

    fn include_role(&mut self, t: &Task, vars: &Map, depth: usize) {
        let Some(name) = t.args.get("name").and_then(Value::as_str) else {
            return;
        };
        let Ok(name) = static_render(name, &t.span, self.lctx, vars) else {
            return;
        };
        if Templar::is_template(&name) {
            return;
        }
        let files = role_files(&t.args);
        if !self.included.insert(format!("role {name} {files:?}")) {
            return;
        }
        let mut loader = RoleLoader::new(self.lctx, &t.ctx.base_dir, vars);
        match loader.load_role(&name, Map::new(), &t.span, &files, true) {
            Ok(role) => {
                self.items(&role.tasks, vars, depth + 1);
                self.items(&role.handlers, vars, depth + 1);
            }
            Err(e) => self.errors.push(e),
        }
    }
}
