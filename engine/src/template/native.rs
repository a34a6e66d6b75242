//! Native types: what a templated string becomes, and how values look inside text.
//!
//! Behaviour reproduced (ansible-core 2.18, default `jinja2_native = False`, whose
//! `Templar.template` + `ansible_eval_concat` decide the type):
//! * a string that is exactly `{{ name }}` (one optional trailing newline allowed, as Python's
//!   `$` allows) naming a variable whose value is a bool, a number or null returns that value;
//! * otherwise the template is rendered to text (one trailing newline of the source is dropped
//!   first, as Jinja's lexer does). A template that is one `{{ expr }}` node whose value is a
//!   list or a dict gives that value back (2.18 goes through `str()` and `literal_eval`, which
//!   round-trips); every other value becomes its Python `str()`: `{{ n + 1 }}` is the string
//!   `"81"`;
//! * the text, when it starts with `[` or `{` or is exactly `True`/`False`, goes through Python's
//!   `ast.literal_eval` (`true`/`false`/`null` accepted): `"[{{ a }}, {{ b }}]"` is a list. The
//!   exception is a single node produced by one of Ansible's `STRING_TYPE_FILTERS` (`string`,
//!   `to_json`, `to_nice_json`, `to_yaml`, `to_nice_yaml`, …): that stays a string, so
//!   `"{{ cfg | to_json }}"` is the JSON text;
//! * a string result gets back the trailing newlines of the source that rendering lost, so
//!   `"{{ s }}\n"` keeps its newline while `"{{ cfg }}\n"` is a dict;
//! * values printed inside text use Python's `str()` (`True`, `['a', 1]`, `{'k': 'v'}`), except
//!   a top-level null, which Ansible's `finalize` prints as nothing.

use super::convert::to_json_value;
use super::literal::literal_eval;
use crate::value::Value;
use minijinja::value::{Value as MjValue, ValueKind};
use std::fmt::Write;

/// Filters whose output Ansible marks as text that must not be literal-evaluated
/// (`DEFAULT_STRING_TYPE_FILTERS`).
const STRING_TYPE_FILTERS: &[&str] = &[
    "string",
    "to_json",
    "to_nice_json",
    "to_yaml",
    "to_nice_yaml",
    "ppretty",
    "json",
];

/// The variable name of a template that is exactly `{{ name }}` (Ansible's `SINGLE_VAR`
/// regex `^{{\s*(\w*)\s*}}$`, whose `$` also matches before one final newline).
pub fn single_var(s: &str) -> Option<&str> {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let word = inner.chars().all(|c| c.is_alphanumeric() || c == '_');
    (word && !inner.is_empty()).then_some(inner)
}

/// `s` without one trailing newline (`\n`, `\r\n` or `\r`), as Jinja's lexer reads a
/// template when `keep_trailing_newline` is off.
pub fn strip_one_newline(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .or_else(|| s.strip_suffix('\r'))
        .unwrap_or(s)
}

/// Number of `\n` at the end of `s` (Ansible's `_count_newlines_from_end`).
pub fn trailing_newlines(s: &str) -> usize {
    s.bytes().rev().take_while(|&b| b == b'\n').count()
}

/// The expression source of a template that is exactly one `{{ expr }}` node (whitespace
/// control markers allowed, no text around it).
pub fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    if ["{{", "}}", "{%", "%}", "{#", "#}"]
        .iter()
        .any(|d| inner.contains(d))
    {
        return None;
    }
    Some(inner)
}

/// The value of a template that is one `{{ expr }}` node, as `ansible_eval_concat` returns it
/// for a single node (see the module docs).
pub fn single_node_result(expr: &str, v: &MjValue) -> Value {
    match v.kind() {
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => to_json_value(v),
        ValueKind::String if ends_with_string_filter(expr) => {
            Value::String(v.as_str().unwrap_or_default().to_string())
        }
        _ => string_result(finalized_str(v)),
    }
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

/// Whether the last operation of `expr` (outside brackets and quotes) is a filter from
/// [`STRING_TYPE_FILTERS`], possibly with arguments: `cfg | to_json`, `(x | to_nice_json(indent=2))`.
/// Ansible tracks this on the value; the syntax gives the same answer for all but exotic
/// expressions (a conditional expression whose branches are such filters).
pub fn ends_with_string_filter(expr: &str) -> bool {
    let mut e = expr.trim();
    while let Some(inner) = e.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        if !balanced(inner) {
            break;
        }
        e = inner.trim();
    }
    let Some(pipe) = last_top_level_pipe(e) else {
        return false;
    };
    let tail = e[pipe + 1..].trim();
    let name_len = tail
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(tail.len());
    let (name, rest) = tail.split_at(name_len);
    if !STRING_TYPE_FILTERS.contains(&name) {
        return false;
    }
    let rest = rest.trim();
    rest.is_empty()
        || (rest.starts_with('(') && rest.ends_with(')') && balanced(&rest[1..rest.len() - 1]))
}

