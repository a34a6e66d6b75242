//! The plan: a play's tasks flattened into leaves (each carrying what it inherits from its
//! blocks), expanded over hosts into a petgraph DAG of host×task nodes with explicit barriers.
//!
//! Between barriers each host advances on its own. Barriers go where correctness needs every
//! host to have reached the same point: `run_once`, after `any_errors_fatal` tasks, before
//! tasks whose templates read other hosts' variables (`hostvars`), after every task under
//! `strategy: linear`, and at the end of the play.

pub mod dot;
pub mod explain;
pub mod tags;

use crate::playbook::action::{Action, ModuleKind};
use crate::playbook::{Inherited, Play, Section, Task, TaskItem};
use crate::span::Span;
use crate::template::Templar;
use crate::value::{ansible_bool, Map, Value};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
pub use tags::TagFilter;

/// Which part of the play a leaf belongs to (handlers are flushed after each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaySection {
    Facts,
    PreTasks,
    Tasks,
    PostTasks,
    Handlers,
}

/// One enclosing block of a leaf.
#[derive(Clone, Debug)]
pub struct BlockRef {
    pub id: usize,
    pub section: Section,
    pub has_rescue: bool,
    pub has_always: bool,
}

/// A task with everything it inherits resolved: the unit the executor runs.
#[derive(Debug)]
pub struct Leaf {
    pub idx: usize,
    pub task: Arc<Task>,
    /// Enclosing blocks, outermost first.
    pub blocks: Vec<BlockRef>,
    /// Inherited conditions (outermost block first), then the task's own.
    pub when: Vec<(Value, Span)>,
    pub tags: BTreeSet<String>,
    /// Task vars then block vars, innermost first.
    pub vars: Vec<Arc<Map>>,
    pub keywords: Inherited,
    pub section: PlaySection,
    /// `TASK [<this>]`: `role : name`, or the action for a nameless task.
    pub display_name: String,
    pub barrier_before: Option<&'static str>,
    pub barrier_after: Option<&'static str>,
    pub run_once: bool,
    /// `throttle: N` (a static number), when set.
    pub throttle: Option<usize>,
}

impl Leaf {
    pub fn is_handler(&self) -> bool {
        self.section == PlaySection::Handlers
    }
}

#[derive(Clone, Debug)]
pub enum PlanNode {
    Task {
        host: usize,
        leaf: usize,
    },
    /// `run_once`: one node runs the task once and gives every host the result.
    RunOnce {
        leaf: usize,
    },
    Barrier {
        label: &'static str,
    },
    /// Run the handlers notified so far, handler by handler across the hosts (a barrier).
    FlushHandlers {
        after: PlaySection,
    },
    /// `throttle: N`: the task runs on the hosts in inventory order, at most N at once.
    Throttled {
        leaf: usize,
        limit: usize,
    },
    PlayEnd,
}

pub struct PlayPlan {
    pub hosts: Vec<String>,
    pub leaves: Vec<Arc<Leaf>>,
    pub handlers: Vec<Arc<Leaf>>,
    pub graph: DiGraph<PlanNode, ()>,
    /// `--start-at-task` was given and found in this play.
    pub start_matched: bool,
}

/// What the planner needs besides the play.
pub struct PlanInput<'a> {
    pub play: &'a Play,
    pub hosts: Vec<String>,
    pub filter: &'a TagFilter,
    pub templar: &'a Templar,
    /// Variable names whose values (transitively) read `hostvars`.
    pub hostvars_tainted: &'a HashSet<String>,
    pub gather_facts: bool,
    pub start_at_task: Option<&'a str>,
    /// The strategy for a play that sets none (ansible.cfg `strategy`, `ANSIBLE_STRATEGY`).
    pub default_strategy: Option<&'a str>,
    /// Variables known before any task runs (extra, play, inventory vars of the batch's first
    /// host, `groups`): templated plan keywords (`throttle: "{{ groups['etcd'] | length // 2 }}"`)
    /// are rendered with them, as Ansible renders play keywords.
    pub keyword_ctx: Option<minijinja::value::Value>,
}

