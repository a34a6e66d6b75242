//! `kplay run | plan | inventory | adhoc`: turn command-line options into engine calls.

use crate::cli::{
    AdhocArgs, CommonArgs, InventoryArgs, OutputFormat, PlanArgs, PlaybookArgs, RunArgs,
};
use kplay_engine::config::Config;
use kplay_engine::exec::connection::ConnectionDefaults;
use kplay_engine::exec::interrupt::{self, StopReason};
use kplay_engine::exec::{exit, load_playbooks, RunOptions, Runner};
use kplay_engine::inventory::Inventory;
use kplay_engine::module::ModuleRegistry;
use kplay_engine::output::{
    adhoc::AdhocOutput,
    console::ConsoleOutput,
    json::JsonOutput,
    live::{LiveBoard, LiveOutput},
    sink, Output, OutputOptions,
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
    Arc::new(base_registry())
}

fn base_registry() -> ModuleRegistry {
    kplay_engine::transport::persistent::set_preludes(kplay_modules::shell_preludes());
    let mut reg = ModuleRegistry::new();
    kplay_modules::register_all(&mut reg);
    reg.register(Arc::new(kplay_bundle::module::RegistryPush));
    reg
}

/// The registry plus the custom modules of the playbooks' `library/` directories, their roles'
/// `library/` directories and `ANSIBLE_LIBRARY`; a kplay module of the same name wins.
pub(crate) fn registry_with_library(
    playbooks: &[PathBuf],
    roles_path: &[PathBuf],
) -> Arc<ModuleRegistry> {
    let mut reg = base_registry();
    let mut dirs: Vec<PathBuf> = std::env::var("ANSIBLE_LIBRARY")
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let mut role_dirs: Vec<PathBuf> = roles_path.to_vec();
    for p in playbooks {
        let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
        dirs.push(base.join("library"));
        role_dirs.push(base.join("roles"));
    }
    for r in role_dirs {
        if let Ok(rd) = std::fs::read_dir(&r) {
            let mut roles: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path().join("library")))
                .collect();
            roles.sort();
            dirs.extend(roles);
        }
    }
    for m in kplay_modules::library_module::scan(&dirs) {
        if !reg.contains(kplay_engine::module::Module::name(&m)) {
            reg.register(Arc::new(m));
        }
    }
    Arc::new(reg)
}

/// A load error: one line naming file:line, exit 4 (as ansible-playbook does for parse errors),
/// then the offending line with a caret under the column, as Ansible shows it.
pub(crate) fn load_error(e: impl std::fmt::Display) -> u8 {
    let text = e.to_string();
    eprintln!("ERROR! {text}");
    if let Some(excerpt) = crate::excerpt::offending_line(&text) {
        eprintln!("{excerpt}");
    }
    exit::HOST_UNREACHABLE as u8
}

/// A usage error Ansible reports with exit 1 (`ERROR! …`).
fn error(e: impl std::fmt::Display) -> u8 {
    eprintln!("ERROR! {e}");
    exit::ERROR as u8
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
    crate::secret::read_password(prompt)
}

