//! `kplay run --syntax-check`: every problem of the playbook tree, each with file:line, then
//! exit 4 (ansible-core stops at the first; kplay lists them all so one pass finds everything).

use kplay_engine::exec::exit;
use kplay_engine::module::ModuleRegistry;
use kplay_engine::output::sink;
use kplay_engine::value::{to_display_string, Map, Value};
use kplay_modules::common::args::Spec;
use std::collections::HashMap;
use std::path::PathBuf;

/// Checks arguments given as literals against the module's declared spec: unknown names and
/// values outside `choices`. Templated values (and whole-argument expressions) are left to run
/// time, when their values are known.
pub(crate) fn arg_checker(registry: &ModuleRegistry) -> impl Fn(&str, &Map) -> Option<String> + '_ {
    let specs: HashMap<&'static str, &'static Spec> = kplay_modules::specs()
        .into_iter()
        .map(|(_, s)| (s.module, s))
        .collect();
    move |action: &str, args: &Map| {
        let module = registry.get(action)?;
        let spec = specs.get(module.name())?;
        check(spec, args)
    }
}

fn check(spec: &Spec, args: &Map) -> Option<String> {
    // set_fact takes any variable names; package hands what it does not know to the host's
    // package manager module (as ansible-core's does), so neither can be judged by its spec.
    if matches!(spec.module, "set_fact" | "package") {
        return None;
    }
    let find = |k: &str| spec.all().find(|p| p.name == k || p.aliases.contains(&k));
    let mut unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('_') && !k.contains("{{") && find(k).is_none())
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        let mut names: Vec<&str> = spec.all().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        return Some(format!(
            "Unsupported parameters for ({}) module: {}. Supported parameters include: {}.",
            spec.module,
            unknown.join(", "),
            names.join(", ")
        ));
    }
    for (k, v) in args {
        let Some(p) = find(k) else { continue };
        if p.choices.is_empty() {
            continue;
        }
        let literal = match v {
            Value::String(s) if !s.contains("{{") && !s.contains("{%") => s.clone(),
            Value::Bool(_) | Value::Number(_) => to_display_string(v),
            _ => continue,
        };
        if !p.choices.contains(&literal.as_str()) {
            return Some(format!(
                "value of {} must be one of: {}, got: {literal}",
                p.name,
                p.choices.join(", ")
            ));
        }
    }
    None
}

/// Prints the playbooks (clean tree: exit 0) or every problem found (exit 4).
pub(crate) fn run(
    paths: &[PathBuf],
    registry: &ModuleRegistry,
    roles_path: &[PathBuf],
    extra_vars: &Map,
) -> u8 {
    let checker = arg_checker(registry);
    let errors = kplay_engine::playbook::syntax::syntax_check(
        paths, registry, roles_path, extra_vars, &checker,
    );
    if errors.is_empty() {
        for p in paths {
            sink::line(&format!("\nplaybook: {}", p.display()));
        }
        return 0;
    }
    for e in &errors {
        let text = e.to_string();
        eprintln!("ERROR! {text}");
        if let Some(excerpt) = crate::excerpt::offending_line(&text) {
            eprintln!("{excerpt}");
        }
    }
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "syntax check: {} problem(s) in {}",
        errors.len(),
        files.join(", ")
    );
    exit::HOST_UNREACHABLE as u8
}
