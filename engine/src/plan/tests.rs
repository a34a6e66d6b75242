//! The planner on loaded playbooks: what leaves inherit from their blocks, tag selection,
//! where barriers and handler flushes go, `--start-at-task`, and the shape of the DAG. Also
//! drives the executor's block state machine ([`HostRun`]) with flattened leaves, since the
//! two must agree on what a leaf's `blocks` mean.

use super::{
    build, dot, hostvars_tainted, Leaf, PlanInput, PlanNode, PlayPlan, PlaySection, TagFilter,
};
use crate::exec::hoststate::HostRun;
use crate::inventory::Inventory;
use crate::playbook::tests::{load_tree, write_tree};
use crate::playbook::{Play, Section};
use crate::template::Templar;
use crate::value::Map;
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

/// Options for one plan of the first play of `site.yml`.
struct Opts<'a> {
    hosts: &'a [&'a str],
    tags: &'a [&'a str],
    skip: &'a [&'a str],
    gather_facts: bool,
    start_at: Option<&'a str>,
    tainted: HashSet<String>,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            hosts: &["h1", "h2"],
            tags: &[],
            skip: &[],
            gather_facts: false,
            start_at: None,
            tainted: HashSet::new(),
        }
    }
}

fn load_play(files: &[(&str, &str)]) -> (tempfile::TempDir, Arc<Play>) {
    let (dir, pb) = load_tree(files);
    let pb = match pb {
        Ok(pb) => pb,
        Err(e) => panic!("load failed: {e}"),
    };
    (dir, pb.plays[0].clone())
}

fn plan_of(play: &Play, o: Opts) -> PlayPlan {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let filter = TagFilter::new(&s(o.tags), &s(o.skip));
    let templar = Templar::new();
    build(PlanInput {
        play,
        hosts: s(o.hosts),
        filter: &filter,
        templar: &templar,
        hostvars_tainted: &o.tainted,
        gather_facts: o.gather_facts,
        start_at_task: o.start_at,
        default_strategy: None,
        keyword_ctx: None,
    })
}

fn plan_site(site: &str, o: Opts) -> PlayPlan {
    let (_d, play) = load_play(&[("site.yml", site)]);
    plan_of(&play, o)
}

fn leaf_names(plan: &PlayPlan) -> Vec<String> {
    plan.leaves.iter().map(|l| l.display_name.clone()).collect()
}

fn leaf<'p>(plan: &'p PlayPlan, name: &str) -> &'p Arc<Leaf> {
    plan.leaves
        .iter()
        .find(|l| l.display_name == name)
        .unwrap_or_else(|| panic!("no leaf {name} in {:?}", leaf_names(plan)))
}

fn barriers(plan: &PlayPlan) -> Vec<&'static str> {
    plan.graph
        .node_indices()
        .filter_map(|i| match plan.graph[i] {
            PlanNode::Barrier { label } => Some(label),
            _ => None,
        })
        .collect()
}

/// The nodes host `h` passes through, in execution order (its chain in the DAG).
fn host_chain(plan: &PlayPlan, h: usize) -> Vec<NodeIndex> {
    let order = petgraph::algo::toposort(&plan.graph, None).expect("the plan is acyclic");
    order
        .into_iter()
        .filter(|&i| match &plan.graph[i] {
            PlanNode::Task { host, .. } => *host == h,
            PlanNode::FlushHandlers { .. }
            | PlanNode::Throttled { .. }
            | PlanNode::RunOnce { .. }
            | PlanNode::Barrier { .. }
            | PlanNode::PlayEnd => true,
        })
        .collect()
}

fn predecessors(plan: &PlayPlan, n: NodeIndex) -> Vec<NodeIndex> {
    plan.graph
        .neighbors_directed(n, Direction::Incoming)
        .collect()
}

fn task_node(plan: &PlayPlan, host: usize, leaf: usize) -> NodeIndex {
    plan.graph.node_indices().find(|&i| matches!(plan.graph[i], PlanNode::Task { host: h, leaf: l } if h == host && l == leaf)).expect("task node")
}

const THREE: &str = "- hosts: all\n  tasks:\n    - name: a\n      debug: msg=a\n    - name: b\n      debug: msg=b\n    - name: c\n      debug: msg=c\n";

// ---- flattening -----------------------------------------------------------------------------

