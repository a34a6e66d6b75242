//! Ansible's undefined-variable semantics on top of minijinja, and errors that name the variable.
//!
//! Ansible (`AnsibleUndefined`) lets `a.b is defined` and `a.b | default(x)` work when `a` itself
//! is undefined, but fails on any other use of an undefined value, naming it: `'a' is undefined`.
//! minijinja has no mode doing both, so templates render in two steps:
//! 1. with `UndefinedBehavior::Strict` (printing, `if`, `for`, filter arguments all fail);
//! 2. only when step 1 failed on an attribute or item of an undefined value (`a.b` with `a`
//!    undefined, `a.b.c` with `a.b` missing), again with `Chainable` behaviour plus a formatter
//!    that refuses to print undefined. That second pass accepts the `is defined` / `default`
//!    guards Ansible accepts; printing the value still fails.
//!
//! The failing expression's source range (minijinja debug info) says which variable to blame.

use super::TemplateError;
use minijinja::value::{Enumerator, Object, Value as MjValue, ValueKind};
use minijinja::{Error, ErrorKind};
use std::sync::Arc;

/// Name under which the root context is reachable from functions (lookups need it).
pub const CTX_KEY: &str = "__kplay_ctx__";

/// The render context: the engine's variables plus [`CTX_KEY`].
#[derive(Debug)]
pub struct Scope {
    pub ctx: MjValue,
}

