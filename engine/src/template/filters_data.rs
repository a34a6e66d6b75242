//! Data-format filters: JSON and YAML in and out, base64, hashes, `indent`.
//!
//! `to_json` / `to_nice_json` reproduce Python's `json.dumps` text (`", "` / `": "` separators,
//! `ensure_ascii`, `1.0` floats), because users compare and write these strings to files.

use super::convert::{from_json_value, to_json_value};
use super::filters_strings::text;
use super::{defined, op_err};
use crate::value::Value;
use base64::Engine as _;
use minijinja::value::{Kwargs, Value as MjValue};
use minijinja::{Environment, Error};
use sha1::Digest as _;
use std::fmt::Write;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("from_yaml_all", from_yaml_all);
    env.add_filter("b64encode", |v: &MjValue| -> Result<String, Error> {
        Ok(base64::engine::general_purpose::STANDARD.encode(text(v)?))
    });
    env.add_filter("b64decode", b64decode);
    env.add_filter("hash", hash);
    env.add_filter("checksum", |v: &MjValue| hash(v, None));
    env.add_filter("indent", indent);
}

/// Ansible's `to_json(**kw)`: Python `json.dumps` (kwargs `indent`, `sort_keys`, `ensure_ascii`).
fn to_json(v: &MjValue, kwargs: Kwargs) -> Result<String, Error> {
    defined(v)?;
    let indent = kwargs.get::<Option<usize>>("indent")?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let opts = JsonOpts {
        indent,
        sort_keys,
        ensure_ascii,
        item_sep: if indent.is_some() { "," } else { ", " },
    };
    Ok(python_json(&to_json_value(v), &opts))
}

/// Ansible's `to_nice_json(indent=4, sort_keys=True)`.
fn to_nice_json(v: &MjValue, kwargs: Kwargs) -> Result<String, Error> {
    defined(v)?;
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let opts = JsonOpts {
        indent: Some(indent),
        sort_keys,
        ensure_ascii,
        item_sep: ",",
    };
    Ok(python_json(&to_json_value(v), &opts))
}

/// Options of Python's `json.dumps` that Ansible's filters use.
pub struct JsonOpts {
    pub indent: Option<usize>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub item_sep: &'static str,
}

/// Python `json.dumps` text of a value.
pub fn python_json(v: &Value, opts: &JsonOpts) -> String {
    let mut out = String::new();
    write_json(&mut out, v, opts, 0);
    out
}

