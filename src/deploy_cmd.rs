//! `kplay deploy | reset | config init | init | diff-embedded`: command-line options to the
//! kplay-deploy crate, with the embedded content and the module registry plugged in.

use crate::cli::{ConfigCommand, ConnArgs, DeployArgs, Progress, ResetArgs, TargetArgs};
use crate::run_cmd::{load_config, options, output_options, registry};
use kplay_deploy::error::EXIT_REFUSED;
use kplay_deploy::layout::Layout;
use kplay_deploy::plan::Selection;
use kplay_deploy::view::{live::LiveView, plain::PlainView, View};
use kplay_deploy::DeployError;
use kplay_engine::output::console::ConsoleOutput;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fail(e: impl std::fmt::Display, code: i32) -> u8 {
    eprintln!("ERROR! {e}");
    code as u8
}

fn deploy_error(e: DeployError) -> u8 {
    fail(&e, e.exit_code())
}

/// Where `playbooks/<file>` comes from: DIR of `--content DIR` only; otherwise the working
/// directory's `playbooks/` first and kplay's embedded content after it (files on disk win).
/// Extends `roles_path` with the matching roles directory.
fn resolver(
    content: Option<&Path>,
    roles_path: &mut Vec<PathBuf>,
) -> Result<kplay_deploy::run::Resolver, String> {
    if let Some(dir) = content {
        let dir =
            std::fs::canonicalize(dir).map_err(|e| format!("--content {}: {e}", dir.display()))?;
        roles_path.push(dir.join("roles"));
        return Ok(Box::new(move |f: &str| {
            let p = dir.join("playbooks").join(f);
            p.is_file().then_some(p)
        }));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("the working directory: {e}"))?;
    let root = crate::embedded::default_cache_root()
        .and_then(|r| crate::embedded::ensure_extracted(&r))
        .map_err(|e| e.to_string())?;
    roles_path.push(root.join("roles"));
    Ok(Box::new(move |f: &str| {
        let disk = cwd.join("playbooks").join(f);
        if disk.is_file() {
            return Some(disk);
        }
        let embedded = root.join("playbooks").join(f);
        embedded.is_file().then_some(embedded)
    }))
}

/// What `-i`/`-c` resolve to: inventory sources, layout, and the config's settings if any.
struct Target {
    inventory: Vec<String>,
    layout: Layout,
    config_vars: kplay_engine::value::Map,
    config_bundle: Option<PathBuf>,
}

fn target(t: &TargetArgs) -> Result<Target, DeployError> {
    inventory_target(t, t.inventory.clone())
}

/// `--lab`: the lab's deploy inventory (and the lab bundle, when one is given).
fn lab_target(
    t: &TargetArgs,
    lab: &crate::deploy_lab::LabTarget,
    bundle: Option<PathBuf>,
) -> Result<Target, DeployError> {
    let mut out = inventory_target(t, vec![lab.inventory.display().to_string()])?;
    out.config_bundle = bundle;
    Ok(out)
}

fn inventory_target(t: &TargetArgs, inventory: Vec<String>) -> Result<Target, DeployError> {
    let cwd = std::env::current_dir().map_err(|e| DeployError::io("reading", ".", e))?;
    let mut out = match &t.config {
        Some(cfg_path) => {
            let cfg = kplay_deploy::config::load(cfg_path)?;
            let layout = Layout::for_config(cfg_path, &cwd);
            let inv = layout.generated_inventory();
            kplay_deploy::config::write_inventory(&cfg, cfg_path, &inv)?;
            Target {
                inventory: vec![inv.display().to_string()],
                layout,
                config_vars: cfg.vars,
                config_bundle: cfg.bundle,
            }
        }
        None => Target {
            layout: Layout::for_inventory(&inventory, &cwd),
            inventory,
            config_vars: Default::default(),
            config_bundle: None,
        },
    };
    if let Some(s) = &t.state {
        out.layout.state = cwd.join(s);
    }
    Ok(out)
}

