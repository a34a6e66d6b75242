//! Roles: find them, load defaults/vars/meta/tasks/handlers, expand dependencies, deduplicate.

use super::load::{
    load_single_doc, parse_inherited, parse_tags, parse_task_list, parse_when, static_render,
    LoadContext,
};
use super::{Block, RoleInstance, Task, TaskContext, TaskItem};
use crate::error::LoadError;
use crate::span::Span;
use crate::value::{Map, Value};
use crate::yaml::{Node, NodeKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Default)]
pub struct LoadedRole {
    pub tasks: Vec<TaskItem>,
    pub handlers: Vec<TaskItem>,
}

/// Which files of a role to use (`tasks_from` …).
#[derive(Clone, Debug, Default)]
pub struct RoleFiles {
    pub tasks_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
    pub handlers_from: Option<String>,
    /// `rolespec_validate: false`: no implicit argument validation task.
    pub no_validate: bool,
}

pub struct RoleLoader<'a, 'b> {
    lctx: &'b LoadContext<'a>,
    base_dir: PathBuf,
    static_vars: Map,
    seen: Vec<(PathBuf, String, String)>,
    instances: Vec<Arc<RoleInstance>>,
    depth: usize,
    /// While a role's `dependencies` load: the directory holding that role, where Ansible
    /// also looks for them (kubespray: `policy_controller/calico` beside `policy_controller`).
    dep_basedirs: Vec<PathBuf>,
    /// The role params of the `roles:` entry being loaded (what its argument spec checks
    /// besides variables); taken by [`RoleLoader::load_role`].
    provided: Option<Map>,
}

const ROLE_ENTRY_KEYS: super::keywords::Keywords = super::keywords::ROLE_ENTRY_KEYWORDS;

impl<'a, 'b> RoleLoader<'a, 'b> {
    pub fn new(lctx: &'b LoadContext<'a>, base_dir: &Path, static_vars: &Map) -> Self {
        RoleLoader {
            lctx,
            base_dir: base_dir.to_path_buf(),
            static_vars: static_vars.clone(),
            seen: vec![],
            instances: vec![],
            depth: 0,
            dep_basedirs: vec![],
            provided: None,
        }
    }

    pub fn instances(&self) -> Vec<Arc<RoleInstance>> {
        self.instances.clone()
    }

    /// Roles already loaded (path, params, files), for deduplicating dependencies of roles
    /// included later in the same play.
    pub fn seen(&self) -> Vec<(PathBuf, String, String)> {
        self.seen.clone()
    }

    pub fn set_seen(&mut self, seen: Vec<(PathBuf, String, String)>) {
        self.seen = seen;
    }