/// Display name of a task as Ansible prints it.
pub fn task_display_name(task: &Task) -> String {
    let base = match &task.name {
        Some(n) => n.clone(),
        None => {
            // Ansible names an unnamed include_role/import_role after the role.
            let short = crate::playbook::action::short_name(&task.action);
            match (task.kind, task.args.get("name").and_then(Value::as_str)) {
                (Action::IncludeRole | Action::ImportRole, Some(role)) => {
                    return format!("{short} : {role}")
                }
                _ => task.action.clone(),
            }
        }
    };
    match &task.ctx.role {
        Some(r) => format!("{} : {}", r.name, base),
        None => base,
    }
}

struct Flattener<'a> {
    leaves: Vec<Leaf>,
    filter: &'a TagFilter,
    apply_tags: bool,
    /// Renders templated plan keywords; `None` where no variables are known yet.
    keywords_with: Option<(&'a Templar, &'a minijinja::value::Value)>,
}

struct Inh {
    blocks: Vec<BlockRef>,
    when: Vec<(Value, Span)>,
    tags: BTreeSet<String>,
    vars: Vec<Arc<Map>>,
    keywords: Inherited,
}

impl Flattener<'_> {
    fn items(&mut self, items: &[TaskItem], inh: &Inh, section: PlaySection) {
        for item in items {
            match item {
                TaskItem::Task(t) => self.task(t, inh, section),
                TaskItem::Block(b) => {
                    let mut when = inh.when.clone();
                    when.extend(b.when.iter().cloned());
                    let mut tags = inh.tags.clone();
                    tags.extend(b.tags.iter().cloned());
                    let mut vars = vec![b.vars.clone()];
                    vars.extend(inh.vars.iter().cloned());
                    let keywords = inh.keywords.overlay(&b.keywords);
                    for (sec, list) in [
                        (Section::Block, &b.block),
                        (Section::Rescue, &b.rescue),
                        (Section::Always, &b.always),
                    ] {
                        let mut blocks = inh.blocks.clone();
                        blocks.push(BlockRef {
                            id: b.id,
                            section: sec,
                            has_rescue: !b.rescue.is_empty(),
                            has_always: !b.always.is_empty(),
                        });
                        let child = Inh {
                            blocks,
                            when: when.clone(),
                            tags: tags.clone(),
                            vars: vars.clone(),
                            keywords: keywords.clone(),
                        };
                        self.items(list, &child, section);
                    }
                }
            }
        }
    }

    /// A whole-number plan keyword (`throttle`), rendered when it is a template. A template
    /// that cannot be rendered before hosts run (it reads facts) gives 1: one host at a time
    /// is the limit's safest reading, never more parallel than asked.
    fn plan_number(&self, v: &Value) -> Option<usize> {
        let rendered = match v {
            Value::String(s) if Templar::is_template(s) => match self.keywords_with {
                Some((t, ctx)) => t.render_value(v, ctx).unwrap_or(Value::from(1)),
                None => Value::from(1),
            },
            v => v.clone(),
        };
        crate::value::to_display_string(&rendered)
            .trim()
            .parse::<usize>()
            .ok()
    }

    /// A boolean plan keyword (`run_once`), rendered when it is a template of play-level
    /// variables. One that reads facts cannot be known before hosts run: it counts as false
    /// (every host runs the task, as without the keyword).
    fn plan_bool(&self, v: &Value) -> Option<bool> {
        match v {
            Value::String(s) if Templar::is_template(s) => self
                .keywords_with
                .and_then(|(t, ctx)| t.render_value(v, ctx).ok())
                .and_then(|r| ansible_bool(&r)),
            v => ansible_bool(v),
        }
    }

    fn task(&mut self, t: &Arc<Task>, inh: &Inh, section: PlaySection) {
        let mut tags = inh.tags.clone();
        tags.extend(t.tags.iter().cloned());
        // include_* are dynamic: their tags select the include itself (tasks inside are
        // filtered again when included), so they are kept when any task inside could match.
        if self.apply_tags && !self.filter.selects(&tags) {
            return;
        }
        let mut when = inh.when.clone();
        when.extend(t.when.iter().cloned());
        let mut vars = vec![t.vars.clone()];
        vars.extend(inh.vars.iter().cloned());
        let keywords = inh.keywords.overlay(&t.keywords);
        let throttle = keywords
            .throttle
            .as_ref()
            .and_then(|v| self.plan_number(v))
            .filter(|t| *t > 0);
        // `pause` bypasses the host loop in Ansible: it runs once for the whole batch.
        let run_once = keywords
            .run_once
            .as_ref()
            .and_then(|v| self.plan_bool(v))
            .unwrap_or(false)
            || t.kind == Action::Pause;
        // A templated `any_errors_fatal` cannot be known before hosts run: the barrier is
        // placed anyway (a sync point changes no result) and the runtime decides per failure.
        let barrier_after = keywords
            .any_errors_fatal
            .as_ref()
            .map(|v| match v {
                Value::String(s) if Templar::is_template(s) => true,
                v => ansible_bool(v).unwrap_or(false),
            })
            .unwrap_or(false)
            .then_some("any_errors_fatal");
        self.leaves.push(Leaf {
            idx: self.leaves.len(),
            task: t.clone(),
            blocks: inh.blocks.clone(),
            when,
            tags,
            vars,
            keywords,
            section,
            display_name: task_display_name(t),
            barrier_before: run_once.then_some("run_once"),
            barrier_after,
            run_once,
            throttle,
        });
    }
}