const NESTED: &str = "\
- hosts: all
  tags: [playtag]
  become_user: playuser
  tasks:
    - block:
        - block:
            - name: inner task
              debug: msg=x
              when: c
              tags: [own]
              vars: {x: task, z: 1}
          when: b
          tags: [inner]
          vars: {x: inner}
          become_user: bob
      when: a
      tags: [outer]
      vars: {x: outer, y: outer}
      become: true
";

#[test]
fn leaf_inherits_conditions_outermost_first() {
    let plan = plan_site(NESTED, Opts::default());
    let w: Vec<_> = leaf(&plan, "inner task")
        .when
        .iter()
        .map(|(v, _)| v.clone())
        .collect();
    assert_eq!(w, vec![json!("a"), json!("b"), json!("c")]);
}

#[test]
fn leaf_inherits_tags_of_play_and_every_block() {
    let plan = plan_site(NESTED, Opts::default());
    let tags: Vec<&str> = leaf(&plan, "inner task")
        .tags
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(tags, ["inner", "outer", "own", "playtag"]);
}

#[test]
fn leaf_vars_are_task_then_blocks_innermost_first() {
    let plan = plan_site(NESTED, Opts::default());
    let xs: Vec<_> = leaf(&plan, "inner task")
        .vars
        .iter()
        .map(|m| m.get("x").cloned())
        .collect();
    assert_eq!(
        xs,
        vec![
            Some(json!("task")),
            Some(json!("inner")),
            Some(json!("outer"))
        ]
    );
}

#[test]
fn leaf_keywords_overlay_play_then_blocks() {
    let plan = plan_site(NESTED, Opts::default());
    let kw = &leaf(&plan, "inner task").keywords;
    assert_eq!(
        kw.become_,
        Some(json!(true)),
        "outer block's become reaches the task"
    );
    assert_eq!(
        kw.become_user,
        Some(json!("bob")),
        "inner block's become_user beats the play's"
    );
}

#[test]
fn leaf_records_its_blocks_and_sections() {
    let site = "- hosts: all\n  tasks:\n    - block:\n        - name: t1\n          debug: msg=1\n      rescue:\n        - name: r1\n          debug: msg=r\n      always:\n        - name: a1\n          debug: msg=a\n";
    let plan = plan_site(site, Opts::default());
    let sec = |n: &str| {
        leaf(&plan, n)
            .blocks
            .iter()
            .map(|b| b.section)
            .collect::<Vec<_>>()
    };
    assert_eq!(sec("t1"), [Section::Block]);
    assert_eq!(sec("r1"), [Section::Rescue]);
    assert_eq!(sec("a1"), [Section::Always]);
    let b = &leaf(&plan, "t1").blocks[0];
    assert!(b.has_rescue && b.has_always);
    assert_eq!(b.id, leaf(&plan, "a1").blocks[0].id);
}

#[test]
fn role_tasks_are_named_role_colon_task() {
    let (_d, play) = load_play(&[
        ("site.yml", "- hosts: all\n  roles: [web]\n"),
        (
            "roles/web/tasks/main.yml",
            "- name: install\n  debug: msg=i\n",
        ),
    ]);
    let plan = plan_of(&play, Opts::default());
    assert_eq!(leaf_names(&plan), ["web : install"]);
}

// ---- tags -----------------------------------------------------------------------------------

const TAGGED: &str = "\
- hosts: all
  tasks:
    - name: plain
      debug: msg=p
    - name: never task
      debug: msg=n
      tags: [never, debugonly]
    - name: always task
      debug: msg=a
      tags: [always]
    - name: web task
      debug: msg=w
      tags: [web]
    - block:
        - name: in web block
          debug: msg=b
      tags: [web]
";

#[test]
fn without_tags_everything_but_never_runs() {
    let plan = plan_site(TAGGED, Opts::default());
    assert_eq!(
        leaf_names(&plan),
        ["plain", "always task", "web task", "in web block"]
    );
}

#[test]
fn selected_tag_keeps_its_tasks_block_members_and_always() {
    let plan = plan_site(
        TAGGED,
        Opts {
            tags: &["web"],
            ..Default::default()
        },
    );
    assert_eq!(
        leaf_names(&plan),
        ["always task", "web task", "in web block"]
    );
}

#[test]
fn never_task_runs_when_its_other_tag_is_asked_for() {
    let plan = plan_site(
        TAGGED,
        Opts {
            tags: &["debugonly"],
            ..Default::default()
        },
    );
    assert_eq!(leaf_names(&plan), ["never task", "always task"]);
}