impl Scope {
    pub fn wrap(ctx: &MjValue) -> MjValue {
        MjValue::from_object(Scope { ctx: ctx.clone() })
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        if key.as_str() == Some(CTX_KEY) {
            return Some(self.ctx.clone());
        }
        match self.ctx.get_item(key) {
            Ok(v) if !v.is_undefined() => Some(v),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.ctx.try_iter() {
            Ok(keys) => Enumerator::Values(keys.collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}

/// Marker detail of the `mandatory` filter's error, replaced by a message naming the variable.
pub const MANDATORY: &str = "__kplay_mandatory__";

/// Why a strict render failed on an undefined value.
#[derive(Debug)]
pub struct Cause {
    pub error: TemplateError,
    /// The failure was an attribute/item of an undefined value: a chainable retry may succeed.
    pub chained: bool,
}

/// One piece of an access chain: `.name` or `['name']` or `[3]`.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(i64),
}

/// Explains a minijinja error as a [`TemplateError`], naming the undefined variable when that
/// is the cause. `source` is the text that was rendered; `scope` what it was rendered with.
pub fn explain(err: &Error, source: &str, scope: &MjValue) -> Cause {
    if err.kind() != ErrorKind::UndefinedError {
        return Cause {
            error: TemplateError {
                msg: describe(err),
                undefined: None,
            },
            chained: false,
        };
    }
    let src = err.template_source().unwrap_or(source);
    let span = err.range().and_then(|r| focus(src, r)).unwrap_or(src);
    let mandatory = err.detail().is_some_and(|d| d.starts_with(MANDATORY));
    let local = local_names(src);
    let candidates = chains(span).into_iter().chain(chains(src));
    for chain in candidates.filter(|(root, _)| !local.contains(root)) {
        if let Some(mut cause) = blame(&chain, scope) {
            if mandatory {
                let name = cause.error.undefined.clone().unwrap_or_default();
                let custom = err
                    .detail()
                    .and_then(|d| d.strip_prefix(MANDATORY))
                    .filter(|m| !m.is_empty());
                cause.error.msg = match custom {
                    Some(m) => m.to_string(),
                    None => format!("Mandatory variable '{name}' not defined."),
                };
                cause.chained = false;
            }
            return cause;
        }
    }
    let msg = if mandatory {
        "Mandatory variable not defined.".to_string()
    } else {
        describe(err)
    };
    Cause {
        error: TemplateError {
            msg,
            undefined: None,
        },
        chained: false,
    }
}

/// The source text to search for the culprit, from minijinja's error range.
///
/// The range often covers only part of the expression (`.b.c` of `a.b.c`, or just the filter
/// name of `x | upper`), so it is widened left over the access chain; when it is a filter or
/// test name, the whole expression up to it (from the opening `{{` / `{%`) is used.
fn focus(src: &str, r: std::ops::Range<usize>) -> Option<&str> {
    let b = src.as_bytes();
    let mut start = r.start.min(b.len());
    let end = r.end.min(b.len()).max(start);
    while start > 0 {
        let c = b[start - 1];
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            start -= 1;
        } else if c == b']' {
            match src[..start - 1].rfind('[') {
                Some(open) => start = open,
                None => break,
            }
        } else {
            break;
        }
    }
    let before = src[..start].trim_end();
    let filter_or_test =
        before.ends_with('|') || before.ends_with(" is") || before.ends_with(" is not");
    if filter_or_test {
        let open = before
            .rfind("{{")
            .into_iter()
            .chain(before.rfind("{%"))
            .max()
            .unwrap_or(0);
        return src.get(open..end);
    }
    src.get(start..end)
}

/// An error's text without minijinja's template-name suffix.
pub fn describe(err: &Error) -> String {
    let mut msg = match err.detail() {
        Some(d) => format!("{}: {d}", err.kind()),
        None => err.kind().to_string(),
    };
    if let Some(line) = err.line() {
        if line > 1 {
            msg.push_str(&format!(" (line {line})"));
        }
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// Finds the first undefined point of `chain`: the root variable, or a missing attribute.
fn blame(chain: &(String, Vec<Seg>), scope: &MjValue) -> Option<Cause> {
    let (root, segs) = chain;
    let mut cur = scope.get_attr(root).unwrap_or(MjValue::UNDEFINED);
    if cur.is_undefined() {
        return Some(Cause {
            error: TemplateError {
                msg: format!("'{root}' is undefined"),
                undefined: Some(root.clone()),
            },
            chained: !segs.is_empty(),
        });
    }
    let mut path = root.clone();
    for (i, seg) in segs.iter().enumerate() {
        let next = match seg {
            Seg::Key(k) => cur.get_item(&MjValue::from(k.as_str())),
            Seg::Index(n) => cur.get_item(&MjValue::from(*n)),
        }
        .unwrap_or(MjValue::UNDEFINED);
        let shown = match seg {
            Seg::Key(k) => k.clone(),
            Seg::Index(n) => n.to_string(),
        };
        if next.is_undefined() {
            let msg = format!("'{}' has no attribute '{shown}'", type_name(&cur));
            path.push('.');
            path.push_str(&shown);
            return Some(Cause {
                error: TemplateError {
                    msg,
                    undefined: Some(path),
                },
                chained: i + 1 < segs.len(),
            });
        }
        path.push('.');
        path.push_str(&shown);
        cur = next;
    }
    None
}

/// Python's type name as Jinja2 shows it in "has no attribute" messages: `dict object`, `str
/// object`... (an undefined value or anything unnamed is just `object`).
fn type_name(v: &MjValue) -> String {
    match (v.kind(), super::filters_collections::py_type(v)) {
        (ValueKind::Undefined, _) | (_, "object") => "object".to_string(),
        (_, name) => format!("{name} object"),
    }
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "elif",
    "endif",
    "for",
    "endfor",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "set",
    "endset",
    "with",
    "endwith",
    "macro",
    "endmacro",
    "recursive",
    "loop",
    "block",
    "endblock",
    "filter",
    "endfilter",
    "raw",
    "endraw",
    "include",
    "import",
    "from",
    "as",
    "call",
    "endcall",
];

/// Variable access chains (`a.b['c'][0]`) in an expression, in source order; filter and test
/// names, keywords, keyword-argument names and function names are skipped.
fn chains(src: &str) -> Vec<(String, Vec<Seg>)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut prev_sig: Option<u8> = None; // last non-space byte before the current token
    let mut prev_word = String::new();
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            i = skip_string(b, i);
            prev_sig = Some(c);
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let after_dot = prev_sig == Some(b'.');
            let filter_or_test = prev_sig == Some(b'|')
                || prev_word == "is"
                || (prev_word == "not" && is_test_ctx(src, start));
            let (segs, end) = segments(src, i);
            let next = src[end..].trim_start();
            let is_call = next.starts_with('(');
            let is_kwarg = next.starts_with('=') && !next.starts_with("==");
            let skip = after_dot
                || filter_or_test
                || KEYWORDS.contains(&word)
                || is_kwarg
                || (is_call && segs.is_empty());
            if !skip {
                out.push((word.to_string(), segs));
            }
            i = end;
            prev_word = word.to_string();
            prev_sig = Some(b'a');
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev_sig = Some(c);
            prev_word.clear();
        }
        i += 1;
    }
    out
}

/// Names the template binds itself (`for` targets, `set`, macro arguments, `loop`): not in
/// the variables a render starts with, so never the undefined variable to blame.
fn local_names(src: &str) -> Vec<String> {
    static BINDERS: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) = BINDERS
        .get_or_init(|| {
            regex::Regex::new(
                r"\{%[-+]?\s*(?:for\s+([\w\s,()]+?)\s+in\b|set\s+([\w\s,]+?)\s*=|macro\s+\w+\s*\(([^)]*)\))",
            )
            .ok()
        })
        .as_ref()
    else {
        return Vec::new();
    };
    let mut names = vec!["loop".to_string()];
    for caps in re.captures_iter(src) {
        let bound = caps.iter().skip(1).flatten().map(|m| m.as_str());
        for list in bound {
            names.extend(
                list.split([',', '(', ')'])
                    .map(|n| n.split('=').next().unwrap_or("").trim().to_string())
                    .filter(|n| !n.is_empty()),
            );
        }
    }
    names
}

