//! `include_tasks` / `include_role`: load the file or role when the host reaches the include,
//! then run its tasks for this host with the include's parameters, keywords and blocks.

use super::outcome::Outcome;
use super::play::PlayRun;
use super::task::{IncludeCtx, TaskRun};
use crate::output::Event;
use crate::plan::{self, Leaf};
use crate::playbook::action::Action;
use crate::playbook::{LoadContext, RoleInstance, TaskItem};
use crate::value::{ansible_bool, to_display_string, Map, Value};
use std::sync::Arc;

/// What an include brought in.
struct Included {
    items: Vec<TaskItem>,
    handlers: Vec<TaskItem>,
    /// The file (or role) shown in `included: … for host`.
    label: String,
    role: Option<Arc<RoleInstance>>,
}

/// Include arguments that are not variables for the included tasks.
const INCLUDE_OPTIONS: &[&str] = &[
    "_raw_params",
    "file",
    "name",
    "apply",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "public",
    "allow_duplicates",
    "rolespec_validate",
];

impl PlayRun {
    /// Load now, run the included tasks for this host.
    pub(super) async fn include(self: &Arc<Self>, t: &TaskRun<'_>, args: Map) -> Outcome {
        let runner = &self.runner;
        let registry = runner.registry.clone();
        let templar = runner.templar.clone();
        let lctx = LoadContext::new(
            &registry,
            &templar,
            runner.opts.roles_path.clone(),
            (*runner.vars.extra).clone(),
        );
        let loaded = match t.leaf.task.kind {
            Action::IncludeRole => self.load_role(t.leaf, &args, &lctx),
            _ => self.load_task_file(t.leaf, &args, &lctx),
        };
        let inc = match loaded {
            Ok(i) => i,
            Err(msg) => return Outcome::failed(msg),
        };
        self.add_handlers(&inc.handlers);
        // `public: true`: the role's defaults and vars stay visible to the rest of the play.
        if let (Some(r), true) = (
            &inc.role,
            args.get("public").and_then(ansible_bool).unwrap_or(false),
        ) {
            let mut layers = (*runner.vars.current_play()).clone();
            layers.role_defaults.insert(0, r.defaults.clone());
            layers.role_vars.insert(0, r.vars.clone());
            runner.vars.set_play(layers);
        }
        let new_inc = include_ctx(t, &args);
        // Plan keywords of the included tasks (`run_once: "{{ x }}"`) see the including host.
        let ctx = t.scope.ctx();
        let leaves = plan::flatten_items(
            &inc.items,
            inheritance(t.leaf, &args),
            &runner.opts.tags,
            t.leaf.section,
            Some((&runner.templar, &ctx)),
        );
        runner.out.emit(&Event::Included {
            file: inc.label,
            host: t.host.clone(),
            id: super::slot::current(),
        });
        // ansible-core counts each included file as one `ok` for the host.
        runner.stat(&t.host, |s| s.ok += 1);
        for l in leaves {
            let l = Arc::new(l);
            self.run_leaf_on_host(t.h, &l, Some(&new_inc)).await;
            if self.hosts[t.h].lock().map(|hr| hr.done()).unwrap_or(true) {
                break;
            }
        }
        Outcome::uncounted()
    }

    /// `include_role`: the role's tasks and handlers (roles already run are known to it).
    fn load_role(&self, leaf: &Leaf, args: &Map, lctx: &LoadContext) -> Result<Included, String> {
        let Some(name) = args.get("name").and_then(Value::as_str) else {
            return Err("include_role needs 'name'".into());
        };
        let mut loader =
            crate::playbook::role::RoleLoader::new(lctx, &self.play.base_dir, &Map::new());
        let ran = self.ran_roles.lock().map(|r| r.clone()).unwrap_or_default();
        loader.set_seen(
            self.play
                .role_seen
                .iter()
                .filter(|(p, params, _)| ran.contains(&(p.clone(), params.clone())))
                .cloned()
                .collect(),
        );
        let files = crate::playbook::role::role_files(args);
        let l = loader
            .load_role(name, Map::new(), &leaf.task.span, &files, true)
            .map_err(|e| e.to_string())?;
        Ok(Included {
            items: l.tasks,
            handlers: l.handlers,
            label: name.to_string(),
            role: loader.instances().last().cloned(),
        })
    }