    /// Role directories in Ansible's search order: `roles/` beside the playbook, `roles_path`,
    /// then the playbook directory itself.
    pub fn find_role(&self, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.is_dir().then(|| p.to_path_buf());
        }
        let mut candidates = vec![self.base_dir.join("roles").join(name)];
        candidates.extend(self.lctx.roles_path.iter().map(|d| d.join(name)));
        if let Some(d) = self.dep_basedirs.last() {
            candidates.push(d.join(name));
        }
        candidates.push(self.base_dir.join(name));
        // A role named with a collection prefix (ns.coll.role) falls back to its last part.
        if let Some(short) = name.rsplit('.').next().filter(|s| *s != name) {
            candidates.push(self.base_dir.join("roles").join(short));
            candidates.extend(self.lctx.roles_path.iter().map(|d| d.join(short)));
        }
        // Absolute, as ansible-core gives `role_path` and the role's file names.
        candidates
            .into_iter()
            .find(|c| {
                c.join("tasks").is_dir()
                    || c.join("meta").is_dir()
                    || c.join("defaults").is_dir()
                    || c.join("handlers").is_dir()
            })
            .map(|c| std::fs::canonicalize(&c).unwrap_or(c))
    }

    /// One entry of `roles:` (a name, or a mapping with `role:` plus keywords and params).
    pub fn load_entry(&mut self, entry: &Node) -> Result<LoadedRole, LoadError> {
        let (name, params, when, tags, vars, kw, span) = match &entry.kind {
            NodeKind::Str(s) => (
                s.clone(),
                Map::new(),
                vec![],
                Default::default(),
                Arc::new(Map::new()),
                Default::default(),
                entry.span.clone(),
            ),
            NodeKind::Map(pairs) => {
                let name_node =
                    entry
                        .get("role")
                        .or_else(|| entry.get("name"))
                        .ok_or_else(|| {
                            LoadError::at(&entry.span, "a role entry needs 'role' (or 'name')")
                        })?;
                let mut params = Map::new();
                for (k, v) in pairs {
                    let key = k.key_string();
                    if !ROLE_ENTRY_KEYS.contains(&key) {
                        params.insert(key, v.to_value());
                    }
                }
                let vars = super::load::parse_vars(entry.get("vars"))?;
                (
                    name_node.key_string(),
                    params,
                    parse_when(entry.get("when")),
                    parse_tags(entry.get("tags"))?,
                    vars,
                    parse_inherited(entry),
                    name_node.span.clone(),
                )
            }
            _ => {
                return Err(LoadError::at(
                    &entry.span,
                    "a role entry must be a name or a mapping",
                ))
            }
        };
        let name = static_render(&name, &span, self.lctx, &self.static_vars)?;
        let mut all_params = (*vars).clone();
        all_params.extend(params.clone());
        self.provided = Some(params);
        let loaded = self.load_role(&name, all_params, &span, &RoleFiles::default(), false)?;
        let wrapper = Block {
            id: self.lctx.block_id(),
            name: None,
            span: span.clone(),
            block: loaded.tasks,
            rescue: vec![],
            always: vec![],
            when,
            tags,
            vars: Arc::new(Map::new()),
            keywords: kw,
        };
        Ok(LoadedRole {
            tasks: vec![TaskItem::Block(Arc::new(wrapper))],
            handlers: loaded.handlers,
        })
    }

    /// `import_role` as a task: the role's tasks now, wrapped in a block carrying the task's
    /// `when`/`tags`/keywords. Its handlers join the play's handlers.
    pub fn import_role(&mut self, task: Task, span: &Span) -> Result<TaskItem, LoadError> {
        let name = task
            .args
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| LoadError::at(span, "import_role needs 'name'"))?;
        let name = static_render(name, span, self.lctx, &self.static_vars)?;
        let files = role_files(&task.args);
        let allow_dup = task
            .args
            .get("allow_duplicates")
            .and_then(crate::value::ansible_bool)
            .unwrap_or(true);
        let loaded = self.load_role(&name, (*task.vars).clone(), span, &files, allow_dup)?;
        self.lctx
            .pending_handlers
            .lock()
            .map_err(|_| LoadError::Other("lock poisoned".into()))?
            .extend(loaded.handlers);
        self.lctx
            .pending_roles
            .lock()
            .map_err(|_| LoadError::Other("lock poisoned".into()))?
            .extend(self.instances.iter().cloned());
        Ok(TaskItem::Block(Arc::new(Block {
            id: self.lctx.block_id(),
            name: task.name.clone(),
            span: task.span.clone(),
            block: loaded.tasks,
            rescue: vec![],
            always: vec![],
            when: task.when,
            tags: task.tags,
            vars: Arc::new(Map::new()),
            keywords: task.keywords,
        })))
    }

    /// Load one role (dependencies first). `params` become role params.
    pub fn load_role(
        &mut self,
        name: &str,
        params: Map,
        span: &Span,
        files: &RoleFiles,
        force_dup: bool,
    ) -> Result<LoadedRole, LoadError> {
        let provided = self.provided.take().unwrap_or_default();
        self.depth += 1;
        if self.depth > 32 {
            return Err(LoadError::at(
                span,
                format!("role '{name}': dependencies nested too deeply (a cycle?)"),
            ));
        }
        let path = self.find_role(name).ok_or_else(|| {
            LoadError::at(
                span,
                format!("the role '{name}' was not found in {}", self.search_list()),
            )
        })?;
        let meta = load_optional(&path.join("meta"), "main")?;
        if !self.first_use(&path, meta.as_ref(), &params, files, force_dup) {
            self.depth -= 1;
            return Ok(LoadedRole::default());
        }
        let first_dep = self.instances.len();
        let mut loaded = self.load_dependencies(&path, meta.as_ref())?;
        let instance = self.role_instance(name, &path, params, files, first_dep)?;
        let ctx = TaskContext {
            role: Some(instance),
            base_dir: path.clone(),
        };
        let tasks_file = files.tasks_from.as_deref().unwrap_or("main");
        if !files.no_validate {
            let specs = crate::argspec::role::role_specs(&path, meta.as_ref())?;
            let check =
                crate::argspec::role::validation_task(&specs, tasks_file, &ctx, &provided, span);
            loaded
                .tasks
                .extend(check.map(|t| TaskItem::Task(Arc::new(t))));
        }
        let own = self.role_task_files(name, files, &ctx, span)?;
        loaded.tasks.extend(own.tasks);
        loaded.handlers.extend(own.handlers);
        self.depth -= 1;
        Ok(loaded)
    }

    /// False when this role was already loaded with the same parameters and files and does not
    /// allow duplicates (`allow_duplicates` in its meta, or `force_dup`): ansible-core runs it once.
    fn first_use(
        &mut self,
        path: &Path,
        meta: Option<&Node>,
        params: &Map,
        files: &RoleFiles,
        force_dup: bool,
    ) -> bool {
        let allow_dup = force_dup
            || meta
                .and_then(|m| m.get("allow_duplicates"))
                .map(|n| crate::value::ansible_bool(&n.to_value()).unwrap_or(false))
                .unwrap_or(false);
        let key = (
            path.to_path_buf(),
            serde_json::to_string(params).unwrap_or_default(),
            format!("{files:?}"),
        );
        if !allow_dup && self.seen.contains(&key) {
            return false;
        }
        self.seen.push(key);
        true
    }

    /// The roles of meta's `dependencies`, loaded in order before the role itself.
    fn load_dependencies(
        &mut self,
        path: &Path,
        meta: Option<&Node>,
    ) -> Result<LoadedRole, LoadError> {
        let mut loaded = LoadedRole::default();
        let Some(deps) = meta
            .and_then(|m| m.get("dependencies"))
            .and_then(Node::as_seq)
        else {
            return Ok(loaded);
        };
        self.dep_basedirs
            .push(path.parent().map(Path::to_path_buf).unwrap_or_default());
        let mut result = Ok(());
        for dep in deps {
            match self.load_entry(dep) {
                Ok(l) => {
                    loaded.tasks.extend(l.tasks);
                    loaded.handlers.extend(l.handlers);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.dep_basedirs.pop();
        result.map(|()| loaded)
    }

    /// The role's instance: its defaults and vars over those of the dependencies loaded since
    /// `first_dep`, as ansible-core's `get_default_vars`/`get_vars` (a role sees what its
    /// dependencies define: kubespray's `network_plugin/calico` reads `calico_defaults`' defaults).
    fn role_instance(
        &mut self,
        name: &str,
        path: &Path,
        params: Map,
        files: &RoleFiles,
        first_dep: usize,
    ) -> Result<Arc<RoleInstance>, LoadError> {
        let (mut defaults, mut vars) = (Map::new(), Map::new());
        for dep in &self.instances[first_dep..] {
            defaults.extend(dep.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
            vars.extend(dep.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        defaults.extend(load_vars_map(
            &path.join("defaults"),
            files.defaults_from.as_deref().unwrap_or("main"),
        )?);
        vars.extend(load_vars_map(
            &path.join("vars"),
            files.vars_from.as_deref().unwrap_or("main"),
        )?);
        let instance = Arc::new(RoleInstance {
            name: name.to_string(),
            path: path.to_path_buf(),
            defaults: Arc::new(defaults),
            vars: Arc::new(vars),
            params: Arc::new(params),
        });
        self.instances.push(instance.clone());
        Ok(instance)
    }

    /// The role's own `tasks/` and `handlers/` files (`tasks_from`, `handlers_from`); a named
    /// tasks file that does not exist is an error, a missing `main` is an empty role.
    fn role_task_files(
        &mut self,
        name: &str,
        files: &RoleFiles,
        ctx: &TaskContext,
        span: &Span,
    ) -> Result<LoadedRole, LoadError> {
        let path = &ctx.base_dir;
        let mut loaded = LoadedRole::default();
        let tasks_file = files.tasks_from.as_deref().unwrap_or("main");
        if let Some(doc) = load_optional(&path.join("tasks"), tasks_file)? {
            loaded.tasks = parse_task_list(Some(&doc), ctx, self.lctx, &self.static_vars)?;
        } else if files.tasks_from.is_some() {
            return Err(LoadError::at(
                span,
                format!(
                    "role '{name}': tasks file '{tasks_file}' not found in {}",
                    path.join("tasks").display()
                ),
            ));
        }
        let handlers_file = files.handlers_from.as_deref().unwrap_or("main");
        if let Some(doc) = load_optional(&path.join("handlers"), handlers_file)? {
            loaded.handlers = parse_task_list(Some(&doc), ctx, self.lctx, &self.static_vars)?;
        }
        Ok(loaded)
    }

    fn search_list(&self) -> String {
        let mut v = vec![self.base_dir.join("roles").display().to_string()];
        v.extend(self.lctx.roles_path.iter().map(|p| p.display().to_string()));
        v.push(self.base_dir.display().to_string());
        v.join(", ")
    }
}

pub fn role_files(args: &Map) -> RoleFiles {
    let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    RoleFiles {
        tasks_from: s("tasks_from"),
        vars_from: s("vars_from"),
        defaults_from: s("defaults_from"),
        handlers_from: s("handlers_from"),
        no_validate: args
            .get("rolespec_validate")
            .and_then(crate::value::ansible_bool)
            == Some(false),
    }
}

/// `dir/name`, `dir/name.yml`, `dir/name.yaml`, `dir/name.json` (first that exists).
pub fn find_in_dir(dir: &Path, name: &str) -> Option<PathBuf> {
    let base = dir.join(name);
    if base.is_file() {
        return Some(base);
    }
    for ext in ["yml", "yaml", "json"] {
        let p = dir.join(format!("{name}.{ext}"));
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

fn load_optional(dir: &Path, name: &str) -> Result<Option<Node>, LoadError> {
    match find_in_dir(dir, name) {
        Some(p) => Ok(Some(load_single_doc(&p)?)),
        None => Ok(None),
    }
}

fn load_vars_map(dir: &Path, name: &str) -> Result<Map, LoadError> {
    // `defaults/main/` (or `vars/main/`) as a directory: every YAML/JSON file in it, in name
    // order, later files' top-level keys winning (kubespray keeps its defaults this way).
    let as_dir = dir.join(name);
    if as_dir.is_dir() {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&as_dir)
            .map_err(|e| LoadError::Other(format!("reading {}: {e}", as_dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|x| x.to_str()),
                        Some("yml" | "yaml" | "json")
                    )
            })
            .collect();
        files.sort();
        let mut merged = Map::new();
        for f in files {
            let stem = f
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            merged.extend(load_vars_map(&as_dir, &stem)?);
        }
        return Ok(merged);
    }
    match load_optional(dir, name)? {
        None => Ok(Map::new()),
        Some(n) => match n.to_value() {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            _ => Err(LoadError::at(&n.span, "a vars file must be a mapping")),
        },
    }
}