/// What included tasks inherit from the include that brought them in.
pub struct IncludeInheritance {
    pub keywords: Inherited,
    pub tags: BTreeSet<String>,
    pub vars: Vec<Arc<Map>>,
    pub when: Vec<(Value, Span)>,
    pub blocks: Vec<BlockRef>,
}

/// Flatten a list of task items (used for dynamic includes).
pub fn flatten_items(
    items: &[TaskItem],
    inherit: IncludeInheritance,
    filter: &TagFilter,
    section: PlaySection,
    keywords_with: Option<(&Templar, &minijinja::value::Value)>,
) -> Vec<Leaf> {
    let mut f = Flattener {
        leaves: vec![],
        filter,
        apply_tags: true,
        keywords_with,
    };
    let inh = Inh {
        blocks: inherit.blocks,
        when: inherit.when,
        tags: inherit.tags,
        vars: inherit.vars,
        keywords: inherit.keywords,
    };
    f.items(items, &inh, section);
    f.leaves
}

/// Every template string inside a value.
fn template_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) if Templar::is_template(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| template_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| template_strings(x, out)),
        _ => {}
    }
}

/// Whether a leaf's templates read other hosts' variables.
fn reads_hostvars(leaf: &Leaf, templar: &Templar, tainted: &HashSet<String>) -> bool {
    let mut strings: Vec<&str> = Vec::new();
    for v in leaf.task.args.values() {
        template_strings(v, &mut strings);
    }
    for vars in &leaf.vars {
        for v in vars.values() {
            template_strings(v, &mut strings);
        }
    }
    if let Some(l) = &leaf.task.loop_ {
        template_strings(&l.value, &mut strings);
    }
    let mut exprs: Vec<String> = strings.iter().map(|s| s.to_string()).collect();
    for (w, _) in &leaf.when {
        if let Value::String(s) = w {
            exprs.push(format!("{{{{ {s} }}}}"));
        }
    }
    exprs.iter().any(|s| {
        let refs = templar.referenced_vars(s);
        refs.contains("hostvars") || refs.iter().any(|r| tainted.contains(r))
    })
}

/// Names (in the given maps) whose values read `hostvars`, directly or through other names.
pub fn hostvars_tainted<'m>(
    maps: impl Iterator<Item = &'m Map>,
    templar: &Templar,
) -> HashSet<String> {
    let mut refs: Vec<(String, BTreeSet<String>)> = Vec::new();
    for m in maps {
        for (k, v) in m {
            let mut strings = Vec::new();
            template_strings(v, &mut strings);
            if strings.is_empty() {
                continue;
            }
            let mut r = BTreeSet::new();
            for s in strings {
                r.extend(templar.referenced_vars(s));
            }
            refs.push((k.clone(), r));
        }
    }
    let mut tainted: HashSet<String> = HashSet::new();
    loop {
        let before = tainted.len();
        for (k, r) in &refs {
            if !tainted.contains(k) && r.iter().any(|x| x == "hostvars" || tainted.contains(x)) {
                tainted.insert(k.clone());
            }
        }
        if tainted.len() == before {
            return tainted;
        }
    }
}

