//! YAML nodes → the typed playbook model. Every error names file:line and the offending key.

use super::action::Action;
use super::keywords::{Keywords, BLOCK_KEYWORDS, PLAY_KEYWORDS, TASK_KEYWORDS};
use super::role;
use super::{Block, Inherited, LoopSpec, Play, Playbook, Task, TaskContext, TaskItem};
use crate::error::LoadError;
use crate::module::ModuleRegistry;
use crate::span::Span;
use crate::value::{Map, Value};
use crate::yaml::{self, Node, NodeKind};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What loading needs besides the files: which actions exist, where roles live, and the
/// variables known before any host (extra vars) for static import names.
pub struct LoadContext<'a> {
    pub registry: &'a ModuleRegistry,
    pub roles_path: Vec<PathBuf>,
    pub extra_vars: Map,
    pub templar: &'a crate::template::Templar,
    pub(crate) next_block_id: AtomicUsize,
    /// Nesting of imports, to refuse import cycles.
    pub(crate) import_depth: AtomicUsize,
    /// Handlers and role instances brought in by `import_role` inside task lists; the play
    /// collects them after parsing its sections.
    pub(crate) pending_handlers: std::sync::Mutex<Vec<TaskItem>>,
    pub(crate) pending_roles: std::sync::Mutex<Vec<Arc<super::RoleInstance>>>,
    /// `--syntax-check`: errors of single tasks and plays are kept here and loading goes on,
    /// so every problem of the tree is reported, not only the first.
    pub(crate) collected: Option<std::sync::Mutex<Vec<LoadError>>>,
}

impl<'a> LoadContext<'a> {
    pub fn new(
        registry: &'a ModuleRegistry,
        templar: &'a crate::template::Templar,
        roles_path: Vec<PathBuf>,
        extra_vars: Map,
    ) -> Self {
        LoadContext {
            registry,
            roles_path,
            extra_vars,
            templar,
            next_block_id: AtomicUsize::new(1),
            import_depth: AtomicUsize::new(0),
            pending_handlers: Default::default(),
            pending_roles: Default::default(),
            collected: None,
        }
    }

    /// A context that keeps going past errors (see [`LoadContext::take_errors`]).
    pub fn collecting(mut self) -> Self {
        self.collected = Some(Default::default());
        self
    }

    /// When collecting, keeps `e` and lets loading go on; otherwise returns it.
    pub(crate) fn record(&self, e: LoadError) -> Result<(), LoadError> {
        match &self.collected {
            Some(c) => {
                if let Ok(mut c) = c.lock() {
                    c.push(e);
                }
                Ok(())
            }
            None => Err(e),
        }
    }

    /// The errors kept so far by a collecting context.
    pub fn take_errors(&self) -> Vec<LoadError> {
        self.collected
            .as_ref()
            .and_then(|c| c.lock().ok().map(|mut c| std::mem::take(&mut *c)))
            .unwrap_or_default()
    }

