//! `kplay plan --dot`: the DAG as Graphviz DOT, to see where hosts wait for each other.

use super::{PlanNode, PlayPlan};
use petgraph::visit::EdgeRef;
use std::fmt::Write;

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One `subgraph cluster_N` per play.
pub fn to_dot(plays: &[(String, &PlayPlan)]) -> String {
    let mut out = String::from(
        "digraph kplay {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
    );
    for (pi, (name, plan)) in plays.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{pi} {{\n    label=\"PLAY [{}]\";",
            escape(name)
        );
        for idx in plan.graph.node_indices() {
            let (label, shape) = match &plan.graph[idx] {
                PlanNode::Task { host, leaf } => (
                    format!(
                        "{}\\n{}",
                        escape(&plan.hosts[*host]),
                        escape(&plan.leaves[*leaf].display_name)
                    ),
                    "box",
                ),
                PlanNode::RunOnce { leaf } => (
                    format!("run_once\\n{}", escape(&plan.leaves[*leaf].display_name)),
                    "box3d",
                ),
                PlanNode::Barrier { label } => (format!("barrier: {label}"), "diamond"),
                PlanNode::FlushHandlers { .. } => ("flush handlers".to_string(), "ellipse"),
                PlanNode::Throttled { leaf, limit } => (
                    format!(
                        "throttle {limit}\\n{}",
                        escape(&plan.leaves[*leaf].display_name)
                    ),
                    "box3d",
                ),
                PlanNode::PlayEnd => ("play end".to_string(), "doublecircle"),
            };
            let _ = writeln!(
                out,
                "    p{pi}n{} [label=\"{label}\", shape={shape}];",
                idx.index()
            );
        }
        for e in plan.graph.edge_references() {
            let _ = writeln!(
                out,
                "    p{pi}n{} -> p{pi}n{};",
                e.source().index(),
                e.target().index()
            );
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}