/// Options common to run/adhoc/plan, with ansible.cfg and ANSIBLE_* applied under the flags.
pub(crate) fn options(
    common: &CommonArgs,
    cfg: &Config,
    tags: &[String],
    skip_tags: &[String],
) -> Result<RunOptions, String> {
    // Secrets first: `-e @vaulted.yml` and everything loaded later may need them.
    crate::vault_cmd::install(&common.vault, cfg)?;
    let mut extra = Map::new();
    for e in &common.extra_vars {
        extra.extend(kplay_engine::vars::extra::parse_extra_vars(e).map_err(|e| e.to_string())?);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let access = &common.access;
    let password = if access.ask_pass {
        read_secret("SSH password: ")
    } else {
        None
    };
    let become_password = if access.ask_become_pass {
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
            remote_user: access.user.clone().or_else(|| cfg.remote_user.clone()),
            private_key_file: access
                .private_key
                .clone()
                .or_else(|| cfg.private_key_file.clone()),
            password,
            strict_host_keys: access.strict_host_keys,
            host_key_checking: cfg.host_key_checking,
            known_hosts: PathBuf::from(home).join(".kplay").join("known_hosts"),
            timeout: Duration::from_secs(cfg.timeout.unwrap_or(10)),
        },
        become_: if access.become_ {
            Some(true)
        } else {
            cfg.become_
        },
        become_user: access
            .become_user
            .clone()
            .or_else(|| cfg.become_user.clone()),
        become_method: access
            .become_method
            .clone()
            .or_else(|| cfg.become_method.clone()),
        become_password,
        gathering_explicit: cfg.gathering.as_deref() == Some("explicit"),
        gathering_smart: cfg.gathering.as_deref() == Some("smart"),
        fact_cache: kplay_engine::exec::fact_cache::FactCache::from_config(cfg)?,
        strategy: cfg.strategy.clone(),
        step: false,
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
    let ignore = cfg.inventory_ignore()?;
    Inventory::load_with(&srcs, ignore).map_err(|e| e.to_string())
}

/// The configuration and the run options made from it and the flags: what `run`, `plan` and
/// `adhoc` start from. The error is the exit code, its message already printed.
fn config_and_options(
    common: &CommonArgs,
    tags: &[String],
    skip_tags: &[String],
) -> Result<(Config, RunOptions), u8> {
    let cfg = load_config()?;
    let opts = options(common, &cfg, tags, skip_tags).map_err(load_error)?;
    Ok((cfg, opts))
}

/// What `run` and `plan` start from: the configuration, the run options, and the playbook
/// files (embedded content resolved, its roles path added to the options').
fn playbook_setup(pb: &PlaybookArgs) -> Result<(Config, RunOptions, Vec<PathBuf>), u8> {
    let (cfg, mut opts) = config_and_options(&pb.common, &pb.tags, &pb.skip_tags)?;
    let paths =
        crate::embedded::resolve_run(&pb.playbooks, &mut opts.roles_path).map_err(load_error)?;
    Ok((cfg, opts, paths))
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

pub(crate) fn output_options(common: &CommonArgs, cfg: &Config) -> OutputOptions {
    OutputOptions {
        verbosity: common.verbose,
        diff: common.diff,
        color: color_wanted(),
        yaml: cfg.yaml_results,
        custom_stats: cfg.show_custom_stats,
    }
}

/// The live view replaces the result lines on a terminal, unless `-v` asks for every result
/// line (or `KPLAY_LIVE=0` turns it off).
fn live_wanted(common: &CommonArgs) -> bool {
    common.verbose == 0
        && std::io::stdout().is_terminal()
        && std::env::var("KPLAY_LIVE").map_or(true, |v| v != "0")
}

fn output_for(common: &CommonArgs, cfg: &Config) -> Arc<dyn Output> {
    let out = text_or_json_output(common, cfg);
    let profile = cfg.callbacks.iter().any(|c| c == "profile_tasks");
    if profile && common.output == OutputFormat::Text {
        return Arc::new(kplay_engine::output::profile::ProfileTasks::new(out));
    }
    out
}

fn text_or_json_output(common: &CommonArgs, cfg: &Config) -> Arc<dyn Output> {
    let opts = output_options(common, cfg);
    match common.output {
        OutputFormat::Json => Arc::new(JsonOutput::new()),
        OutputFormat::Text if live_wanted(common) => {
            Arc::new(LiveOutput::new(LiveBoard::stdout(opts.color), opts))
        }
        OutputFormat::Text => Arc::new(ConsoleOutput::new(opts)),
    }
}

/// Run `work` on the runtime until it ends, Ctrl-C arrives or stdout closes. Ctrl-C stops the
/// hosts' commands, prints the recap (when `recap`) and `[ERROR]: User interrupted execution`,
/// and gives 99, as ansible-playbook; a closed stdout stops the hosts' commands and ends the
/// process by SIGPIPE, as any Unix tool.
fn drive(
    rt: &tokio::runtime::Runtime,
    runner: &Arc<Runner>,
    recap: bool,
    work: impl std::future::Future<Output = u8>,
) -> u8 {
    sink::on_closed(|| interrupt::request_stop(StopReason::StdoutClosed));
    rt.block_on(async {
        tokio::select! {
            code = work => code,
            reason = interrupt::stop_requested() => {
                interrupt::second_sigint_exits();
                runner.interrupt().await;
                match reason {
                    StopReason::StdoutClosed => sink::die_of_sigpipe(),
                    StopReason::Interrupted => {
                        if recap {
                            runner.finish_interrupted(interrupt::EXIT_INTERRUPTED).await;
                        }
                        eprintln!("[ERROR]: User interrupted execution");
                        // Not through the runtime's shutdown: a prompt may still block a thread.
                        std::process::exit(interrupt::EXIT_INTERRUPTED)
                    }
                }
            }
        }
    })
}

/// `--limit` that matches no host at all is a mistake, as ansible-playbook says.
fn check_limit(inventory: &Inventory, limit: Option<&str>) -> Result<(), u8> {
    let Some(limit) = limit else { return Ok(()) };
    match inventory.select(limit) {
        Ok(hosts) if hosts.is_empty() => {
            eprintln!("[WARNING]: Could not match supplied host pattern, ignoring: {limit}");
            Err(error(
                "Specified inventory, host pattern and/or --limit leaves us with no hosts to target.",
            ))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(error(format!("--limit: {e}"))),
    }
}

/// The `timer` callback's last line.
fn timer_line(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    format!(
        "Playbook run took {} days, {} hours, {} minutes, {} seconds",
        s / 86400,
        (s % 86400) / 3600,
        (s % 3600) / 60,
        s % 60
    )
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
    sink::line(&format!("\nplaybook: {}", pb.path.display()));
    for (i, play) in pb.plays.iter().enumerate() {
        sink::line(&format!(
            "\n  play #{} ({}): {}\tTAGS: {}",
            i + 1,
            kplay_engine::value::to_display_string(&play.hosts),
            play.name,
            fmt_tags(&play.tags)
        ));
        let plan =
            kplay_engine::exec::play::prepare_play(runner, play).map_err(|e| e.to_string())?;
        if args.list_hosts {
            let hosts = plan.as_ref().map(|p| p.hosts.clone()).unwrap_or_default();
            sink::line(&format!(
                "    pattern: ['{}']",
                kplay_engine::value::to_display_string(&play.hosts)
            ));
            sink::line(&format!("    hosts ({}):", hosts.len()));
            for h in hosts {
                sink::line(&format!("      {h}"));
            }
        }
        if args.list_tasks {
            sink::line("    tasks:");
            if let Some(plan) = &plan {
                for leaf in &plan.leaves {
                    if leaf.section == kplay_engine::plan::PlaySection::Facts {
                        continue;
                    }
                    sink::line(&format!(
                        "      {}\tTAGS: {}",
                        leaf.display_name,
                        fmt_tags(&leaf.tags)
                    ));
                }
            }
        }
        if args.list_tags {
            let mut all = BTreeSet::new();
            for items in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
                tags_of(items, &play.tags, &mut all);
            }
            sink::line(&format!("      TASK TAGS: {}", fmt_tags(&all)));
        }
    }
    Ok(())
}

/// `--start-at-task` naming no task of any play: Ansible's message, before any host is touched.
fn check_start_at(playbooks: &[Playbook], start: Option<&str>) -> Result<(), u8> {
    let Some(start) = start else { return Ok(()) };
    let found = playbooks
        .iter()
        .flat_map(|pb| pb.plays.iter())
        .any(|p| kplay_engine::plan::play_has_task(p, start));
    if found {
        Ok(())
    } else {
        Err(error(format!(
            "No matching task \"{start}\" found. Note: --start-at-task can only follow static includes."
        )))
    }
}

pub fn run(args: RunArgs) -> u8 {
    let started = std::time::Instant::now();
    let (cfg, mut opts, paths) = match playbook_setup(&args.playbook) {
        Ok(v) => v,
        Err(code) => return code,
    };
    opts.start_at_task = args.start_at_task.clone();
    opts.force_handlers = args.force_handlers;
    opts.step = args.step;
    let registry = registry_with_library(&paths, &opts.roles_path);
    for p in &paths {
        if !p.is_file() {
            return load_error(format!("the playbook: {} could not be found", p.display()));
        }
    }
    if args.syntax_check {
        return crate::syntax_cmd::run(&paths, &registry, &opts.roles_path, &opts.extra_vars);
    }
    let playbooks = match load_playbooks(&paths, &registry, &opts.roles_path, &opts.extra_vars) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    if let Err(code) = check_start_at(&playbooks, opts.start_at_task.as_deref()) {
        return code;
    }
    let inventory = match load_inventory(&args.playbook.common.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    for w in inventory.warnings() {
        eprintln!("[WARNING]: {w}");
    }
    if let Err(code) = check_limit(&inventory, opts.limit.as_deref()) {
        return code;
    }
    let playbook_dir = paths[0]
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let playbook_dir = std::fs::canonicalize(&playbook_dir).unwrap_or(playbook_dir);
    let out = output_for(&args.playbook.common, &cfg);
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
    let timer = cfg.callbacks.iter().any(|c| c == "timer")
        && args.playbook.common.output == OutputFormat::Text;
    drive(&rt, &runner, true, async {
        for pb in &playbooks {
            if let Err(e) = runner.run_playbook(pb).await {
                return load_error(e);
            }
        }
        let code = runner.finish().await as u8;
        if timer {
            sink::line(&timer_line(started.elapsed()));
        }
        code
    })
}

pub fn plan(args: PlanArgs) -> u8 {
    let (cfg, opts, paths) = match playbook_setup(&args.playbook) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let registry = registry_with_library(&paths, &opts.roles_path);
    let playbooks = match load_playbooks(&paths, &registry, &opts.roles_path, &opts.extra_vars) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    let inventory = match load_inventory(&args.playbook.common.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    if let Err(code) = check_limit(&inventory, opts.limit.as_deref()) {
        return code;
    }
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
        output_for(&args.playbook.common, &cfg),
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
        sink::text(&kplay_engine::plan::dot::to_dot(&refs));
    } else {
        for (name, p) in &plans {
            let lines = kplay_engine::plan::explain::barriers(p);
            sink::line(&format!(
                "PLAY [{name}]: {} hosts, {} tasks, {} nodes, {} barriers",
                p.hosts.len(),
                p.leaves.len(),
                p.graph.node_count(),
                lines.len()
            ));
            for l in lines {
                sink::line(&format!("  barrier {l}"));
            }
        }
    }
    0
}

pub fn inventory(args: InventoryArgs) -> u8 {
    let cfg = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = crate::vault_cmd::install(&args.vault, &cfg) {
        return load_error(e);
    }
    let inv = match load_inventory(&args.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    if let Some(h) = &args.host {
        return match inv.host_vars(h, None) {
            Ok(v) => {
                sink::line(&serde_json::to_string_pretty(&Value::Object(v)).unwrap_or_default());
                0
            }
            Err(e) => load_error(e),
        };
    }
    if args.graph {
        if args.vars {
            sink::line(&inv.to_graph_vars());
        } else {
            sink::line(&inv.to_graph());
        }
        return 0;
    }
    match inv.to_list_json() {
        Ok(v) => {
            sink::line(&serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }
        Err(e) => load_error(e),
    }
}

pub fn adhoc(args: AdhocArgs) -> u8 {
    let (cfg, opts) = match config_and_options(&args.common, &[], &[]) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let registry = registry();
    let inventory = match load_inventory(&args.common.inventory, &cfg) {
        Ok(i) => i,
        Err(e) => return load_error(e),
    };
    if let Err(code) = check_limit(&inventory, opts.limit.as_deref()) {
        return code;
    }
    // An ad-hoc run is a one-task play loaded as if it were a file in the current directory, so
    // relative paths (`copy src=hello.txt`) resolve from where the user is, as with `ansible`.
    let task_args: Value = match &args.args {
        None => Value::Null,
        Some(a) if a.trim_start().starts_with('{') => match serde_json::from_str(a) {
            Ok(v) => v,
            Err(e) => return load_error(format!("invalid JSON in -a: {e}")),
        },
        Some(a) => Value::String(a.clone()),
    };
    let play = serde_json::json!([{
        "name": "Ansible Ad-Hoc",
        "hosts": args.pattern,
        "gather_facts": args.gather_facts,
        "tasks": [{ args.module.clone(): task_args }],
    }]);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let playbook = match kplay_engine::exec::load_playbook_text(
        &play.to_string(),
        &cwd.join("<adhoc>"),
        &registry,
        &opts.roles_path,
        &opts.extra_vars,
    ) {
        Ok(p) => p,
        Err(e) => return load_error(e),
    };
    let oopts = output_options(&args.common, &cfg);
    let out: Arc<dyn Output> = match args.common.output {
        OutputFormat::Json => Arc::new(JsonOutput::new()),
        OutputFormat::Text if args.one_line => Arc::new(AdhocOutput::one_line(oopts)),
        OutputFormat::Text => Arc::new(AdhocOutput::new(oopts)),
    };
    let rt = runtime();
    let _rt_guard = rt.enter();
    let runner = Runner::new(opts, registry, inventory, &cwd, out);
    drive(&rt, &runner, false, async {
        if let Err(e) = runner.run_playbook(&playbook).await {
            return load_error(e);
        }
        let mut code = runner.finish_quiet().await;
        if code == 0 && runner.stats.lock().map(|s| s.is_empty()).unwrap_or(false) {
            eprintln!("[WARNING]: No hosts matched, nothing to do");
            code = 0;
        }
        code as u8
    })
}