/// `x is not defined`: the word after `is not` is a test name.
fn is_test_ctx(src: &str, word_start: usize) -> bool {
    src[..word_start]
        .trim_end()
        .strip_suffix("not")
        .is_some_and(|s| s.trim_end().ends_with(" is"))
}

/// Reads `.name`, `['key']` and `[3]` accessors starting at `i`; returns them and the end.
fn segments(src: &str, mut i: usize) -> (Vec<Seg>, usize) {
    let b = src.as_bytes();
    let mut segs = Vec::new();
    loop {
        if b.get(i) == Some(&b'.')
            && b.get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            // `x.startswith(...)` is a method call, not an attribute.
            if src[j..].trim_start().starts_with('(') {
                return (segs, i);
            }
            segs.push(Seg::Key(src[start..j].to_string()));
            i = j;
        } else if b.get(i) == Some(&b'[') {
            let Some(close) = src[i..].find(']').map(|p| i + p) else {
                return (segs, i);
            };
            let inner = src[i + 1..close].trim();
            if let Some(k) = unquote(inner) {
                segs.push(Seg::Key(k));
            } else if let Ok(n) = inner.parse::<i64>() {
                segs.push(Seg::Index(n));
            } else {
                return (segs, i);
            }
            i = close + 1;
        } else {
            return (segs, i);
        }
    }
}

fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if (q == '\'' || q == '"') && s.len() >= 2 && s.ends_with(q) {
        let inner = &s[1..s.len() - 1];
        (!inner.contains(q)).then(|| inner.to_string())
    } else {
        None
    }
}

fn skip_string(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_as_jinja2_shows_them() {
        let names: Vec<String> = [
            MjValue::from_serialize(serde_json::json!({"a": 1})),
            MjValue::from(vec![1]),
            MjValue::from("s"),
            MjValue::from(true),
            MjValue::from(1),
            MjValue::from(1.5),
            MjValue::from(()),
            MjValue::UNDEFINED,
        ]
        .iter()
        .map(type_name)
        .collect();
        assert_eq!(
            names,
            [
                "dict object",
                "list object",
                "str object",
                "bool object",
                "int object",
                "float object",
                "NoneType object",
                "object"
            ]
        );
    }

    fn names(src: &str) -> Vec<String> {
        chains(src)
            .into_iter()
            .map(|(r, s)| format!("{r}{}", s.len()))
            .collect()
    }

    #[test]
    fn chains_skip_filters_tests_and_keywords() {
        assert_eq!(
            names("a.b | default('x') is not defined and c['k'][0]"),
            vec!["a1", "c2"]
        );
    }

    #[test]
    fn chains_skip_functions_kwargs_and_methods() {
        assert_eq!(
            names("lookup('env', 'X', default=y) ~ s.startswith('p')"),
            vec!["y0", "s0"]
        );
    }

    #[test]
    fn chains_skip_string_contents() {
        assert_eq!(names("'a.b' ~ \"c\""), Vec::<String>::new());
    }
}