/// Calls `f(byte offset, char, depth)` for each character of `s` outside string literals, the
/// depth counted after an opening bracket and before a closing one; `f` returns false to stop.
/// Returns whether the end was reached outside any string literal.
fn walk_code(s: &str, mut f: impl FnMut(usize, char, i32) -> bool) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if !f(i, c, depth) {
            return false;
        }
    }
    quote.is_none()
}

/// Whether brackets in `s` (outside string literals) never close more than they opened and
/// end balanced.
fn balanced(s: &str) -> bool {
    let mut depth = 0;
    walk_code(s, |_, _, d| {
        depth = d;
        d >= 0
    }) && depth == 0
}

/// Byte offset of the last `|` outside brackets and string literals.
fn last_top_level_pipe(s: &str) -> Option<usize> {
    let mut last = None;
    walk_code(s, |i, c, d| {
        if c == '|' && d == 0 {
            last = Some(i);
        }
        true
    });
    last
}

/// What `{{ v }}` prints: Python's `str()`, with null printed as nothing (Ansible's
/// `_ansible_finalize`).
pub fn finalized_str(v: &MjValue) -> String {
    if v.is_none() {
        return String::new();
    }
    python_str(v)
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

/// A Python tuple (what `product`, `zip_longest` … yield): a sequence to templates, printed
/// `(a, b)` as Python prints it; JSON/YAML output makes it a list, as Ansible does.
#[derive(Debug)]
pub struct Tuple(pub Vec<MjValue>);

impl minijinja::value::Object for Tuple {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn get_value(self: &std::sync::Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let i = usize::try_from(key.clone()).ok()?;
        self.0.get(i).cloned()
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Seq(self.0.len())
    }
}

impl Tuple {
    pub fn value(items: Vec<MjValue>) -> MjValue {
        MjValue::from_object(Tuple(items))
    }
}

fn write_repr(out: &mut String, v: &MjValue) {
    if let Some(t) = v.downcast_object_ref::<Tuple>() {
        out.push('(');
        for (i, item) in t.0.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_repr(out, item);
        }
        out.push_str(if t.0.len() == 1 { ",)" } else { ")" });
        return;
    }
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
    fn single_expression_is_one_node_without_text_around() {
        assert_eq!(single_expression("{{ a | b }}"), Some(" a | b "));
        assert_eq!(single_expression("{{- a -}}"), Some(" a "));
        assert_eq!(single_expression(" {{ a }}"), None);
        assert_eq!(single_expression("{{ a }}-{{ b }}"), None);
        assert_eq!(single_expression("x{{ a }}"), None);
    }

    #[test]
    fn single_var_allows_one_trailing_newline_like_python_dollar() {
        assert_eq!(single_var("{{ num }}"), Some("num"));
        assert_eq!(single_var("{{num}}\n"), Some("num"));
        assert_eq!(single_var("{{ num }}\n\n"), None);
        assert_eq!(single_var("{{ num + 1 }}"), None);
        assert_eq!(single_var("{{ a.b }}"), None);
    }

    #[test]
    fn strip_one_newline_drops_only_one() {
        assert_eq!(strip_one_newline("a\n\n"), "a\n");
        assert_eq!(strip_one_newline("a\r\n"), "a");
        assert_eq!(trailing_newlines("a\n\n"), 2);
    }

    #[test]
    fn string_type_filters_are_recognised_at_the_end_only() {
        assert!(ends_with_string_filter(" cfg | to_json "));
        assert!(ends_with_string_filter("(cfg | to_nice_json(indent=2))"));
        assert!(ends_with_string_filter("num | string"));
        assert!(!ends_with_string_filter("cfg | to_json | trim"));
        assert!(!ends_with_string_filter("cfg | to_json ~ 'x'"));
        assert!(!ends_with_string_filter("[a | to_json]"));
        assert!(!ends_with_string_filter("'a | to_json'"));
    }

    #[test]
    fn single_node_numbers_become_python_text() {
        assert_eq!(single_node_result("n + 1", &MjValue::from(81)), json!("81"));
        assert_eq!(single_node_result("x", &MjValue::from(3.0)), json!("3.0"));
        assert_eq!(single_node_result("x", &MjValue::from(())), json!(""));
        assert_eq!(single_node_result("x", &MjValue::from(true)), json!(true));
    }

    #[test]
    fn single_node_string_filter_output_is_not_literal_evaluated() {
        let text = MjValue::from("{\"c\": 3}");
        assert_eq!(
            single_node_result("cfg | to_json", &text),
            json!("{\"c\": 3}")
        );
        assert_eq!(
            single_node_result("cfg | to_json | trim", &text),
            json!({"c": 3})
        );
    }

    #[test]
    fn string_that_looks_like_a_list_becomes_a_list() {
        assert_eq!(string_result("['a', 'b']".into()), json!(["a", "b"]));
        assert_eq!(string_result("True".into()), json!(true));
        assert_eq!(string_result("[not python".into()), json!("[not python"));
        assert_eq!(string_result("5".into()), json!("5"));
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
