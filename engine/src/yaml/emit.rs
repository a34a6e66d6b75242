//! `to_nice_yaml`: block-style YAML laid out the way PyYAML's `yaml.dump(..., indent=N,
//! default_flow_style=False)` lays it out (what Ansible's filter calls), so templated config files
//! look familiar: keys sorted, sequences inside mappings not indented, `-` padded to the indent.
//!
//! Strings are quoted exactly when a YAML 1.1 reader would otherwise read them as something else
//! (`'yes'`, `'0644'`, `''`) or when plain style cannot hold them. Known difference: PyYAML folds
//! long plain strings at 80 columns and writes multi-line strings single-quoted; here they stay on
//! one line, multi-line ones double-quoted with `\n`. Both read back to the same value.

use super::scalar::resolve_plain;
use super::NodeKind;
use crate::value::{Map, Value};
use std::fmt::Write;

/// Render `v` as block YAML with `indent` spaces per level (PyYAML accepts 2..=9, else uses 2).
pub fn to_nice_yaml(v: &Value, indent: usize) -> String {
    let ind = if (2..=9).contains(&indent) { indent } else { 2 };
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => block_map(&mut out, m, 0, ind, false),
        Value::Array(s) if !s.is_empty() => block_seq(&mut out, s, 0, ind, false),
        other => {
            let text = scalar_text(other);
            out.push_str(&text);
            out.push('\n');
            // PyYAML closes a document whose root is a plain scalar with an explicit end marker.
            if !text.starts_with(['\'', '"', '{', '[']) {
                out.push_str("...\n");
            }
        }
    }
    out
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(s) if !s.is_empty())
}

fn pad(out: &mut String, col: usize) {
    out.push_str(&" ".repeat(col));
}

fn block_map(out: &mut String, m: &Map, col: usize, ind: usize, first_inline: bool) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, col);
        }
        out.push_str(&string_text(key));
        out.push(':');
        match &m[key.as_str()] {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                block_map(out, inner, col + ind, ind, false);
            }
            // A sequence under a key is written at the key's own column, as PyYAML does.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                block_seq(out, items, col, ind, false);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn block_seq(out: &mut String, items: &[Value], col: usize, ind: usize, first_inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, col);
        }
        out.push('-');
        pad(out, ind - 1);
        match item {
            Value::Object(m) if is_block(item) => block_map(out, m, col + ind, ind, true),
            Value::Array(s) if is_block(item) => block_seq(out, s, col + ind, ind, true),
            scalar => {
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => yaml_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => string_text(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A float as PyYAML writes it: Python's repr, with `.0` added before a bare exponent.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let repr = python_float_repr(f);
    match repr.split_once('e') {
        Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0e{exp}"),
        _ => repr,
    }
}

/// Python's `repr()` of a float: shortest round-trip digits, exponent form outside 1e-4..1e16.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let sci = format!("{f:e}");
        return match sci.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => sci,
        };
    }
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Plain when a reader gets the same string back, otherwise single- or double-quoted.
fn string_text(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        return double_quoted(s);
    }
    if plain_is_safe(s) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !matches!(resolve_plain(s), NodeKind::Str(_)) || s == "<<" || s == "=" {
        return false;
    }
    if first == ' ' || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    let second_blank = !matches!(s.chars().nth(1), Some(c) if c != ' ');
    if "-?:".contains(first) && second_blank {
        return false;
    }
    // Timestamps read back as dates in PyYAML; quote them to stay strings.
    if looks_like_timestamp(s) {
        return false;
    }
    !(s.contains(": ") || s.contains(" #") || s.starts_with("---") || s.starts_with("..."))
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_layout_matches_pyyaml_with_indent_4() {
        let v = json!({"b": {"c": 1, "a": [1, {"x": 1, "y": "z"}, [2, 3]]}, "a": []});
        let want = "a: []\nb:\n    a:\n    -   1\n    -   x: 1\n        y: z\n    -   -   2\n        -   3\n    c: 1\n";
        assert_eq!(to_nice_yaml(&v, 4), want);
    }

    #[test]
    fn indent_2_uses_plain_dash() {
        assert_eq!(to_nice_yaml(&json!({"l": [1, 2]}), 2), "l:\n- 1\n- 2\n");
    }

    #[test]
    fn strings_that_would_change_type_are_quoted() {
        let v = json!([
            "yes",
            "0644",
            "",
            "1.5",
            "null",
            "a: b",
            "plain text",
            "it's",
            "2024-01-01"
        ]);
        let want = "- 'yes'\n- '0644'\n- ''\n- '1.5'\n- 'null'\n- 'a: b'\n- plain text\n- it's\n- '2024-01-01'\n";
        assert_eq!(to_nice_yaml(&v, 2), want);
    }

    #[test]
    fn multiline_strings_are_double_quoted() {
        assert_eq!(to_nice_yaml(&json!({"k": "a\nb"}), 2), "k: \"a\\nb\"\n");
    }

    #[test]
    fn floats_print_like_pyyaml() {
        let v = json!([1.0, 0.5, 1e20, 1.5e-7]);
        assert_eq!(to_nice_yaml(&v, 2), "- 1.0\n- 0.5\n- 1.0e+20\n- 1.5e-07\n");
    }

    #[test]
    fn root_scalar_gets_document_end() {
        assert_eq!(to_nice_yaml(&json!("hi"), 4), "hi\n...\n");
        assert_eq!(to_nice_yaml(&json!("yes"), 4), "'yes'\n");
    }

    #[test]
    fn output_reads_back_to_the_same_value() {
        let v = json!({"s": ["-x", "- y", "#c", "a #b", "x:", " pad", "q\"d", "tab\there", "~"], "n": null, "t": true});
        let text = to_nice_yaml(&v, 4);
        let back = super::super::load_one(&text, "out.yml")
            .ok()
            .flatten()
            .map(|n| n.to_value());
        assert_eq!(back, Some(v), "{text}");
    }
}
