//! `kplay run | plan | inventory | adhoc`: turn command-line options into engine calls.

use crate::cli::{AdhocArgs, CommonArgs, InventoryArgs, OutputFormat, PlanArgs, RunArgs};
use kplay_engine::config::Config;
use kplay_engine::exec::connection::ConnectionDefaults;
use kplay_engine::exec::{exit, load_playbooks, RunOptions, Runner};
use kplay_engine::inventory::Inventory;
use kplay_engine::module::ModuleRegistry;
use kplay_engine::output::{
    adhoc::AdhocOutput, console::ConsoleOutput, json::JsonOutput, Output, OutputOptions,
};
use kplay_engine::plan::TagFilter;
use kplay_engine::playbook::{Playbook, TaskItem};
use kplay_engine::value::{Map, Value};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn registry() -> Arc<ModuleRegistry> {
    kplay_engine::transport::persistent::set_preludes(kplay_modules::shell_preludes());
    let mut reg = ModuleRegistry::new();
    kplay_modules::register_all(&mut reg);
    Arc::new(reg)
}

/// A load error: one line naming file:line, exit 4 (as ansible-playbook does for parse errors).
pub(crate) fn load_error(e: impl std::fmt::Display) -> u8 {
    eprintln!("ERROR! {e}");
    exit::HOST_UNREACHABLE as u8
}

pub(crate) fn color_wanted() -> bool {
    if std::env::var_os("NO_COLOR").is_some()
        || std::env::var("ANSIBLE_NOCOLOR")
            .map(|v| v == "1" || v == "true")
            .unwrap_or(false)
    {
        return false;
    }
    std::env::var("ANSIBLE_FORCE_COLOR")
        .map(|v| v == "1" || v == "true")
        .unwrap_or(false)
        || std::io::stdout().is_terminal()
}

fn read_secret(prompt: &str) -> Option<String> {
    eprint!("{prompt}");
    let mut s = String::new();
    std::io::stdin().read_line(&mut s).ok()?;
    Some(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Options common to run/adhoc/plan, with ansible.cfg and ANSIBLE_* applied under the flags.
pub(crate) fn options(
    common: &CommonArgs,
    cfg: &Config,
    tags: &[String],
    skip_tags: &[String],
) -> Result<RunOptions, String> {
    let mut extra = Map::new();
    for e in &common.extra_vars {
        extra.extend(kplay_engine::vars::extra::parse_extra_vars(e).map_err(|e| e.to_string())?);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let password = if common.ask_pass {
        read_secret("SSH password: ")
    } else {
        None
    };
    let become_password = if common.ask_become_pass {
        read_secret("BECOME password: ")
    } else {
        None
    };
    Ok(RunOptions {
        extra_vars: extra,
        limit: common.limit.clone(),
        forks: common.forks.or(cfg.forks).unwrap_or(5),
        check: common.check,
        diff: common.diff,
        tags: TagFilter::new(tags, skip_tags),
        start_at_task: None,
        verbosity: common.verbose,
        force_handlers: false,
        roles_path: cfg.roles_path.clone(),
        connection: ConnectionDefaults {
            connection: common.connection.clone(),
            remote_user: common.user.clone().or_else(|| cfg.remote_user.clone()),
            private_key_file: common
                .private_key
                .clone()
                .or_else(|| cfg.private_key_file.clone()),
            password,
            strict_host_keys: common.strict_host_keys,
            host_key_checking: cfg.host_key_checking.unwrap_or(true),
            known_hosts: PathBuf::from(home).join(".kplay").join("known_hosts"),
            timeout: Duration::from_secs(cfg.timeout.unwrap_or(10)),
        },
        become_: if common.become_ {
            Some(true)
        } else {
            cfg.become_
        },
        become_user: common
            .become_user
            .clone()
            .or_else(|| cfg.become_user.clone()),
        become_method: common
            .become_method
            .clone()
            .or_else(|| cfg.become_method.clone()),
        become_password,
        gathering_explicit: cfg.gathering.as_deref() == Some("explicit"),
    })
}

fn load_inventory(sources: &[String], cfg: &Config) -> Result<Inventory, String> {
    let mut srcs: Vec<String> = sources.to_vec();
    if srcs.is_empty() {
        srcs = cfg.inventory.clone();
    }
    if srcs.is_empty() && Path::new("/etc/ansible/hosts").exists() {
        srcs.push("/etc/ansible/hosts".into());
    }
    if srcs.is_empty() {
        return Ok(Inventory::empty());
    }
    Inventory::load(&srcs).map_err(|e| e.to_string())
}

pub(crate) fn load_config() -> Result<Config, u8> {
    match Config::load() {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("[WARNING]: {w}");
            }
            Ok(c)
        }
        Err(e) => Err(load_error(e)),
    }
}

fn output_for(common: &CommonArgs) -> Arc<dyn Output> {
    match common.output {
        OutputFormat::Json => Arc::new(JsonOutput::new()),
        OutputFormat::Text => Arc::new(ConsoleOutput::new(OutputOptions {
            verbosity: common.verbose,
            diff: common.diff,
            color: color_wanted(),
        })),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR! cannot start the async runtime: {e}");
            std::process::exit(exit::ERROR);
        }
    }
}

