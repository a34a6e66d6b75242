//! Native types: what a templated string becomes, and how values look inside text.
//!
//! Behaviour chosen (ansible-core 2.18, default `jinja2_native = False`):
//! * a string that is exactly one `{{ expr }}` keeps the expression's native type (list, dict,
//!   bool, number, null). 2.18 would turn numbers into strings here; keeping them native is
//!   harmless (module arguments are coerced) and what 2.19 does.
//! * a string result (of a single expression or of a whole template) that starts with `[` or
//!   `{`, or is exactly `True`/`False`, goes through Python's `ast.literal_eval`, as 2.18's
//!   `ansible_eval_concat` does: `"[{{ a }}, {{ b }}]"` is a list, `"{{ d | to_json }}"` is a
//!   dict again. When it does not parse it stays a string.
//! * values printed inside text use Python's `str()`: `True`, `None`, `['a', 1]`, `{'k': 'v'}`.

use super::convert::to_json_value;
use super::literal::literal_eval;
use crate::value::Value;
use minijinja::value::{Value as MjValue, ValueKind};
use std::fmt::Write;

/// The parts of a string that is one `{{ expr }}` with only whitespace around it:
/// (leading whitespace, expression source, trailing whitespace).
pub fn single_expression(s: &str) -> Option<(&str, &str, &str)> {
    let body = s.trim();
    let lead = &s[..s.len() - s.trim_start().len()];
    let trail = &s[s.trim_end().len()..];
    let inner = body.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    let inner = inner.strip_prefix('+').unwrap_or(inner);
    if ["{{", "}}", "{%", "%}", "{#", "#}"]
        .iter()
        .any(|d| inner.contains(d))
    {
        return None;
    }
    Some((lead, inner, trail))
}

/// The value of a single-expression template, given the whitespace that surrounded it.
///
/// Non-string values keep their type; a string gets its whitespace back and then the
/// literal-eval treatment of [`string_result`].
pub fn native_result(lead: &str, v: &MjValue, trail: &str) -> Value {
    if v.kind() == ValueKind::String {
        let text = v.as_str().unwrap_or_default();
        if lead.is_empty() && trail.is_empty() {
            return string_result(text.to_string());
        }
        return string_result(format!("{lead}{text}{trail}"));
    }
    to_json_value(v)
}

/// A rendered string as Ansible 2.18 returns it (see the module docs).
pub fn string_result(s: String) -> Value {
    if s.starts_with('[') || s.starts_with('{') || s == "True" || s == "False" {
        if let Some(v) = literal_eval(&s) {
            return v;
        }
    }
    Value::String(s)
}

/// Python's `str()` of a template value, used when a value is printed inside text.
pub fn python_str(v: &MjValue) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined => String::new(),
        _ => {
            let mut out = String::new();
            write_repr(&mut out, v);
            out
        }
    }
}

/// Python's `repr()` of a template value.
pub fn python_repr(v: &MjValue) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &MjValue) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&python_number(v)),
        ValueKind::String => out.push_str(&quote_str(v.as_str().unwrap_or_default())),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(items) = v.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &item);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = v.try_iter() {
                for (i, k) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &k);
                    out.push_str(": ");
                    write_repr(out, &v.get_item(&k).unwrap_or_default());
                }
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
}

/// Python's spelling of a number: `1.0` for integral floats, `1e+20` for big ones.
pub fn python_number(v: &MjValue) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) if f.is_nan() => "nan".into(),
        Ok(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
        Ok(f) => {
            let s = format!("{f:?}");
            match s.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
                _ => s,
            }
        }
        Err(_) => v.to_string(),
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds `'` and no `"`.
pub fn quote_str(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_expression_splits_whitespace() {
        assert_eq!(
            single_expression(" {{ a | b }}\n"),
            Some((" ", " a | b ", "\n"))
        );
        assert_eq!(single_expression("{{ a }}-{{ b }}"), None);
        assert_eq!(single_expression("x{{ a }}"), None);
    }

    #[test]
    fn string_that_looks_like_a_list_becomes_a_list() {
        assert_eq!(string_result("['a', 'b']".into()), json!(["a", "b"]));
        assert_eq!(string_result("True".into()), json!(true));
        assert_eq!(string_result("[not python".into()), json!("[not python"));
        assert_eq!(string_result("5".into()), json!("5"));
    }

    #[test]
    fn native_string_keeps_surrounding_whitespace() {
        assert_eq!(native_result("", &MjValue::from("a"), "\n"), json!("a\n"));
        assert_eq!(native_result(" ", &MjValue::from(vec![1]), ""), json!([1]));
    }

    #[test]
    fn python_str_of_containers() {
        let v = MjValue::from_serialize(json!({"a": [true, null, "it's", 1.0]}));
        assert_eq!(python_str(&v), r#"{'a': [True, None, "it's", 1.0]}"#);
    }

    #[test]
    fn python_number_spellings() {
        assert_eq!(python_number(&MjValue::from(1e20)), "1e+20");
        assert_eq!(python_number(&MjValue::from(0.5)), "0.5");
        assert_eq!(python_number(&MjValue::from(3)), "3");
    }
}