    /// `include_tasks`: the file's tasks.
    fn load_task_file(
        &self,
        leaf: &Leaf,
        args: &Map,
        lctx: &LoadContext,
    ) -> Result<Included, String> {
        use crate::playbook::load;
        let Some(file) =
            super::args::first_arg(args, &["_raw_params", "file"]).map(to_display_string)
        else {
            return Err("include_tasks needs a file name".into());
        };
        let Some(path) = load::resolve_task_file(&file, &leaf.task.ctx, &leaf.task.span) else {
            return Err(format!(
                "Could not find or access '{file}' on the Ansible Controller."
            ));
        };
        let extra = &self.runner.vars.extra;
        let loaded = load::load_single_doc(&path)
            .and_then(|doc| load::parse_task_list(Some(&doc), &leaf.task.ctx, lctx, extra));
        // ansible-core: a load error in an included file stops the run (exit 4).
        let items = loaded.map_err(|e| {
            self.runner.fail_load(e.to_string());
            e.to_string()
        })?;
        Ok(Included {
            items,
            handlers: vec![],
            label: path.display().to_string(),
            role: None,
        })
    }

    /// An included role's handlers join the play's (unless already there: the role may also
    /// be in `roles:`).
    fn add_handlers(&self, handlers: &[TaskItem]) {
        if handlers.is_empty() {
            return;
        }
        let flat = plan::flatten_items(
            handlers,
            plan::IncludeInheritance {
                keywords: Default::default(),
                tags: Default::default(),
                vars: vec![],
                when: vec![],
                blocks: vec![],
            },
            &plan::TagFilter::default(),
            plan::PlaySection::Handlers,
            None,
        );
        if let Ok(mut extra) = self.extra_handlers.lock() {
            let known: std::collections::HashSet<String> = extra
                .iter()
                .chain(self.plan.handlers.iter())
                .map(|l| format!("{}", l.task.span))
                .collect();
            extra.extend(
                flat.into_iter()
                    .filter(|l| !known.contains(&format!("{}", l.task.span)))
                    .map(Arc::new),
            );
        }
    }
}

/// Include params: the include's args (other than its options) plus the loop variable, over
/// the enclosing includes' params.
fn include_ctx(t: &TaskRun<'_>, args: &Map) -> IncludeCtx {
    let mut params: Map = args
        .iter()
        .filter(|(k, _)| !INCLUDE_OPTIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(Value::String(lv)) = t.scope.raw("ansible_loop_var") {
        if let Some(item) = t.scope.get_json(&lv) {
            params.insert(lv, item);
        }
    }
    let mut new_inc = t.inc.cloned().unwrap_or_else(|| IncludeCtx {
        root: super::once::leaf_key(t.leaf),
        ..Default::default()
    });
    new_inc.origin = format!(
        "{}>{}{}",
        new_inc.origin,
        t.leaf.task.span,
        serde_json::to_string(&params).unwrap_or_default()
    );
    new_inc.params.push(Arc::new(params));
    new_inc
}

/// Included tasks inherit the include's blocks, vars, keywords; `apply` adds keywords/tags.
fn inheritance(leaf: &Leaf, args: &Map) -> plan::IncludeInheritance {
    let mut kw = leaf.keywords.clone();
    let mut tags = if leaf.tags.contains("always") {
        leaf.tags.clone()
    } else {
        Default::default()
    };
    if let Some(Value::Object(apply)) = args.get("apply") {
        match apply.get("tags") {
            Some(Value::Array(a)) => tags.extend(a.iter().map(to_display_string)),
            Some(other) => tags.extend(
                to_display_string(other)
                    .split(',')
                    .map(|s| s.trim().to_string()),
            ),
            None => {}
        }
        if let Some(b) = apply.get("become") {
            kw.become_ = Some(b.clone());
        }
    }
    plan::IncludeInheritance {
        keywords: kw,
        tags,
        vars: leaf.vars.clone(),
        when: vec![],
        blocks: leaf.blocks.clone(),
    }
}