#[test]
fn tagged_selects_every_tagged_task_but_never() {
    let plan = plan_site(
        TAGGED,
        Opts {
            tags: &["tagged"],
            ..Default::default()
        },
    );
    assert_eq!(
        leaf_names(&plan),
        ["always task", "web task", "in web block"]
    );
}

#[test]
fn skip_tags_drop_tasks_and_tagged_blocks() {
    let plan = plan_site(
        TAGGED,
        Opts {
            skip: &["web"],
            ..Default::default()
        },
    );
    assert_eq!(leaf_names(&plan), ["plain", "always task"]);
}

#[test]
fn fact_gathering_survives_a_tag_filter() {
    let plan = plan_site(
        TAGGED,
        Opts {
            tags: &["web"],
            gather_facts: true,
            ..Default::default()
        },
    );
    assert_eq!(plan.leaves[0].section, PlaySection::Facts);
}

// ---- barriers -------------------------------------------------------------------------------

#[test]
fn plain_tasks_get_no_barrier_but_the_play_end() {
    let plan = plan_site(THREE, Opts::default());
    assert_eq!(barriers(&plan), ["play end"]);
    assert!(plan
        .leaves
        .iter()
        .all(|l| l.barrier_before.is_none() && l.barrier_after.is_none()));
}

#[test]
fn hosts_advance_independently_between_barriers() {
    let plan = plan_site(THREE, Opts::default());
    let b_h2 = task_node(&plan, 1, 1);
    assert_eq!(
        predecessors(&plan, b_h2),
        vec![task_node(&plan, 1, 0)],
        "h2's task b waits only for h2's task a"
    );
}

#[test]
fn run_once_is_one_node_after_a_barrier() {
    let site = "- hosts: all\n  tasks:\n    - name: a\n      debug: msg=a\n    - name: once\n      debug: msg=o\n      run_once: true\n    - name: c\n      debug: msg=c\n";
    let plan = plan_site(site, Opts::default());
    let once = plan
        .graph
        .node_indices()
        .filter(|&i| matches!(plan.graph[i], PlanNode::RunOnce { .. }))
        .collect::<Vec<_>>();
    assert_eq!(once.len(), 1);
    assert!(
        !plan
            .graph
            .node_indices()
            .any(|i| matches!(plan.graph[i], PlanNode::Task { leaf: 1, .. })),
        "no per-host node for a run_once task"
    );
    let pred = predecessors(&plan, once[0]);
    assert_eq!(pred.len(), 1);
    assert!(matches!(
        plan.graph[pred[0]],
        PlanNode::Barrier { label: "run_once" }
    ));
    let mut before = predecessors(&plan, pred[0]);
    before.sort();
    assert_eq!(
        before,
        [task_node(&plan, 0, 0), task_node(&plan, 1, 0)],
        "every host finishes a before the run_once"
    );
    for h in 0..2 {
        assert!(host_chain(&plan, h).contains(&once[0]));
    }
}

#[test]
fn any_errors_fatal_puts_a_barrier_after_the_task() {
    let site = "- hosts: all\n  tasks:\n    - name: a\n      debug: msg=a\n      any_errors_fatal: true\n    - name: b\n      debug: msg=b\n";
    let plan = plan_site(site, Opts::default());
    assert_eq!(leaf(&plan, "a").barrier_after, Some("any_errors_fatal"));
    let b = plan
        .graph
        .node_indices()
        .find(|&i| {
            matches!(
                plan.graph[i],
                PlanNode::Barrier {
                    label: "any_errors_fatal"
                }
            )
        })
        .expect("barrier");
    let mut pred = predecessors(&plan, b);
    pred.sort();
    assert_eq!(pred, [task_node(&plan, 0, 0), task_node(&plan, 1, 0)]);
    assert_eq!(predecessors(&plan, task_node(&plan, 0, 1)), [b]);
}

#[test]
fn play_level_any_errors_fatal_reaches_every_task() {
    let plan = plan_site(
        &THREE.replace("- hosts: all\n", "- hosts: all\n  any_errors_fatal: true\n"),
        Opts::default(),
    );
    assert!(plan
        .leaves
        .iter()
        .all(|l| l.barrier_after == Some("any_errors_fatal")));
}