fn write_json(out: &mut String, v: &Value, opts: &JsonOpts, depth: usize) {
    let newline = |out: &mut String, d: usize| {
        if let Some(n) = opts.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * d));
        }
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&super::native::python_number(&MjValue::from(
                    n.as_f64().unwrap_or(0.0),
                )));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_json_str(out, s, opts.ensure_ascii),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(opts.item_sep);
                }
                newline(out, depth + 1);
                write_json(out, item, opts, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(opts.item_sep);
                }
                newline(out, depth + 1);
                write_json_str(out, k, opts.ensure_ascii);
                out.push_str(": ");
                write_json(out, x, opts, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        if let Some(e) = crate::yaml::short_escape(c) {
            out.push_str(e);
            continue;
        }
        match c {
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !c.is_ascii()) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn from_json(v: &MjValue) -> Result<MjValue, Error> {
    let s = text(v)?;
    let parsed: Value = serde_json::from_str(&s).map_err(|e| op_err(format!("from_json: {e}")))?;
    Ok(from_json_value(&parsed))
}

/// Ansible's `to_yaml`: PyYAML's `yaml.dump` with its default flow style (collections of
/// scalars in flow style), `indent=2`; `default_flow_style=False` gives the block layout.
fn to_yaml(v: &MjValue, kwargs: Kwargs) -> Result<String, Error> {
    defined(v)?;
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
    let flow = kwargs.get::<Option<MjValue>>("default_flow_style")?;
    accept_yaml_kwargs(&kwargs)?;
    let value = to_json_value(v);
    Ok(match flow {
        Some(f) if !f.is_none() && !f.is_true() => crate::yaml::to_nice_yaml(&value, indent),
        _ => crate::yaml::to_yaml(&value, indent),
    })
}

/// Ansible's `to_nice_yaml(indent=4)`: PyYAML's block layout (see `crate::yaml::to_nice_yaml`).
fn to_nice_yaml(v: &MjValue, kwargs: Kwargs) -> Result<String, Error> {
    defined(v)?;
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    accept_yaml_kwargs(&kwargs)?;
    Ok(crate::yaml::to_nice_yaml(&to_json_value(v), indent))
}

/// PyYAML dump options accepted for compatibility and otherwise ignored.
fn accept_yaml_kwargs(kwargs: &Kwargs) -> Result<(), Error> {
    for k in [
        "default_flow_style",
        "width",
        "sort_keys",
        "allow_unicode",
        "explicit_start",
    ] {
        let _ = kwargs.get::<Option<MjValue>>(k)?;
    }
    kwargs.assert_all_used()
}

fn from_yaml(v: &MjValue) -> Result<MjValue, Error> {
    let s = text(v)?;
    let docs = crate::yaml::load_str(&s, "<from_yaml>")
        .map_err(|e| op_err(format!("from_yaml: {}", e.msg)))?;
    Ok(docs
        .first()
        .map(|d| from_json_value(&d.to_value()))
        .unwrap_or(MjValue::from(())))
}

/// Every document of a YAML stream, as a list.
fn from_yaml_all(v: &MjValue) -> Result<MjValue, Error> {
    if v.kind() != minijinja::value::ValueKind::String {
        return Ok(v.clone());
    }
    let s = text(v)?;
    let docs = crate::yaml::load_str(&s, "<from_yaml_all>")
        .map_err(|e| op_err(format!("from_yaml_all: {}", e.msg)))?;
    Ok(MjValue::from(
        docs.iter()
            .map(|d| from_json_value(&d.to_value()))
            .collect::<Vec<_>>(),
    ))
}

fn b64decode(v: &MjValue) -> Result<String, Error> {
    let s = text(v)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| op_err(format!("b64decode: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Ansible's `hash(hashtype='sha1')` (sha1, sha224, sha256, sha384, sha512).
fn hash(v: &MjValue, algo: Option<String>) -> Result<String, Error> {
    let data = text(v)?;
    let bytes = data.as_bytes();
    Ok(match algo.as_deref().unwrap_or("sha1") {
        "md5" => super::filters_text::md5_hex(bytes),
        "sha1" => hex::encode(sha1::Sha1::digest(bytes)),
        "sha224" => hex::encode(sha2::Sha224::digest(bytes)),
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha384" => hex::encode(sha2::Sha384::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        other => return Err(op_err(format!("hash: unsupported hash type '{other}'"))),
    })
}

/// Jinja2's `indent(width=4, first=False, blank=False)`; `width` may be a string.
fn indent(
    v: &MjValue,
    width: Option<MjValue>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let s = text(v)?;
    let width = kwargs.get::<Option<MjValue>>("width")?.or(width);
    let first = kwargs
        .get::<Option<bool>>("first")?
        .or(first)
        .unwrap_or(false);
    let blank = kwargs
        .get::<Option<bool>>("blank")?
        .or(blank)
        .unwrap_or(false);
    kwargs.assert_all_used()?;
    let pad = match &width {
        Some(w) if w.as_str().is_some() => w.as_str().unwrap_or_default().to_string(),
        Some(w) => {
            let n = w.as_usize().unwrap_or(4);
            let lines = s.lines().count().max(1) as u128;
            super::limits::string("indent", (n as u128).saturating_mul(lines))?;
            " ".repeat(n)
        }
        None => "    ".to_string(),
    };
    let with_nl = format!("{s}\n");
    let lines: Vec<&str> = with_nl.lines().collect();
    let mut rv = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            rv.push('\n');
            if blank || !line.is_empty() {
                rv.push_str(&pad);
            }
        }
        rv.push_str(line);
    }
    if first {
        rv.insert_str(0, &pad);
    }
    Ok(rv)
}