/// The engine half: modules, run options (config settings under `-e`), content resolution;
/// with the configuration it was made from (the output options read it too).
fn engine(
    conn: &ConnArgs,
    t: &TargetArgs,
    target: &Target,
) -> Result<(kplay_engine::config::Config, kplay_deploy::Engine), u8> {
    let cfg = load_config()?;
    let common = conn.to_common(target.inventory.clone());
    let mut opts = options(&common, &cfg, &[], &[]).map_err(|e| fail(e, EXIT_REFUSED))?;
    let mut vars = target.config_vars.clone();
    vars.extend(std::mem::take(&mut opts.extra_vars));
    opts.extra_vars = vars;
    let resolve =
        resolver(t.content.as_deref(), &mut opts.roles_path).map_err(|e| fail(e, EXIT_REFUSED))?;
    let engine = kplay_deploy::Engine {
        registry: registry(),
        options: opts,
        resolve,
        kplay_binary: std::env::current_exe().ok(),
    };
    Ok((cfg, engine))
}

pub fn deploy(args: DeployArgs) -> u8 {
    // Steps named wrongly are refused before a lab comes up or a bundle is built.
    if let Err(e) = selection(&args) {
        return deploy_error(e);
    }
    let mut lab = None;
    let tgt = match &args.target.lab {
        Some(name) => {
            let prepared = if args.list {
                match crate::deploy_lab::describe(name, args.target.content.as_deref()) {
                    Ok(text) => eprint!("{text}"),
                    Err(e) => return fail(e, 1),
                }
                match crate::deploy_lab::existing(name) {
                    // Nothing is up yet: every step would run.
                    Ok(None) => return 0,
                    Ok(Some(t)) => Ok((
                        t,
                        crate::deploy_lab::cached_bundle(args.target.content.as_deref()),
                    )),
                    Err(e) => Err(e),
                }
            } else {
                crate::deploy_lab::up(name).and_then(|t| {
                    let bundle = match &args.bundle {
                        Some(_) => None,
                        None => Some(crate::deploy_lab::bundle(args.target.content.as_deref())?),
                    };
                    Ok((t, bundle))
                })
            };
            let (t, bundle) = match prepared {
                Ok(x) => x,
                Err(e) => return fail(e, 1),
            };
            let tgt = match lab_target(&args.target, &t, bundle) {
                Ok(tgt) => tgt,
                Err(e) => return deploy_error(e),
            };
            lab = Some(t);
            tgt
        }
        None => match target(&args.target) {
            Ok(t) => t,
            Err(e) => return deploy_error(e),
        },
    };
    let selection = match selection(&args) {
        Ok(s) => s,
        Err(e) => return deploy_error(e),
    };
    let (cfg, eng) = match engine(&args.conn, &args.target, &tgt) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut layout = tgt.layout.clone();
    if let Some(h) = &args.hooks {
        layout.hooks = h.clone();
    }
    let req = kplay_deploy::Request {
        inventory: tgt.inventory.clone(),
        layout,
        bundle: args.bundle.clone().or(tgt.config_bundle.clone()),
        selection,
        list_only: args.list,
    };
    let opts = output_options(&args.conn.to_common(vec![]), &cfg);
    let live = match args.progress {
        Progress::Live => true,
        Progress::Plain => false,
        Progress::Auto => {
            std::io::stdout().is_terminal()
                && args.conn.verbose == 0
                && std::env::var("KPLAY_LIVE").map_or(true, |v| v != "0")
        }
    };
    let view: Box<dyn View> = if live {
        Box::new(LiveView::new(opts))
    } else {
        Box::new(PlainView::new(opts))
    };
    match kplay_deploy::deploy(&req, &eng, view.as_ref()) {
        Ok(code) => {
            if let (0, false, Some(t)) = (code, args.list, &lab) {
                crate::deploy_lab::print(&crate::deploy_lab::reach(t));
            }
            code as u8
        }
        Err(e) => deploy_error(e),
    }
}

/// `--from`/`--only`/`--force` as the plan takes them.
fn selection(args: &DeployArgs) -> Result<Selection, DeployError> {
    let mut selection = Selection {
        force: args.force,
        ..Default::default()
    };
    selection.only = args
        .only
        .iter()
        .map(|w| kplay_deploy::steps::parse(w))
        .collect::<Result<_, _>>()?;
    if let Some(f) = &args.from {
        selection.from = Some(kplay_deploy::steps::parse(f)?);
    }
    if let Some(t) = &args.to {
        selection.to = Some(kplay_deploy::steps::parse(t)?);
    }
    Ok(selection)
}