#[test]
fn linear_strategy_puts_a_barrier_after_every_task() {
    let plan = plan_site(
        &THREE.replace("- hosts: all\n", "- hosts: all\n  strategy: linear\n"),
        Opts::default(),
    );
    assert_eq!(
        barriers(&plan).iter().filter(|l| **l == "linear").count(),
        3
    );
    let b = predecessors(&plan, task_node(&plan, 1, 1));
    assert!(
        matches!(plan.graph[b[0]], PlanNode::Barrier { label: "linear" }),
        "h2's b waits for every host's a"
    );
}

#[test]
fn task_reading_hostvars_gets_a_barrier_before() {
    let site = "- hosts: all\n  tasks:\n    - name: a\n      debug: msg=a\n    - name: peek\n      debug:\n        msg: \"{{ hostvars['h2'].x }}\"\n";
    let plan = plan_site(site, Opts::default());
    assert_eq!(leaf(&plan, "peek").barrier_before, Some("hostvars"));
    assert_eq!(leaf(&plan, "a").barrier_before, None);
    let pred = predecessors(&plan, task_node(&plan, 0, 1));
    assert!(matches!(
        plan.graph[pred[0]],
        PlanNode::Barrier { label: "hostvars" }
    ));
}

#[test]
fn condition_reading_hostvars_gets_a_barrier() {
    let site = "- hosts: all\n  tasks:\n    - name: peek\n      debug: msg=a\n      when: hostvars['h2'].ready\n";
    let plan = plan_site(site, Opts::default());
    assert_eq!(leaf(&plan, "peek").barrier_before, Some("hostvars"));
}

#[test]
fn task_reading_a_var_that_reads_hostvars_through_group_vars_gets_a_barrier() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("hosts", "[web]\nh1\n[db]\nh2 ip=10.0.0.2\n"),
            ("group_vars/all.yml", "db_ip: \"{{ hostvars[groups['db'][0]].ip }}\"\nplain: 1\n"),
            ("site.yml", "- hosts: all\n  vars:\n    db_url: \"pg://{{ db_ip }}/app\"\n  tasks:\n    - name: uses url\n      debug: msg={{ db_url }}\n    - name: uses plain\n      debug: msg={{ plain }}\n"),
        ],
    );
    let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
    let inv_vars: Vec<Map> = ["h1", "h2"]
        .iter()
        .map(|h| inv.host_vars(h, None).unwrap())
        .collect();
    let pb = {
        let reg = crate::playbook::tests::registry();
        let templar = Templar::new();
        let lctx = crate::playbook::LoadContext::new(&reg, &templar, vec![], Map::new());
        crate::playbook::load_playbook(&dir.path().join("site.yml"), &lctx).unwrap()
    };
    let play = &pb.plays[0];
    let tainted = hostvars_tainted(
        std::iter::once(play.vars.as_ref()).chain(inv_vars.iter()),
        &Templar::new(),
    );
    assert!(
        tainted.contains("db_ip") && tainted.contains("db_url") && !tainted.contains("plain"),
        "{tainted:?}"
    );
    let plan = plan_of(
        play,
        Opts {
            tainted,
            ..Default::default()
        },
    );
    assert_eq!(leaf(&plan, "uses url").barrier_before, Some("hostvars"));
    assert_eq!(leaf(&plan, "uses plain").barrier_before, None);
}

// ---- handler flushes ------------------------------------------------------------------------

const SECTIONS: &str = "\
- hosts: all
  pre_tasks:
    - name: pre
      debug: msg=p
      notify: h
  tasks:
    - name: main
      debug: msg=m
  post_tasks:
    - name: post
      debug: msg=q
  handlers:
    - name: h
      debug: msg=h
";

fn flushes_of(plan: &PlayPlan, h: usize) -> Vec<PlaySection> {
    host_chain(plan, h)
        .into_iter()
        .filter_map(|i| match plan.graph[i] {
            PlanNode::FlushHandlers { after, .. } => Some(after),
            _ => None,
        })
        .collect()
}

#[test]
fn handlers_flush_after_pre_tasks_tasks_and_post_tasks() {
    let plan = plan_site(
        SECTIONS,
        Opts {
            gather_facts: true,
            ..Default::default()
        },
    );
    for h in 0..2 {
        assert_eq!(
            flushes_of(&plan, h),
            [
                PlaySection::PreTasks,
                PlaySection::Tasks,
                PlaySection::PostTasks
            ]
        );
    }
    assert_eq!(plan.handlers.len(), 1);
    assert!(plan.handlers[0].is_handler());
}