fn tags_of(items: &[TaskItem], inherited: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    for i in items {
        match i {
            TaskItem::Task(t) => {
                out.extend(inherited.iter().cloned());
                out.extend(t.tags.iter().cloned());
            }
            TaskItem::Block(b) => {
                let mut inh = inherited.clone();
                inh.extend(b.tags.iter().cloned());
                for list in [&b.block, &b.rescue, &b.always] {
                    tags_of(list, &inh, out);
                }
            }
        }
    }
}

fn fmt_tags(t: &BTreeSet<String>) -> String {
    format!("[{}]", t.iter().cloned().collect::<Vec<_>>().join(", "))
}

/// `--list-hosts`, `--list-tasks`, `--list-tags` in ansible-playbook's layout.
fn list(pb: &Playbook, runner: &Arc<Runner>, args: &RunArgs) -> Result<(), String> {
    println!("\nplaybook: {}", pb.path.display());
    for (i, play) in pb.plays.iter().enumerate() {
        println!(
            "\n  play #{} ({}): {}\tTAGS: {}",
            i + 1,
            kplay_engine::value::to_display_string(&play.hosts),
            play.name,
            fmt_tags(&play.tags)
        );
        let plan =
            kplay_engine::exec::play::prepare_play(runner, play).map_err(|e| e.to_string())?;
        if args.list_hosts {
            let hosts = plan.as_ref().map(|p| p.hosts.clone()).unwrap_or_default();
            println!(
                "    pattern: ['{}']",
                kplay_engine::value::to_display_string(&play.hosts)
            );
            println!("    hosts ({}):", hosts.len());
            for h in hosts {
                println!("      {h}");
            }
        }
        if args.list_tasks {
            println!("    tasks:");
            if let Some(plan) = &plan {
                for leaf in &plan.leaves {
                    if leaf.section == kplay_engine::plan::PlaySection::Facts {
                        continue;
                    }
                    println!(
                        "      {}\tTAGS: {}",
                        leaf.display_name,
                        fmt_tags(&leaf.tags)
                    );
                }
            }
        }
        if args.list_tags {
            let mut all = BTreeSet::new();
            for items in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
                tags_of(items, &play.tags, &mut all);
            }
            println!("      TASK TAGS: {}", fmt_tags(&all));
        }
    }
    Ok(())
}