fn facts_task(play: &Play) -> Task {
    let mut args = Map::new();
    if let Some(s) = &play.gather_subset {
        args.insert("gather_subset".into(), s.clone());
    }
    if let Some(p) = &play.fact_path {
        args.insert("fact_path".into(), p.clone());
    }
    let keywords = Inherited {
        timeout: play.gather_timeout.clone(),
        ..Default::default()
    };
    let ctx = crate::playbook::TaskContext {
        role: None,
        base_dir: play.base_dir.clone(),
    };
    Task::implicit(
        "Gathering Facts",
        play.span.clone(),
        "setup",
        Action::Module(ModuleKind::Plain),
        args,
        keywords,
        ctx,
    )
}

/// Build the DAG for one play.
pub fn build(input: PlanInput) -> PlayPlan {
    let play = input.play;
    let linear = play.strategy.as_deref().or(input.default_strategy) == Some("linear");
    let play_kw = play.keywords.clone();
    let mut f = Flattener {
        leaves: vec![],
        filter: input.filter,
        apply_tags: true,
        keywords_with: input.keyword_ctx.as_ref().map(|c| (input.templar, c)),
    };
    let root = |section_tags: &BTreeSet<String>| Inh {
        blocks: vec![],
        when: vec![],
        tags: section_tags.clone(),
        vars: vec![],
        keywords: play_kw.clone(),
    };
    if input.gather_facts {
        f.task(
            &Arc::new(facts_task(play)),
            &root(&BTreeSet::new()),
            PlaySection::Facts,
        );
    }
    f.items(&play.pre_tasks, &root(&play.tags), PlaySection::PreTasks);
    f.items(&play.roles, &root(&play.tags), PlaySection::Tasks);
    f.items(&play.tasks, &root(&play.tags), PlaySection::Tasks);
    f.items(&play.post_tasks, &root(&play.tags), PlaySection::PostTasks);
    let mut leaves = f.leaves;
    let mut start_matched = false;
    if let Some(start) = input.start_at_task {
        // Exact name first, then a shell-style pattern, as ansible-playbook matches it. A play
        // without the task runs nothing (not even fact gathering), as in ansible-playbook.
        let facts = leaves
            .first()
            .is_some_and(|l| l.section == PlaySection::Facts) as usize;
        match leaves.iter().position(|l| starts_at(l, start)) {
            Some(pos) => {
                leaves.drain(facts..pos);
                start_matched = true;
            }
            None => leaves.clear(),
        }
    }
    for (i, l) in leaves.iter_mut().enumerate() {
        l.idx = i;
        if l.barrier_before.is_none() && reads_hostvars(l, input.templar, input.hostvars_tainted) {
            l.barrier_before = Some("hostvars");
        }
        if linear && l.barrier_after.is_none() {
            l.barrier_after = Some("linear");
        }
        if play.max_fail_percentage.is_some() && l.barrier_after.is_none() {
            l.barrier_after = Some("max_fail_percentage");
        }
    }
    let mut hf = Flattener {
        leaves: vec![],
        filter: input.filter,
        apply_tags: false,
        keywords_with: input.keyword_ctx.as_ref().map(|c| (input.templar, c)),
    };
    hf.items(&play.handlers, &root(&play.tags), PlaySection::Handlers);
    let handlers: Vec<Arc<Leaf>> = hf.leaves.into_iter().map(Arc::new).collect();

    let mut graph = DiGraph::new();
    let n = input.hosts.len();
    let mut last: Vec<Option<NodeIndex>> = vec![None; n];
    let barrier = |graph: &mut DiGraph<PlanNode, ()>,
                   last: &mut Vec<Option<NodeIndex>>,
                   label: &'static str| {
        let b = graph.add_node(PlanNode::Barrier { label });
        for l in last.iter_mut() {
            if let Some(prev) = *l {
                graph.add_edge(prev, b, ());
            }
            *l = Some(b);
        }
        b
    };
    let mut prev_section: Option<PlaySection> = None;
    let has_handlers = !handlers.is_empty();
    for leaf in &leaves {
        if let Some(ps) = prev_section {
            if ps != leaf.section && ps != PlaySection::Facts && has_handlers {
                flush(&mut graph, &mut last, ps);
            }
        }
        prev_section = Some(leaf.section);
        if let Some(label) = leaf.barrier_before {
            barrier(&mut graph, &mut last, label);
        }
        if leaf.run_once {
            shared(&mut graph, &mut last, PlanNode::RunOnce { leaf: leaf.idx });
        } else if let Some(limit) = leaf.throttle.filter(|t| *t < n) {
            shared(
                &mut graph,
                &mut last,
                PlanNode::Throttled {
                    leaf: leaf.idx,
                    limit,
                },
            );
        } else {
            for (h, l) in last.iter_mut().enumerate() {
                let node = graph.add_node(PlanNode::Task {
                    host: h,
                    leaf: leaf.idx,
                });
                if let Some(prev) = *l {
                    graph.add_edge(prev, node, ());
                }
                *l = Some(node);
            }
        }
        if let Some(label) = leaf.barrier_after {
            barrier(&mut graph, &mut last, label);
        }
    }
    if let Some(ps) = prev_section {
        if has_handlers && ps != PlaySection::Facts {
            flush(&mut graph, &mut last, ps);
        }
    }
    barrier(&mut graph, &mut last, "play end");
    let end = graph.add_node(PlanNode::PlayEnd);
    if let Some(Some(b)) = last.first() {
        graph.add_edge(*b, end, ());
    }
    PlayPlan {
        hosts: input.hosts,
        leaves: leaves.into_iter().map(Arc::new).collect(),
        handlers,
        graph,
        start_matched,
    }
}

