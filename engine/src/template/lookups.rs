//! Lookups: `lookup(name, *terms, **kw)`, `query(...)` / `q(...)`, run on the controller.
//!
//! Each lookup returns one value per term. `query` returns that list; `lookup` joins string
//! results with `,` (or returns the single/plain list for other values, as Ansible does) unless
//! `wantlist=True`. Plugins: `env`, `file`, `unvault`, `template`, `vars`, `pipe`, and the list-shaping
//! ones shared with `with_<name>` loops (`items`, `list`, `dict`, `indexed_items`, `nested`,
//! `together`, `subelements`, `sequence`, `fileglob`, `first_found`, `lines`), which run the
//! executor's loop logic on the terms.

use super::native::python_str;
use super::op_err;
use super::undefined::CTX_KEY;
use super::{from_json_value, to_json_value};
use crate::value::Value;
use minijinja::value::{Kwargs, Rest, Value as MjValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use std::path::{Path, PathBuf};

pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

fn lookup(
    state: &State,
    name: String,
    terms: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    let results = match guarded(state, &name, &terms, &kwargs)? {
        Some(r) => r,
        None if wantlist => return Ok(MjValue::from(Vec::<MjValue>::new())),
        None => return Ok(MjValue::from(())),
    };
    if wantlist {
        return Ok(MjValue::from(results));
    }
    if results.iter().all(|r| r.kind() == ValueKind::String) {
        let parts: Vec<String> = results.iter().map(python_str).collect();
        return Ok(MjValue::from(parts.join(",")));
    }
    if results.len() == 1 {
        return Ok(results.into_iter().next().unwrap_or_default());
    }
    Ok(MjValue::from(results))
}

fn query(
    state: &State,
    name: String,
    terms: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    Ok(MjValue::from(
        guarded(state, &name, &terms, &kwargs)?.unwrap_or_default(),
    ))
}

/// [`run`] under `errors=strict|warn|ignore`: with `warn` or `ignore` a failing lookup gives
/// `None` (an empty list for `query`/`wantlist`), as ansible-core does; an undefined variable
/// is always an error.
fn guarded(
    state: &State,
    name: &str,
    terms: &[MjValue],
    kwargs: &Kwargs,
) -> Result<Option<Vec<MjValue>>, Error> {
    let errors = kwargs
        .get::<Option<String>>("errors")?
        .unwrap_or_else(|| "strict".into());
    if !matches!(errors.as_str(), "strict" | "warn" | "ignore") {
        return Err(op_err(format!(
            "lookup: errors must be one of strict, warn, ignore, not {errors:?}"
        )));
    }
    match run(state, name, terms, kwargs) {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.kind() == ErrorKind::UndefinedError || errors == "strict" => Err(e),
        Err(e) => {
            if errors == "warn" {
                let detail = e
                    .detail()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string());
                crate::output::sink::err_line(&format!("[WARNING]: An unhandled exception occurred while running the lookup plugin '{name}'. Error was a {detail}"));
            }
            Ok(None)
        }
    }
}

/// Runs one lookup plugin over its terms (a list term counts as several terms).
fn run(
    state: &State,
    name: &str,
    terms: &[MjValue],
    kwargs: &Kwargs,
) -> Result<Vec<MjValue>, Error> {
    let _ = kwargs.get::<Option<MjValue>>("wantlist")?;
    let _ = kwargs.get::<Option<MjValue>>("errors")?;
    let short = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    if let Some(out) = loop_lookup(state, short, terms)? {
        kwargs.assert_all_used()?;
        return Ok(out);
    }
    let mut flat = Vec::new();
    for t in terms {
        super::defined(t)?;
        if t.kind() == ValueKind::Seq {
            flat.extend(t.try_iter()?);
        } else {
            flat.push(t.clone());
        }
    }
    let out = match name {
        "env" | "ansible.builtin.env" => {
            let default = kwargs
                .get::<Option<MjValue>>("default")?
                .unwrap_or(MjValue::from(""));
            flat.iter()
                .map(|t| {
                    Ok(std::env::var(python_str(t))
                        .map(MjValue::from)
                        .unwrap_or_else(|_| default.clone()))
                })
                .collect::<Result<Vec<_>, Error>>()?
        }
        "file" | "ansible.builtin.file" => {
            let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            let mut out = Vec::new();
            for t in &flat {
                let path = find_file(state, "files", &python_str(t))?;
                let mut s = read(&path)?;
                if rstrip {
                    s.truncate(s.trim_end().len());
                }
                if lstrip {
                    s = s.trim_start().to_string();
                }
                out.push(MjValue::from(s));
            }
            out
        }
        // The contents of vaulted (or plain) files, decrypted, nothing stripped.
        "unvault" | "ansible.builtin.unvault" => flat
            .iter()
            .map(|t| {
                Ok(MjValue::from(read(&find_file(
                    state,
                    "files",
                    &python_str(t),
                )?)?))
            })
            .collect::<Result<Vec<_>, Error>>()?,
        "template" | "ansible.builtin.template" => {
            let _ = kwargs.get::<Option<MjValue>>("convert_data")?;
            let ctx = state.lookup(CTX_KEY).unwrap_or(MjValue::from(()));
            let scope = super::undefined::Scope::wrap(&ctx);
            let mut out = Vec::new();
            for t in &flat {
                let path = find_file(state, "templates", &python_str(t))?;
                let text = read(&path)?;
                let rendered = state.env().render_str(&text, &scope).map_err(|e| {
                    let cause = super::undefined::explain(&e, &text, &scope);
                    op_err(format!("{}: {}", path.display(), cause.error.msg))
                })?;
                out.push(MjValue::from(rendered));
            }
            out
        }
        "vars" | "ansible.builtin.vars" => {
            let default = kwargs.get::<Option<MjValue>>("default")?;
            let mut out = Vec::new();
            for t in &flat {
                let name = python_str(t);
                match state.lookup(&name).filter(|v| !v.is_undefined()) {
                    Some(v) => out.push(v),
                    None => match &default {
                        Some(d) => out.push(d.clone()),
                        None => {
                            return Err(Error::new(
                                ErrorKind::UndefinedError,
                                format!("No variable found with this name: {name}"),
                            ))
                        }
                    },
                }
            }
            out
        }
        "pipe" | "ansible.builtin.pipe" => {
            let mut out = Vec::new();
            for t in &flat {
                out.push(MjValue::from(pipe(&python_str(t))?));
            }
            out
        }
        other => return Err(op_err(format!("lookup plugin '{other}' not found"))),
    };
    kwargs.assert_all_used()?;
    Ok(out)
}