pub fn run(args: RunArgs) -> u8 {
    let cfg = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = match options(&args.common, &cfg, &args.tags, &args.skip_tags) {
        Ok(o) => o,
        Err(e) => return load_error(e),
    };
    opts.start_at_task = args.start_at_task.clone();
    opts.force_handlers = args.force_handlers;
    let registry = registry();
    let paths = match crate::embedded::resolve_run(&args.playbooks, &mut opts.roles_path) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    for p in &paths {
        if !p.is_file() {
            return load_error(format!("the playbook: {} could not be found", p.display()));
        }
    }
    let playbooks = match load_playbooks(&paths, &registry, &opts.roles_path, &opts.extra_vars) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    if args.syntax_check {
        for p in &paths {
            println!("\nplaybook: {}", p.display());
        }
        return 0;
    }
    let inventory = match load_inventory(&args.common.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    for w in inventory.warnings() {
        eprintln!("[WARNING]: {w}");
    }
    let playbook_dir = paths[0]
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let playbook_dir = std::fs::canonicalize(&playbook_dir).unwrap_or(playbook_dir);
    let out = output_for(&args.common);
    // The runtime must outlive the runner: connections close inside it when dropped.
    let rt = runtime();
    let _rt_guard = rt.enter();
    let runner = Runner::new(opts, registry, inventory, &playbook_dir, out);
    if args.list_hosts || args.list_tasks || args.list_tags {
        for pb in &playbooks {
            if let Err(e) = list(pb, &runner, &args) {
                return load_error(e);
            }
        }
        return 0;
    }
    rt.block_on(async {
        for pb in &playbooks {
            if let Err(e) = runner.run_playbook(pb).await {
                return load_error(e);
            }
        }
        runner.finish().await as u8
    })
}

pub fn plan(args: PlanArgs) -> u8 {
    let cfg = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = match options(&args.common, &cfg, &args.tags, &args.skip_tags) {
        Ok(o) => o,
        Err(e) => return load_error(e),
    };
    let registry = registry();
    let paths = match crate::embedded::resolve_run(&args.playbooks, &mut opts.roles_path) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    let playbooks = match load_playbooks(&paths, &registry, &opts.roles_path, &opts.extra_vars) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    let inventory = match load_inventory(&args.common.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    let playbook_dir = paths
        .first()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let runner = Runner::new(
        opts,
        registry,
        inventory,
        &playbook_dir,
        output_for(&args.common),
    );
    let mut plans = Vec::new();
    for pb in &playbooks {
        for play in &pb.plays {
            match kplay_engine::exec::play::prepare_play(&runner, play) {
                Ok(Some(p)) => plans.push((play.name.clone(), p)),
                Ok(None) => {}
                Err(e) => return load_error(e),
            }
        }
    }
    if args.dot {
        let refs: Vec<(String, &kplay_engine::plan::PlayPlan)> =
            plans.iter().map(|(n, p)| (n.clone(), p)).collect();
        print!("{}", kplay_engine::plan::dot::to_dot(&refs));
    } else {
        for (name, p) in &plans {
            let barriers = p
                .graph
                .node_weights()
                .filter(|n| matches!(n, kplay_engine::plan::PlanNode::Barrier { .. }))
                .count();
            println!(
                "PLAY [{name}]: {} hosts, {} tasks, {} nodes, {} barriers",
                p.hosts.len(),
                p.leaves.len(),
                p.graph.node_count(),
                barriers
            );
        }
    }
    0
}

pub fn inventory(args: InventoryArgs) -> u8 {
    let cfg = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let inv = match load_inventory(&args.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    if let Some(h) = &args.host {
        return match inv.host_vars(h, None) {
            Ok(v) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&Value::Object(v)).unwrap_or_default()
                );
                0
            }
            Err(e) => load_error(e),
        };
    }
    if args.graph {
        println!("{}", inv.to_graph());
        return 0;
    }
    match inv.to_list_json() {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }
        Err(e) => load_error(e),
    }
}

pub fn adhoc(args: AdhocArgs) -> u8 {
    let cfg = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let opts = match options(&args.common, &cfg, &[], &[]) {
        Ok(o) => o,
        Err(e) => return load_error(e),
    };
    let registry = registry();
    let inventory = match load_inventory(&args.common.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    // An ad-hoc run is a one-task play written to a temp file and loaded like any playbook.
    let task_args: Value = match &args.args {
        None => Value::Null,
        Some(a) if a.trim_start().starts_with('{') => match serde_json::from_str(a) {
            Ok(v) => v,
            Err(e) => return load_error(format!("invalid JSON in -a: {e}")),
        },
        Some(a) => Value::String(a.clone()),
    };
    let play = serde_json::json!([{
        "name": format!("Ansible Ad-Hoc"),
        "hosts": args.pattern,
        "gather_facts": args.gather_facts,
        "tasks": [{ args.module.clone(): task_args }],
    }]);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return load_error(e),
    };
    let path = dir.path().join("adhoc.yml");
    if let Err(e) = std::fs::write(&path, play.to_string()) {
        return load_error(e);
    }
    let playbooks = match load_playbooks(
        std::slice::from_ref(&path),
        &registry,
        &opts.roles_path,
        &opts.extra_vars,
    ) {
        Ok(p) => p,
        Err(e) => {
            return load_error(
                e.to_string()
                    .replace(&path.display().to_string(), "<adhoc>"),
            )
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let out: Arc<dyn Output> = match args.common.output {
        OutputFormat::Json => Arc::new(JsonOutput::new()),
        OutputFormat::Text => Arc::new(AdhocOutput::new(OutputOptions {
            verbosity: args.common.verbose,
            diff: args.common.diff,
            color: color_wanted(),
        })),
    };
    let rt = runtime();
    let _rt_guard = rt.enter();
    let runner = Runner::new(opts, registry, inventory, &cwd, out);
    rt.block_on(async {
        for pb in &playbooks {
            if let Err(e) = runner.run_playbook(pb).await {
                return load_error(e);
            }
        }
        let mut code = runner.finish_quiet().await;
        if code == 0 && runner.stats.lock().map(|s| s.is_empty()).unwrap_or(false) {
            eprintln!("[WARNING]: No hosts matched, nothing to do");
            code = 0;
        }
        code as u8
    })
}