#[test]
fn flush_sits_between_the_sections_on_each_host_chain() {
    let plan = plan_site(SECTIONS, Opts::default());
    let chain = host_chain(&plan, 0);
    let pos = |n: NodeIndex| chain.iter().position(|&c| c == n).expect("on chain");
    let flush = chain
        .iter()
        .copied()
        .find(|&i| {
            matches!(
                plan.graph[i],
                PlanNode::FlushHandlers {
                    after: PlaySection::PreTasks,
                    ..
                }
            )
        })
        .expect("flush");
    assert!(pos(task_node(&plan, 0, 0)) < pos(flush) && pos(flush) < pos(task_node(&plan, 0, 1)));
}

#[test]
fn no_flush_nodes_without_handlers() {
    let site = SECTIONS.split("  handlers:").next().unwrap().to_string();
    let plan = plan_site(&site, Opts::default());
    assert!(!plan
        .graph
        .node_indices()
        .any(|i| matches!(plan.graph[i], PlanNode::FlushHandlers { .. })));
}

// ---- --start-at-task ------------------------------------------------------------------------

#[test]
fn start_at_task_drops_earlier_tasks() {
    let plan = plan_site(
        THREE,
        Opts {
            start_at: Some("b"),
            ..Default::default()
        },
    );
    assert_eq!(leaf_names(&plan), ["b", "c"]);
    assert!(
        plan.leaves.iter().enumerate().all(|(i, l)| l.idx == i),
        "leaf indices are renumbered"
    );
}

#[test]
fn start_at_task_that_matches_nothing_plans_no_tasks() {
    let plan = plan_site(
        THREE,
        Opts {
            start_at: Some("zzz"),
            ..Default::default()
        },
    );
    assert!(plan.leaves.is_empty());
}

#[test]
fn start_at_task_still_gathers_facts() {
    // ansible-core's PlayIterator resets a host to the SETUP state after finding the task.
    let plan = plan_site(
        THREE,
        Opts {
            start_at: Some("b"),
            gather_facts: true,
            ..Default::default()
        },
    );
    assert_eq!(leaf_names(&plan), ["Gathering Facts", "b", "c"]);
}

#[test]
fn start_at_task_matches_shell_style_patterns() {
    // ansible-core also accepts `fnmatch.fnmatch(task.name, start_at_task)`.
    let plan = plan_site(
        THREE.replace("name: b", "name: install b").as_str(),
        Opts {
            start_at: Some("inst*"),
            ..Default::default()
        },
    );
    assert_eq!(leaf_names(&plan), ["install b", "c"]);
}

// ---- DAG shape ------------------------------------------------------------------------------

const MIXED: &str = "\
- hosts: all
  pre_tasks:
    - name: pre
      debug: msg=p
  tasks:
    - name: a
      debug: msg=a
    - name: once
      debug: msg=o
      run_once: true
    - name: fatal
      debug: msg=f
      any_errors_fatal: true
    - name: peek
      debug: msg={{ hostvars['h1'].x }}
    - block:
        - name: in block
          debug: msg=b
      rescue:
        - name: rescuer
          debug: msg=r
  handlers:
    - name: h
      debug: msg=h
";

#[test]
fn plan_is_acyclic() {
    let plan = plan_site(
        MIXED,
        Opts {
            hosts: &["h1", "h2", "h3"],
            gather_facts: true,
            ..Default::default()
        },
    );
    assert!(!petgraph::algo::is_cyclic_directed(&plan.graph));
}

#[test]
fn each_host_chain_visits_its_tasks_in_order_and_is_connected() {
    let plan = plan_site(
        MIXED,
        Opts {
            hosts: &["h1", "h2", "h3"],
            gather_facts: true,
            ..Default::default()
        },
    );
    for h in 0..3 {
        let chain = host_chain(&plan, h);
        let leaves: Vec<usize> = chain
            .iter()
            .filter_map(|&i| match plan.graph[i] {
                PlanNode::Task { leaf, .. } | PlanNode::RunOnce { leaf } => Some(leaf),
                _ => None,
            })
            .collect();
        assert_eq!(
            leaves,
            (0..plan.leaves.len()).collect::<Vec<_>>(),
            "host {h}"
        );
        for w in chain.windows(2) {
            assert!(
                petgraph::algo::has_path_connecting(&plan.graph, w[0], w[1], None),
                "host {h}: {:?} then {:?}",
                plan.graph[w[0]],
                plan.graph[w[1]]
            );
        }
        assert!(matches!(
            plan.graph[*chain.last().unwrap()],
            PlanNode::PlayEnd
        ));
    }
}