/// Whether `--start-at-task NAME` starts at this leaf: its name, its `role : name`, or either
/// matching NAME as a shell pattern.
pub fn starts_at(l: &Leaf, start: &str) -> bool {
    let pattern = glob::Pattern::new(start).ok();
    l.section != PlaySection::Facts
        && (l.task.name.as_deref() == Some(start)
            || l.display_name == start
            || pattern.as_ref().is_some_and(|p| {
                l.task.name.as_deref().is_some_and(|n| p.matches(n)) || p.matches(&l.display_name)
            }))
}

/// Whether any statically known task of `play` (imports and roles included, dynamic includes
/// not) is where `--start-at-task NAME` starts.
pub fn play_has_task(play: &Play, start: &str) -> bool {
    let mut f = Flattener {
        leaves: vec![],
        filter: &TagFilter::default(),
        apply_tags: false,
        keywords_with: None,
    };
    let root = Inh {
        blocks: vec![],
        when: vec![],
        tags: BTreeSet::new(),
        vars: vec![],
        keywords: Inherited::default(),
    };
    for items in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
        f.items(items, &root, PlaySection::Tasks);
    }
    f.leaves.iter().any(|l| starts_at(l, start))
}

/// One node every host goes through (flushes, `run_once`, throttled tasks).
fn shared(graph: &mut DiGraph<PlanNode, ()>, last: &mut [Option<NodeIndex>], kind: PlanNode) {
    let node = graph.add_node(kind);
    for l in last.iter_mut() {
        if let Some(prev) = *l {
            if graph.find_edge(prev, node).is_none() {
                graph.add_edge(prev, node, ());
            }
        }
        *l = Some(node);
    }
}

fn flush(graph: &mut DiGraph<PlanNode, ()>, last: &mut [Option<NodeIndex>], after: PlaySection) {
    shared(graph, last, PlanNode::FlushHandlers { after });
}

#[cfg(test)]
mod tests;