/// Lookups that are the `with_<name>` loop shapes: the terms go to the executor's loop logic
/// (`crate::exec::loops::items`) as `with_<name>` would receive them. `None` for other names.
fn loop_lookup(
    state: &State,
    name: &str,
    terms: &[MjValue],
) -> Result<Option<Vec<MjValue>>, Error> {
    const KINDS: &[&str] = &[
        "items",
        "list",
        "flattened",
        "indexed_items",
        "dict",
        "together",
        "nested",
        "cartesian",
        "sequence",
        "subelements",
        "fileglob",
        "first_found",
        "lines",
    ];
    if !KINDS.contains(&name) {
        return Ok(None);
    }
    for t in terms {
        super::defined(t)?;
    }
    let values: Vec<Value> = terms.iter().map(to_json_value).collect();
    // One term that is the whole input for these; the others take the terms as a list.
    let single = matches!(name, "dict" | "sequence" | "first_found" | "subelements");
    let input = match values.as_slice() {
        [one]
            if single
                || matches!(one, Value::Array(_))
                    && !matches!(name, "nested" | "together" | "list") =>
        {
            one.clone()
        }
        _ => Value::Array(values),
    };
    let items = crate::exec::loops::items(name, input, &search_dirs(state)?).map_err(op_err)?;
    Ok(Some(items.iter().map(from_json_value).collect()))
}

/// `lookup('pipe', cmd)`: the command's standard output on the controller, trailing
/// whitespace removed; a failing command is an error.
fn pipe(cmd: &str) -> Result<String, Error> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| op_err(format!("lookup_plugin.pipe({cmd}): {e}")))?;
    if !out.status.success() {
        return Err(op_err(format!(
            "lookup_plugin.pipe({cmd}) returned {}",
            out.status.code().unwrap_or(-1)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim_end().to_string())
}

/// The directories of `ansible_search_path`, or the current directory.
fn search_dirs(state: &State) -> Result<Vec<PathBuf>, Error> {
    Ok(
        match state
            .lookup("ansible_search_path")
            .filter(|v| v.kind() == ValueKind::Seq)
        {
            Some(list) => list
                .try_iter()?
                .map(|d| PathBuf::from(python_str(&d)))
                .collect(),
            None => vec![std::env::current_dir().unwrap_or_default()],
        },
    )
}

/// A file's text; a vault-encrypted file is decrypted with the run's secrets, as Ansible's
/// `file` and `template` lookups do.
fn read(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| op_err(format!("could not read '{}': {e}", path.display())))?;
    if crate::vault::is_encrypted(&text) {
        return crate::vault::decrypt_text(&text)
            .map(|plain| plain.to_string())
            .map_err(|e| op_err(format!("{}: {e}", path.display())));
    }
    Ok(text)
}

/// Ansible's search: absolute paths as they are; otherwise each directory of the variable
/// `ansible_search_path` (or the current directory), trying `dir/<subdir>/name` then `dir/name`.
fn find_file(state: &State, subdir: &str, name: &str) -> Result<PathBuf, Error> {
    let p = Path::new(name);
    if p.is_absolute() {
        return if p.exists() {
            Ok(p.to_path_buf())
        } else {
            Err(not_found(name))
        };
    }
    for d in &search_dirs(state)? {
        for candidate in [d.join(subdir).join(name), d.join(name)] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(not_found(name))
}

fn not_found(name: &str) -> Error {
    op_err(format!("Unable to find '{name}' in expected paths"))
}