#[test]
fn dot_output_names_every_task_and_host() {
    let plan = plan_site(
        MIXED,
        Opts {
            gather_facts: true,
            ..Default::default()
        },
    );
    let text = dot::to_dot(&[("mixed".to_string(), &plan)]);
    for l in &plan.leaves {
        assert!(text.contains(&l.display_name), "missing {}", l.display_name);
    }
    assert!(text.contains("h1") && text.contains("h2") && text.contains("PLAY [mixed]"));
    assert!(text.starts_with("digraph") && text.trim_end().ends_with('}'));
}

// ---- the block state machine over flattened leaves -----------------------------------------

const RESCUED: &str = "\
- hosts: all
  tasks:
    - block:
        - name: fails
          command: false
        - name: after failure
          debug: msg=x
      rescue:
        - name: rescuer
          debug: msg=r
      always:
        - name: cleanup
          debug: msg=c
    - name: next
      debug: msg=n
";

#[test]
fn failure_in_a_rescued_block_runs_rescue_always_and_continues() {
    let plan = plan_site(RESCUED, Opts::default());
    let mut h = HostRun::default();
    let mut ran = Vec::new();
    for l in &plan.leaves {
        h.settle(&l.blocks);
        if !h.eligible(&l.blocks) {
            continue;
        }
        ran.push(l.display_name.clone());
        if l.display_name == "fails" {
            assert!(HostRun::will_rescue(&l.blocks));
            h.fail_at(&l.blocks);
        }
    }
    h.finish();
    assert_eq!(ran, ["fails", "rescuer", "cleanup", "next"]);
    assert!(!h.failed);
}

#[test]
fn failure_without_rescue_runs_always_then_fails_the_host() {
    let site = RESCUED.replace(
        "      rescue:\n        - name: rescuer\n          debug: msg=r\n",
        "",
    );
    let plan = plan_site(&site, Opts::default());
    let mut h = HostRun::default();
    let mut ran = Vec::new();
    for l in &plan.leaves {
        h.settle(&l.blocks);
        if !h.eligible(&l.blocks) {
            continue;
        }
        ran.push(l.display_name.clone());
        if l.display_name == "fails" {
            assert!(!HostRun::will_rescue(&l.blocks));
            h.fail_at(&l.blocks);
        }
    }
    h.finish();
    assert_eq!(ran, ["fails", "cleanup"]);
    assert!(h.failed);
}

#[test]
fn templated_any_errors_fatal_keeps_its_barrier() {
    let plan = plan_site(
        &THREE.replace(
            "- hosts: all\n",
            "- hosts: all\n  any_errors_fatal: \"{{ any_errors_fatal | default(true) }}\"\n",
        ),
        Opts::default(),
    );
    assert!(plan
        .leaves
        .iter()
        .all(|l| l.barrier_after == Some("any_errors_fatal")));
}

#[test]
fn templated_throttle_renders_with_play_level_vars() {
    let site = "- hosts: all\n  tasks:\n    - name: a\n      debug: msg=a\n      throttle: \"{{ groups['etcd'] | length // 2 }}\"\n    - name: b\n      debug: msg=b\n      throttle: \"{{ ansible_facts.missing }}\"\n";
    let (_d, play) = load_play(&[("site.yml", site)]);
    let filter = TagFilter::new(&[], &[]);
    let templar = Templar::new();
    let ctx = minijinja::value::Value::from_serialize(
        json!({"groups": {"etcd": ["e1", "e2", "e3", "e4", "e5"]}}),
    );
    let plan = build(PlanInput {
        play: &play,
        hosts: vec!["h1".into(), "h2".into()],
        filter: &filter,
        templar: &templar,
        hostvars_tainted: &HashSet::new(),
        gather_facts: false,
        start_at_task: None,
        default_strategy: None,
        keyword_ctx: Some(ctx),
    });
    assert_eq!(leaf(&plan, "a").throttle, Some(2));
    // Not knowable before hosts run: one host at a time, never more parallel than asked.
    assert_eq!(leaf(&plan, "b").throttle, Some(1));
}