    /// Block ids are unique for the whole process: blocks of files included at run time (also
    /// the same file included again by a loop) must never share an id with another block,
    /// since each host's rescue/always state is kept per id.
    pub(crate) fn block_id(&self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let _ = &self.next_block_id;
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}

const MAX_IMPORT_DEPTH: usize = 64;

/// Load a playbook file (following `import_playbook`).
pub fn load_playbook(path: &Path, lctx: &LoadContext) -> Result<Playbook, LoadError> {
    let mut plays = Vec::new();
    load_plays_into(path, lctx, &mut plays)?;
    Ok(Playbook {
        path: path.to_path_buf(),
        plays,
    })
}

/// Load a playbook given as text, as if it were the file `path` (relative names resolve from
/// `path`'s directory; nothing is read at `path` itself). `kplay adhoc` runs its one-task play
/// this way from the current directory.
pub fn load_playbook_text(
    text: &str,
    path: &Path,
    lctx: &LoadContext,
) -> Result<Playbook, LoadError> {
    let shown = path.display().to_string();
    let mut docs = yaml::load_str(text, &shown)?;
    let doc = match docs.len() {
        0 => Node {
            kind: NodeKind::Null,
            span: Span::new(shown, 1, 1),
        },
        _ => docs.remove(0),
    };
    let mut plays = Vec::new();
    lctx.import_depth.fetch_add(1, Ordering::Relaxed);
    plays_from_doc(&doc, path, lctx, &mut plays)?;
    Ok(Playbook {
        path: path.to_path_buf(),
        plays,
    })
}

fn load_plays_into(
    path: &Path,
    lctx: &LoadContext,
    plays: &mut Vec<Arc<Play>>,
) -> Result<(), LoadError> {
    if lctx.import_depth.fetch_add(1, Ordering::Relaxed) > MAX_IMPORT_DEPTH {
        return Err(LoadError::Other(format!(
            "{}: import_playbook nested too deeply (a cycle?)",
            path.display()
        )));
    }
    let doc = load_single_doc(path)?;
    plays_from_doc(&doc, path, lctx, plays)
}

fn plays_from_doc(
    doc: &Node,
    path: &Path,
    lctx: &LoadContext,
    plays: &mut Vec<Arc<Play>>,
) -> Result<(), LoadError> {
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    // Absolute, as ansible-core's playbook dir and the file names found from it are.
    let base_dir = std::fs::canonicalize(&base_dir).unwrap_or(base_dir);
    let Some(entries) = doc.as_seq() else {
        if doc.is_null() {
            return Ok(());
        }
        return Err(LoadError::at(
            &doc.span,
            "a playbook must be a list of plays",
        ));
    };
    for entry in entries {
        if entry.as_map().is_none() {
            return Err(LoadError::at(
                &entry.span,
                format!("a play must be a mapping, got a {}", entry.type_name()),
            ));
        }
        if let Some(imp) = entry
            .get("import_playbook")
            .or_else(|| entry.get("ansible.builtin.import_playbook"))
        {
            let name = imp
                .as_str()
                .ok_or_else(|| LoadError::at(&imp.span, "import_playbook needs a file name"))?;
            let name = static_render(name, &imp.span, lctx, &Map::new())?;
            let target = base_dir.join(&name);
            if !target.is_file() {
                return Err(LoadError::at(
                    &imp.span,
                    format!("import_playbook: file not found: {}", target.display()),
                ));
            }
            let before = plays.len();
            if let Err(e) = load_plays_into(&target, lctx, plays) {
                lctx.record(e)?;
            }
            // `vars:`, `tags:` and `when:` on import_playbook reach every imported play; the
            // import's vars win over the play's own, as in ansible-core.
            let ivars = entry.get("vars").map(Node::to_value);
            let itags = parse_tags(entry.get("tags"))?;
            let iwhen = parse_when(entry.get("when"));
            for p in plays.iter_mut().skip(before) {
                let Some(play) = Arc::get_mut(p) else {
                    continue;
                };
                if let Some(Value::Object(iv)) = &ivars {
                    let mut merged = (*play.vars).clone();
                    merged.extend(iv.iter().map(|(k, v)| (k.clone(), v.clone())));
                    play.vars = Arc::new(merged);
                }
                play.tags.extend(itags.iter().cloned());
                if !iwhen.is_empty() {
                    for section in [
                        &mut play.pre_tasks,
                        &mut play.roles,
                        &mut play.tasks,
                        &mut play.post_tasks,
                    ] {
                        let inner = std::mem::take(section);
                        section.push(TaskItem::Block(Arc::new(Block {
                            id: lctx.block_id(),
                            name: None,
                            span: imp.span.clone(),
                            block: inner,
                            rescue: vec![],
                            always: vec![],
                            when: iwhen.clone(),
                            tags: Default::default(),
                            vars: Arc::new(Map::new()),
                            keywords: Inherited::default(),
                        })));
                    }
                }
            }
            continue;
        }
        match parse_play(entry, &base_dir, lctx) {
            Ok(play) => plays.push(Arc::new(play)),
            Err(e) => lctx.record(e)?,
        }
    }
    lctx.import_depth.fetch_sub(1, Ordering::Relaxed);
    Ok(())
}

/// Load a file that must hold exactly one YAML document.
pub fn load_single_doc(path: &Path) -> Result<Node, LoadError> {
    if !path.is_file() {
        return Err(LoadError::Other(format!(
            "{}: file not found",
            path.display()
        )));
    }
    let mut docs = yaml::load_file(path)?;
    match docs.len() {
        0 => Ok(Node {
            kind: NodeKind::Null,
            span: Span::new(path.display().to_string(), 1, 1),
        }),
        1 => Ok(docs.remove(0)),
        _ => Err(LoadError::at(
            &docs[1].span,
            "expected a single YAML document",
        )),
    }
}

/// Render a name that must be known at load time (import file names) with extra vars and the
/// given static vars only.
pub(crate) fn static_render(
    s: &str,
    span: &Span,
    lctx: &LoadContext,
    vars: &Map,
) -> Result<String, LoadError> {
    if !crate::template::Templar::is_template(s) {
        return Ok(s.to_string());
    }
    let mut all = vars.clone();
    for (k, v) in &lctx.extra_vars {
        all.insert(k.clone(), v.clone());
    }
    let ctx = crate::template::from_json_value(&Value::Object(all));
    match lctx.templar.render_str(s, &ctx) {
        Ok(Value::String(r)) => Ok(r),
        Ok(other) => Ok(crate::value::to_display_string(&other)),
        Err(e) => Err(LoadError::at(span, format!("cannot resolve '{s}' at load time (use include_* for names that depend on host variables): {e}"))),
    }
}

fn check_keys(node: &Node, allowed: Keywords, what: &str) -> Result<(), LoadError> {
    for (k, _) in node.as_map().unwrap_or(&[]) {
        let key = k.key_string();
        if !allowed.contains(&key) {
            return Err(LoadError::at(
                &k.span,
                format!("'{key}' is not a valid attribute for a {what}"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn parse_tags(node: Option<&Node>) -> Result<BTreeSet<String>, LoadError> {
    let mut out = BTreeSet::new();
    let Some(n) = node else { return Ok(out) };
    match &n.kind {
        NodeKind::Null => {}
        NodeKind::Seq(items) => {
            for i in items {
                out.insert(i.key_string());
            }
        }
        NodeKind::Str(s) => {
            for t in s.split(',') {
                let t = t.trim();
                if !t.is_empty() {
                    out.insert(t.to_string());
                }
            }
        }
        NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
            out.insert(n.key_string());
        }
        NodeKind::Map(_) => return Err(LoadError::at(&n.span, "tags must be a string or a list")),
    }
    Ok(out)
}

pub(crate) fn parse_when(node: Option<&Node>) -> Vec<(Value, Span)> {
    match node {
        None => vec![],
        Some(n) => match &n.kind {
            NodeKind::Null => vec![],
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| (i.to_value(), i.span.clone()))
                .collect(),
            _ => vec![(n.to_value(), n.span.clone())],
        },
    }
}

fn value_list(node: Option<&Node>) -> Vec<Value> {
    match node {
        None => vec![],
        Some(n) => match &n.kind {
            NodeKind::Null => vec![],
            NodeKind::Seq(items) => items.iter().map(Node::to_value).collect(),
            _ => vec![n.to_value()],
        },
    }
}

fn string_list(node: Option<&Node>) -> Result<Vec<String>, LoadError> {
    match node {
        None => Ok(vec![]),
        Some(n) => match &n.kind {
            NodeKind::Null => Ok(vec![]),
            NodeKind::Seq(items) => Ok(items.iter().map(Node::key_string).collect()),
            NodeKind::Map(_) => Err(LoadError::at(
                &n.span,
                "expected a string or a list of strings",
            )),
            _ => Ok(vec![n.key_string()]),
        },
    }
}

pub(crate) fn parse_vars(node: Option<&Node>) -> Result<Arc<Map>, LoadError> {
    match node {
        None => Ok(Arc::new(Map::new())),
        Some(n) => match &n.kind {
            NodeKind::Null => Ok(Arc::new(Map::new())),
            NodeKind::Map(_) => match n.to_value() {
                Value::Object(m) => Ok(Arc::new(m)),
                _ => Ok(Arc::new(Map::new())),
            },
            // A list of single-key maps is accepted by Ansible too.
            NodeKind::Seq(items) => {
                let mut m = Map::new();
                for i in items {
                    match i.to_value() {
                        Value::Object(o) => m.extend(o),
                        _ => return Err(LoadError::at(&i.span, "vars must be a mapping")),
                    }
                }
                Ok(Arc::new(m))
            }
            _ => Err(LoadError::at(&n.span, "vars must be a mapping")),
        },
    }
}

pub(crate) fn parse_inherited(node: &Node) -> Inherited {
    let g = |k: &str| node.get(k).map(Node::to_value);
    Inherited {
        become_: g("become"),
        become_user: g("become_user"),
        become_method: g("become_method"),
        become_flags: g("become_flags"),
        become_exe: g("become_exe"),
        connection: g("connection"),
        remote_user: g("remote_user"),
        check_mode: g("check_mode"),
        diff: g("diff"),
        ignore_errors: g("ignore_errors"),
        ignore_unreachable: g("ignore_unreachable"),
        no_log: g("no_log"),
        any_errors_fatal: g("any_errors_fatal"),
        run_once: g("run_once"),
        delegate_to: g("delegate_to"),
        delegate_facts: g("delegate_facts"),
        throttle: g("throttle"),
        timeout: g("timeout"),
        port: g("port"),
        environment: g("environment")
            .into_iter()
            .filter(|v| !v.is_null())
            .collect(),
        module_defaults: g("module_defaults")
            .into_iter()
            .filter(|v| !v.is_null())
            .collect(),
    }
}

fn parse_play(node: &Node, base_dir: &Path, lctx: &LoadContext) -> Result<Play, LoadError> {
    check_keys(node, PLAY_KEYWORDS, "play")?;
    super::checks::check_play(node)?;
    let hosts = match node.get("hosts") {
        Some(h) => match &h.kind {
            NodeKind::Seq(items) => Value::String(
                items
                    .iter()
                    .map(Node::key_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            NodeKind::Null => {
                return Err(LoadError::at(
                    &h.span,
                    "the field 'hosts' is required but was not set",
                ))
            }
            _ => Value::String(h.key_string()),
        },
        None => {
            return Err(LoadError::at(
                &node.span,
                "the field 'hosts' is required but was not set",
            ))
        }
    };
    let name = node
        .get("name")
        .map(Node::key_string)
        .unwrap_or_else(|| crate::value::to_display_string(&hosts));
    let vars = parse_vars(node.get("vars"))?;
    let mut vars_files = Vec::new();
    if let Some(vf) = node.get("vars_files") {
        match &vf.kind {
            NodeKind::Seq(items) => {
                vars_files.extend(items.iter().map(|i| (i.to_value(), i.span.clone())))
            }
            NodeKind::Null => {}
            _ => vars_files.push((vf.to_value(), vf.span.clone())),
        }
    }
    check_static_vars_files(&vars_files, base_dir)?;
    let ctx = TaskContext {
        role: None,
        base_dir: base_dir.to_path_buf(),
    };
    let mut static_vars = (*vars).clone();
    for (k, v) in &lctx.extra_vars {
        static_vars.insert(k.clone(), v.clone());
    }
    let pre_tasks = parse_task_list(node.get("pre_tasks"), &ctx, lctx, &static_vars)?;
    let tasks = parse_task_list(node.get("tasks"), &ctx, lctx, &static_vars)?;
    let post_tasks = parse_task_list(node.get("post_tasks"), &ctx, lctx, &static_vars)?;
    let mut handlers = parse_task_list(node.get("handlers"), &ctx, lctx, &static_vars)?;
    let mut role_instances = Vec::new();
    let mut role_seen = Vec::new();
    let mut roles = Vec::new();
    if let Some(rn) = node.get("roles") {
        let entries = match &rn.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => &[],
            _ => return Err(LoadError::at(&rn.span, "roles must be a list")),
        };
        let mut loader = role::RoleLoader::new(lctx, base_dir, &static_vars);
        for entry in entries {
            let loaded = loader.load_entry(entry)?;
            roles.extend(loaded.tasks);
            handlers.extend(loaded.handlers);
        }
        role_instances = loader.instances();
        role_seen = loader.seen();
    }
    if let Ok(mut pending) = lctx.pending_handlers.lock() {
        handlers.append(&mut pending);
    }
    if let Ok(mut pending) = lctx.pending_roles.lock() {
        role_instances.append(&mut pending);
    }
    let strategy = node.get("strategy").map(Node::key_string);
    Ok(Play {
        name,
        span: node.span.clone(),
        hosts,
        gather_facts: node.get("gather_facts").map(Node::to_value),
        gather_subset: node.get("gather_subset").map(Node::to_value),
        vars,
        vars_files,
        pre_tasks,
        roles,
        tasks,
        post_tasks,
        handlers,
        role_instances,
        role_seen,
        tags: parse_tags(node.get("tags"))?,
        keywords: parse_inherited(node),
        strategy,
        serial: node.get("serial").map(Node::to_value),
        force_handlers: node.get("force_handlers").map(Node::to_value),
        max_fail_percentage: node.get("max_fail_percentage").map(Node::to_value),
        order: node.get("order").map(Node::key_string),
        base_dir: base_dir.to_path_buf(),
        vars_prompt: super::checks::parse_vars_prompt(node.get("vars_prompt"))?,
        gather_timeout: node.get("gather_timeout").map(Node::to_value),
        fact_path: node.get("fact_path").map(Node::to_value),
    })
}

/// A `vars_files` entry whose name holds no template must exist now: refusing it at load time
/// means no host is touched by earlier plays of a run that cannot finish.
fn check_static_vars_files(entries: &[(Value, Span)], base_dir: &Path) -> Result<(), LoadError> {
    for (entry, span) in entries {
        let names: Vec<&str> = match entry {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        if names
            .iter()
            .any(|n| crate::template::Templar::is_template(n))
        {
            continue;
        }
        if !names.iter().any(|n| base_dir.join(n).is_file()) {
            return Err(LoadError::at(
                span,
                format!("vars_files: vars file {} was not found", names.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Parse a list of tasks/blocks (`tasks:`, `block:`, a task file).
pub(crate) fn parse_task_list(
    node: Option<&Node>,
    ctx: &TaskContext,
    lctx: &LoadContext,
    static_vars: &Map,
) -> Result<Vec<TaskItem>, LoadError> {
    let Some(node) = node else { return Ok(vec![]) };
    let items = match &node.kind {
        NodeKind::Null => return Ok(vec![]),
        NodeKind::Seq(items) => items,
        _ => {
            return Err(LoadError::at(
                &node.span,
                format!("expected a list of tasks, got a {}", node.type_name()),
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.as_map().is_none() {
            lctx.record(LoadError::at(
                &item.span,
                format!("a task must be a mapping, got a {}", item.type_name()),
            ))?;
            continue;
        }
        let parsed = if item.get("block").is_some() {
            parse_block(item, ctx, lctx, static_vars).map(|b| TaskItem::Block(Arc::new(b)))
        } else {
            parse_task(item, ctx, lctx, static_vars)
        };
        match parsed {
            Ok(t) => out.push(t),
            Err(e) => lctx.record(e)?,
        }
    }
    Ok(out)
}

fn parse_block(
    node: &Node,
    ctx: &TaskContext,
    lctx: &LoadContext,
    static_vars: &Map,
) -> Result<Block, LoadError> {
    check_keys(node, BLOCK_KEYWORDS, "block")?;
    super::checks::check_block(node)?;
    Ok(Block {
        id: lctx.block_id(),
        name: node.get("name").map(Node::key_string),
        span: node.span.clone(),
        block: parse_task_list(node.get("block"), ctx, lctx, static_vars)?,
        rescue: parse_task_list(node.get("rescue"), ctx, lctx, static_vars)?,
        always: parse_task_list(node.get("always"), ctx, lctx, static_vars)?,
        when: parse_when(node.get("when")),
        tags: parse_tags(node.get("tags"))?,
        vars: parse_vars(node.get("vars"))?,
        keywords: parse_inherited(node),
    })
}

/// Find the action key of a task mapping and its raw arguments.
fn find_action(node: &Node, lctx: &LoadContext) -> Result<(String, Map, Span, bool), LoadError> {
    let mut found: Vec<(&Node, &Node)> = Vec::new();
    for (k, v) in node.as_map().unwrap_or(&[]) {
        let key = k.key_string();
        if TASK_KEYWORDS.contains(&key) && key != "action" && key != "local_action" {
            continue;
        }
        if key.starts_with("with_") {
            continue;
        }
        found.push((k, v));
    }
    if found.len() > 1 {
        let names: Vec<String> = found.iter().map(|(k, _)| k.key_string()).collect();
        return Err(LoadError::at(
            &found[1].0.span,
            format!("conflicting action statements: {}", names.join(", ")),
        ));
    }
    let Some((k, v)) = found.first().copied() else {
        return Err(LoadError::at(
            &node.span,
            "no module/action detected in task",
        ));
    };
    let key = k.key_string();
    let local = key == "local_action";
    // `action: copy src=a` / `action: {module: copy, src: a}`
    let (action, argnode, action_span): (String, Option<&Node>, Span) =
        if key == "action" || local {
            match &v.kind {
                NodeKind::Str(s) => {
                    let (m, rest) = s
                        .trim()
                        .split_once(char::is_whitespace)
                        .unwrap_or((s.trim(), ""));
                    let free = lctx.registry.get(m).map(|x| x.free_form()).unwrap_or(false);
                    let args =
                        super::kv::parse_kv(rest, free).map_err(|e| LoadError::at(&v.span, e))?;
                    check_action(m, &v.span, lctx)?;
                    return Ok((m.to_string(), args, v.span.clone(), local));
                }
                NodeKind::Map(_) => {
                    let m = v.get("module").and_then(Node::as_str).ok_or_else(|| {
                        LoadError::at(&v.span, "action mapping needs a 'module' key")
                    })?;
                    (m.to_string(), Some(v), v.span.clone())
                }
                _ => {
                    return Err(LoadError::at(
                        &v.span,
                        "action must be a string or a mapping",
                    ))
                }
            }
        } else {
            (key.clone(), Some(v), k.span.clone())
        };
    check_action(&action, &action_span, lctx)?;
    let free = lctx
        .registry
        .get(&action)
        .map(|m| m.free_form())
        .unwrap_or(false)
        || Action::resolve(&action).free_form();
    let mut args = Map::new();
    if let Some(a) = node.get("args") {
        match a.to_value() {
            Value::Object(m) => args.extend(m),
            Value::Null => {}
            _ => return Err(LoadError::at(&a.span, "args must be a mapping")),
        }
    }
    if let Some(argnode) = argnode {
        match &argnode.kind {
            NodeKind::Null => {}
            // `module: "{{ defaults | combine(item) }}"` (kubespray): the whole argument
            // mapping is one expression, rendered when the task runs.
            NodeKind::Str(s) if !free && is_single_expression(s) => {
                args.insert(ARGS_EXPR.into(), Value::String(s.clone()));
            }
            NodeKind::Str(s) => {
                let parsed = super::kv::parse_kv(s, free)
                    .map_err(|e| LoadError::at(&argnode.span, format!("{action}: {e}")))?;
                args.extend(parsed);
            }
            NodeKind::Map(_) => {
                if let Value::Object(m) = argnode.to_value() {
                    for (k, v) in m {
                        if (key == "action" || local) && k == "module" {
                            continue;
                        }
                        args.insert(k, v);
                    }
                }
            }
            NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) if free => {
                args.insert("_raw_params".into(), Value::String(argnode.key_string()));
            }
            _ => {
                return Err(LoadError::at(
                    &argnode.span,
                    format!("{action}: arguments must be a mapping or a k=v string"),
                ))
            }
        }
    }
    Ok((action, args, action_span, local))
}

fn check_action(action: &str, span: &Span, lctx: &LoadContext) -> Result<(), LoadError> {
    if lctx.registry.contains(action) || Action::resolve(action).is_engine() {
        return Ok(());
    }
    Err(LoadError::at(span, format!("couldn't resolve module/action '{action}'. This often indicates a misspelling, missing collection, or incorrect module path.")))
}

fn parse_task(
    node: &Node,
    ctx: &TaskContext,
    lctx: &LoadContext,
    static_vars: &Map,
) -> Result<TaskItem, LoadError> {
    let (action, args, action_span, local) = find_action(node, lctx)?;
    super::checks::check_task(node, &action, &args)?;
    let mut kw = parse_inherited(node);
    if local {
        kw.delegate_to = Some(Value::String("localhost".into()));
    }
    let mut loop_: Option<LoopSpec> = None;
    for (k, v) in node.as_map().unwrap_or(&[]) {
        let key = k.key_string();
        let kind = if key == "loop" {
            "loop".to_string()
        } else if let Some(l) = key.strip_prefix("with_") {
            l.to_string()
        } else {
            continue;
        };
        if let Some(prev) = &loop_ {
            let prev_key = if prev.kind == "loop" {
                "loop".to_string()
            } else {
                format!("with_{}", prev.kind)
            };
            return Err(LoadError::at(&k.span, format!("'{key}' conflicts with '{prev_key}': a task can have only one loop (loop or with_*)")));
        }
        loop_ = Some(LoopSpec {
            kind,
            value: v.to_value(),
        });
    }
    let kind = Action::resolve(&action);
    let name = node.get("name").map(Node::key_string);
    let task = Task {
        name,
        span: node.span.clone(),
        action: action.clone(),
        kind,
        args,
        when: parse_when(node.get("when")),
        tags: parse_tags(node.get("tags"))?,
        vars: parse_vars(node.get("vars"))?,
        register: node.get("register").map(Node::key_string),
        loop_,
        loop_control: node.get("loop_control").map(Node::to_value),
        notify: string_list(node.get("notify"))?,
        listen: string_list(node.get("listen"))?,
        changed_when: value_list(node.get("changed_when")),
        failed_when: value_list(node.get("failed_when")),
        until: value_list(node.get("until")),
        retries: node.get("retries").map(Node::to_value),
        delay: node.get("delay").map(Node::to_value),
        async_: node.get("async").map(Node::to_value),
        poll: node.get("poll").map(Node::to_value),
        keywords: kw,
        ctx: ctx.clone(),
    };
    match kind {
        Action::ImportTasks => import_tasks(task, &action_span, ctx, lctx, static_vars),
        Action::ImportRole => {
            let mut loader = role::RoleLoader::new(lctx, &ctx.base_dir, static_vars);
            loader.import_role(task, &action_span)
        }
        _ => Ok(TaskItem::Task(Arc::new(task))),
    }
}

/// `import_tasks`: load the file now; the import's `when`, `tags`, `vars` and keywords apply to
/// every imported task, which is exactly a block around them.
fn import_tasks(
    task: Task,
    span: &Span,
    ctx: &TaskContext,
    lctx: &LoadContext,
    static_vars: &Map,
) -> Result<TaskItem, LoadError> {
    let file = task
        .args
        .get("_raw_params")
        .or_else(|| task.args.get("file"))
        .and_then(Value::as_str)
        .ok_or_else(|| LoadError::at(span, "import_tasks needs a file name"))?;
    let file = static_render(file, span, lctx, static_vars)?;
    let path = resolve_task_file(&file, ctx, &task.span).ok_or_else(|| {
        LoadError::at(
            span,
            format!("import_tasks: could not find or access '{file}'"),
        )
    })?;
    if lctx.import_depth.fetch_add(1, Ordering::Relaxed) > MAX_IMPORT_DEPTH {
        return Err(LoadError::at(
            span,
            "import_tasks nested too deeply (a cycle?)",
        ));
    }
    let doc = load_single_doc(&path)?;
    let inner = parse_task_list(Some(&doc), ctx, lctx, static_vars)?;
    lctx.import_depth.fetch_sub(1, Ordering::Relaxed);
    Ok(TaskItem::Block(Arc::new(Block {
        id: lctx.block_id(),
        name: task.name.clone(),
        span: task.span.clone(),
        block: inner,
        rescue: vec![],
        always: vec![],
        when: task.when,
        tags: task.tags,
        vars: task.vars,
        keywords: task.keywords,
    })))
}

/// Where a task file named in an import/include is: beside the current file's base dir, in the
/// role's `tasks/`, or relative to the current directory.
pub fn resolve_task_file(file: &str, ctx: &TaskContext, from: &Span) -> Option<PathBuf> {
    let p = Path::new(file);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = Path::new(&*from.file).parent() {
        candidates.push(dir.join(file));
    }
    if let Some(r) = &ctx.role {
        candidates.push(r.path.join("tasks").join(file));
    }
    candidates.push(ctx.base_dir.join(file));
    candidates.push(ctx.base_dir.join("tasks").join(file));
    // Absolute, as ansible-core names included files (`included: /abs/path.yml`).
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .map(|c| std::fs::canonicalize(&c).unwrap_or(c))
}

/// The argument key holding a task's whole-arguments expression (see [`is_single_expression`]).
pub const ARGS_EXPR: &str = "_kplay_args_expr";

/// `{{ ... }}` and nothing else: a module's arguments given as one expression.
fn is_single_expression(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("{{")
        && t.ends_with("}}")
        && t[2..].find("{{").is_none()
        && t[..t.len() - 2].rfind("}}").is_none()
}