/// Asks on the terminal; true only for an explicit "yes".
fn confirm(question: &str) -> bool {
    eprint!("{question} ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim().eq_ignore_ascii_case("yes")
}

pub fn reset(args: ResetArgs) -> u8 {
    let tgt = match &args.target.lab {
        Some(name) => match crate::deploy_lab::existing(name) {
            Ok(Some(t)) => match lab_target(&args.target, &t, None) {
                Ok(tgt) => tgt,
                Err(e) => return deploy_error(e),
            },
            Ok(None) => {
                return fail(
                    format!("lab {name:?} is not up with its {} hosts: nothing to reset (kplay deploy --lab {name} brings it up)", crate::deploy_lab::LAB_HOSTS),
                    EXIT_REFUSED,
                )
            }
            Err(e) => return fail(e, EXIT_REFUSED),
        },
        None => match target(&args.target) {
            Ok(t) => t,
            Err(e) => return deploy_error(e),
        },
    };
    let req = kplay_deploy::reset::Request {
        inventory: tgt.inventory.clone(),
        layout: tgt.layout.clone(),
    };
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return fail(
                "kplay reset removes the cluster from every host; it asks for confirmation on a \
                 terminal, so without one pass --yes",
                EXIT_REFUSED,
            );
        }
        let hosts = match kplay_deploy::reset::hosts(&req) {
            Ok(h) => h,
            Err(e) => return deploy_error(e),
        };
        let q = format!(
            "This removes what kplay deploy installed (services, data, certificates, packages) from {} hosts: {}.\nType yes to continue:",
            hosts.len(),
            hosts.join(", ")
        );
        if !confirm(&q) {
            eprintln!("reset cancelled; nothing was changed");
            return 1;
        }
    }
    let (cfg, eng) = match engine(&args.conn, &args.target, &tgt) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let out = Arc::new(ConsoleOutput::new(output_options(
        &args.conn.to_common(vec![]),
        &cfg,
    )));
    match kplay_deploy::reset::reset(&req, &eng, out) {
        Ok(code) => code as u8,
        Err(e) => deploy_error(e),
    }
}

pub fn config(cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Init { file, force } => {
            let text = kplay_deploy::config::SAMPLE;
            if file.as_os_str() == "-" {
                print!("{text}");
                return 0;
            }
            if file.exists() && !force {
                return fail(
                    format!(
                        "{} already exists; pass --force to overwrite it",
                        file.display()
                    ),
                    1,
                );
            }
            match std::fs::write(&file, text) {
                Ok(()) => {
                    println!(
                        "wrote {}: edit it, then run kplay deploy -c {} --bundle DIR",
                        file.display(),
                        file.display()
                    );
                    0
                }
                Err(e) => fail(format!("writing {}: {e}", file.display()), 1),
            }
        }
    }
}

pub fn init(dir: &Path) -> u8 {
    if let Err(e) = crate::embedded::extract_to(dir) {
        return fail(e, 1);
    }
    let d = dir.display();
    println!("wrote kplay's playbooks, roles, group_vars and a sample inventory to {d}");
    println!("next:");
    println!("  cp -r {d}/inventory/sample {d}/inventory/mycluster   # then edit hosts.ini");
    println!("  kplay deploy --content {d} -i {d}/inventory/mycluster/hosts.ini --bundle BUNDLE");
    println!("  kplay diff-embedded {d}                                # what you changed");
    0
}

pub fn diff_embedded(dir: &Path) -> u8 {
    if !dir.is_dir() {
        return fail(
            format!(
                "{} is not a directory (write one with kplay init DIR)",
                dir.display()
            ),
            1,
        );
    }
    let files = crate::embedded::files();
    let r = kplay_deploy::diff::compare(&files, dir);
    print!("{}", r.text);
    if r.is_empty() {
        println!("{} matches the embedded content", dir.display());
        0
    } else {
        println!(
            "{} modified, {} added, {} deleted",
            r.modified, r.added, r.deleted
        );
        // diff(1)'s convention: 1 when there are differences.
        1
    }
}
