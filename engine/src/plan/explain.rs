//! `kplay plan`'s text: where a play's barriers are and why each is there.
//!
//! Between barriers every host advances on its own; a barrier is a point every host of the
//! batch must reach before any goes on. The planner adds one only where correctness needs it,
//! and users reading a slow run want to know which task made hosts wait for each other.

use super::{Leaf, PlanNode, PlayPlan, PlaySection};

/// Why a barrier of the given label is there, in words.
pub fn reason(label: &str) -> &'static str {
    match label {
        "run_once" => "run_once: one host runs it for all, once every host got there",
        "hostvars" => {
            "its templates read other hosts' variables (hostvars), which must be complete first"
        }
        "any_errors_fatal" => {
            "any_errors_fatal: a failure there must stop every host before the next task"
        }
        "linear" => "strategy linear: every host finishes each task before any starts the next",
        "max_fail_percentage" => {
            "max_fail_percentage: the share of failed hosts is checked after each task"
        }
        "play end" => "the play ends when every host is done",
        _ => "",
    }
}

fn where_(l: &Leaf) -> String {
    format!("task {} [{}] ({})", l.idx + 1, l.display_name, l.task.span)
}

fn section_name(s: PlaySection) -> &'static str {
    match s {
        PlaySection::Facts => "fact gathering",
        PlaySection::PreTasks => "pre_tasks",
        PlaySection::Tasks => "roles and tasks",
        PlaySection::PostTasks => "post_tasks",
        PlaySection::Handlers => "handlers",
    }
}

/// One line per barrier of the plan, in order: where it is and why.
pub fn barriers(plan: &PlayPlan) -> Vec<String> {
    let mut out = Vec::new();
    let mut flushes = plan.graph.node_weights().filter_map(|n| match n {
        PlanNode::FlushHandlers { after } => Some(*after),
        _ => None,
    });
    let mut prev: Option<&Leaf> = None;
    for l in &plan.leaves {
        if let Some(p) = prev {
            if p.section != l.section
                && p.section != PlaySection::Facts
                && !plan.handlers.is_empty()
            {
                if let Some(after) = flushes.next() {
                    out.push(format!(
                        "handler flush after the {}: notified handlers run on every host",
                        section_name(after)
                    ));
                }
            }
        }
        if let Some(label) = l.barrier_before {
            out.push(format!("before {}: {}", where_(l), reason(label)));
        }
        if l.throttle.is_some_and(|t| t < plan.hosts.len()) {
            out.push(format!(
                "around {}: throttle {}: hosts run it in inventory order, a few at a time",
                where_(l),
                l.throttle.unwrap_or(0)
            ));
        }
        if let Some(label) = l.barrier_after {
            out.push(format!("after {}: {}", where_(l), reason(label)));
        }
        prev = Some(l);
    }
    if let Some(after) = flushes.next() {
        out.push(format!(
            "handler flush after the {}: notified handlers run on every host",
            section_name(after)
        ));
    }
    out.push(format!("end of play: {}", reason("play end")));
    out
}
