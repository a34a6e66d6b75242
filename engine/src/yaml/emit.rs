//! `to_nice_yaml` / `to_yaml`: YAML laid out the way PyYAML's `yaml.dump` lays it out (what
//! Ansible's filters call), so templated config files look the same as with Ansible: keys
//! sorted, sequences inside mappings not indented, `-` padded to the indent.
//!
//! `to_nice_yaml` is `default_flow_style=False` (block style everywhere); `to_yaml` is PyYAML's
//! default, where a collection holding only scalars (or nothing) is written in flow style
//! (`b: [1, 2]`, `{k: v}`).
//!
//! Strings are quoted exactly when a YAML 1.1 reader would otherwise read them as something else
//! (`'yes'`, `'0644'`, `''`) or when plain style cannot hold them (in flow collections also when
//! they hold `,?[]{}`). Multi-line strings are single-quoted with each line break written as an
//! empty line; strings with other control characters, or a space next to a line break, are
//! double-quoted. Plain and single-quoted text is folded at a space once the line passes 80
//! columns, continuing at the enclosing indent, as PyYAML does. Known difference: double-quoted
//! strings are never folded.

use super::scalar::resolve_plain;
use super::NodeKind;
use crate::value::{Map, Value};
use std::fmt::Write;

/// PyYAML's default `width`: past this column a space in a scalar becomes a line break.
const BEST_WIDTH: usize = 80;

/// Render `v` as block YAML with `indent` spaces per level (PyYAML accepts 2..=9, else uses 2).
pub fn to_nice_yaml(v: &Value, indent: usize) -> String {
    Emitter::new(indent, false).document(v)
}

/// Render `v` as `yaml.dump` does by default (`default_flow_style=None`): block collections,
/// with collections of scalars in flow style. `indent` as for [`to_nice_yaml`] (PyYAML's
/// default is 2).
pub fn to_yaml(v: &Value, indent: usize) -> String {
    Emitter::new(indent, true).document(v)
}

/// Writes one YAML document, tracking the column for folding.
struct Emitter {
    out: String,
    ind: usize,
    /// Collections holding only scalars are written in flow style.
    flow_leaves: bool,
}

impl Emitter {
    fn new(indent: usize, flow_leaves: bool) -> Emitter {
        let ind = if (2..=9).contains(&indent) { indent } else { 2 };
        Emitter {
            out: String::new(),
            ind,
            flow_leaves,
        }
    }

    fn document(mut self, v: &Value) -> String {
        if self.is_flow(v) {
            self.flow(v, self.ind);
            self.out.push('\n');
        } else {
            match v {
                Value::Object(m) => self.block_map(m, 0, false),
                Value::Array(s) => self.block_seq(s, 0, false),
                // A root scalar sits at PyYAML's flow indent (one step in).
                scalar => {
                    self.scalar(scalar, self.ind, false);
                    self.out.push('\n');
                }
            }
        }
        self.out
    }

    fn column(&self) -> usize {
        let line = self.out.rsplit('\n').next().unwrap_or_default();
        line.chars().count()
    }

    fn pad(&mut self, col: usize) {
        self.out.push_str(&" ".repeat(col));
    }

    /// PyYAML's `write_indent`: a line break (unless already at `col` on a fresh line), then
    /// spaces up to `col`.
    fn newline_to(&mut self, col: usize) {
        self.out.push('\n');
        self.pad(col);
    }

    fn is_scalar(v: &Value) -> bool {
        !matches!(v, Value::Object(_) | Value::Array(_))
    }

    /// Whether a collection is written in flow style: always when empty; in `to_yaml` mode when
    /// every item is a scalar.
    fn is_flow(&self, v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.is_empty() || (self.flow_leaves && m.values().all(Self::is_scalar))
            }
            Value::Array(s) => s.is_empty() || (self.flow_leaves && s.iter().all(Self::is_scalar)),
            _ => false,
        }
    }

    fn block_map(&mut self, m: &Map, col: usize, first_inline: bool) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 || !first_inline {
                self.pad(col);
            }
            self.string(key, col + self.ind, false);
            self.out.push(':');
            let value = &m[key.as_str()];
            match value {
                v if self.is_flow(v) => {
                    self.out.push(' ');
                    self.flow(v, col + self.ind);
                    self.out.push('\n');
                }
                Value::Object(inner) => {
                    self.out.push('\n');
                    self.block_map(inner, col + self.ind, false);
                }
                // A sequence under a key is written at the key's own column, as PyYAML does.
                Value::Array(items) => {
                    self.out.push('\n');
                    self.block_seq(items, col, false);
                }
                scalar => {
                    self.out.push(' ');
                    self.scalar(scalar, col + self.ind, false);
                    self.out.push('\n');
                }
            }
        }
    }

    fn block_seq(&mut self, items: &[Value], col: usize, first_inline: bool) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !first_inline {
                self.pad(col);
            }
            // PyYAML pads `-` to the indent only before a block collection.
            self.out.push('-');
            if Self::is_scalar(item) || self.is_flow(item) {
                self.out.push(' ');
            } else {
                self.pad(self.ind - 1);
            }
            match item {
                v if self.is_flow(v) => {
                    self.flow(v, col + self.ind);
                    self.out.push('\n');
                }
                Value::Object(m) => self.block_map(m, col + self.ind, true),
                Value::Array(s) => self.block_seq(s, col + self.ind, true),
                scalar => {
                    self.scalar(scalar, col + self.ind, false);
                    self.out.push('\n');
                }
            }
        }
    }

    /// A flow collection of scalars whose own indent is `col`; its scalars continue at
    /// `col + ind`, and a new item starts a new line once the line passes 80 columns.
    fn flow(&mut self, v: &Value, col: usize) {
        let inner = col + self.ind;
        match v {
            Value::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.flow_separator(i, col);
                    self.scalar(item, inner, true);
                }
                self.out.push(']');
            }
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                self.out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    self.flow_separator(i, col);
                    self.string(key, inner, true);
                    self.out.push_str(": ");
                    self.scalar(&m[key.as_str()], inner, true);
                }
                self.out.push('}');
            }
            scalar => self.scalar(scalar, inner, true),
        }
    }

    fn flow_separator(&mut self, i: usize, col: usize) {
        if i == 0 {
            return;
        }
        self.out.push(',');
        if self.column() > BEST_WIDTH {
            self.newline_to(col);
        } else {
            self.out.push(' ');
        }
    }

    fn scalar(&mut self, v: &Value, col: usize, in_flow: bool) {
        match v {
            Value::String(s) => self.string(s, col, in_flow),
            other => self.out.push_str(&scalar_text(other)),
        }
    }

    /// A string in the style PyYAML's analysis picks; `col` is where folded lines continue.
    fn string(&mut self, s: &str, col: usize, in_flow: bool) {
        let special = s.chars().any(|c| c.is_control() && c != '\n');
        if special || s.contains(" \n") || s.contains("\n ") {
            self.out.push_str(&double_quoted(s));
        } else if !s.contains('\n')
            && plain_is_safe(s)
            && !(in_flow && s.contains([',', '?', '[', ']', '{', '}']))
        {
            self.folded(s, col, false);
        } else {
            self.out.push('\'');
            self.folded(s, col, true);
            self.out.push('\'');
        }
    }

    /// PyYAML's `write_plain` / `write_single_quoted`: a lone space past column 80 becomes a
    /// line break; in quoted text each line break is written as an empty line and `'` doubled.
    fn folded(&mut self, s: &str, col: usize, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                let run = chars[i..].iter().take_while(|&&c| c == ' ').count();
                let inner = !quoted || (i != 0 && i + run != chars.len());
                if run == 1 && inner && self.column() > BEST_WIDTH {
                    self.newline_to(col);
                } else {
                    self.pad(run);
                }
                i += run;
            } else if c == '\n' {
                let run = chars[i..].iter().take_while(|&&c| c == '\n').count();
                self.out.push('\n');
                self.out.push_str(&"\n".repeat(run));
                self.pad(col);
                i += run;
            } else {
                if c == '\'' && quoted {
                    self.out.push('\'');
                }
                self.out.push(c);
                i += 1;
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

/// The escapes JSON strings and YAML double-quoted scalars spell alike (each format has more:
/// JSON's `\b` and `\f`, YAML's `\0`, and each its own for other control characters).
pub(crate) fn short_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        _ => return None,
    })
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if let Some(e) = short_escape(c) {
            out.push_str(e);
            continue;
        }
        match c {
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
    fn short_escapes_are_the_five_both_formats_share() {
        let got: Vec<_> = ['"', '\\', '\n', '\r', '\t', '\u{8}', '\0', 'a']
            .into_iter()
            .map(short_escape)
            .collect();
        let want = [
            Some("\\\""),
            Some("\\\\"),
            Some("\\n"),
            Some("\\r"),
            Some("\\t"),
            None,
            None,
            None,
        ];
        assert_eq!(got, want);
        assert_eq!(double_quoted("a\"\u{8}\0\n"), "\"a\\\"\\u0008\\0\\n\"");
    }

    #[test]
    fn nested_layout_matches_pyyaml_with_indent_4() {
        let v = json!({"b": {"c": 1, "a": [1, {"x": 1, "y": "z"}, [2, 3]]}, "a": []});
        let want = "a: []\nb:\n    a:\n    - 1\n    -   x: 1\n        y: z\n    -   - 2\n        - 3\n    c: 1\n";
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
    fn multiline_strings_are_single_quoted_with_empty_lines() {
        assert_eq!(to_nice_yaml(&json!({"k": "a\nb"}), 2), "k: 'a\n\n  b'\n");
        let v = json!({"m": "line1\nline2\n"});
        assert_eq!(to_nice_yaml(&v, 4), "m: 'line1\n\n    line2\n\n    '\n");
        assert_eq!(to_yaml(&v, 2), "{m: 'line1\n\n    line2\n\n    '}\n");
    }

    #[test]
    fn space_next_to_line_break_is_double_quoted() {
        assert_eq!(to_nice_yaml(&json!("a \nb"), 4), "\"a \\nb\"\n");
    }

    #[test]
    fn long_text_folds_after_column_80() {
        let long = format!("{}end", "word ".repeat(20));
        let want = format!("{}\n  word word word end\n", ["word"; 17].join(" "));
        assert_eq!(to_yaml(&json!(long), 2), want);
        let quoted = json!({"long": "word ".repeat(25)});
        let want = format!(
            "long: '{}\n    {} '\n",
            ["word"; 15].join(" "),
            ["word"; 10].join(" ")
        );
        assert_eq!(to_nice_yaml(&quoted, 4), want);
    }

    #[test]
    fn to_yaml_writes_scalar_collections_in_flow_style() {
        let v = json!({"users": [{"name": "bob", "groups": ["wheel", "dev"]}, {"name": "al", "groups": []}], "n": {"x": {"y": 1}}});
        let want = "n:\n  x: {y: 1}\nusers:\n- groups: [wheel, dev]\n  name: bob\n- groups: []\n  name: al\n";
        assert_eq!(to_yaml(&v, 2), want);
        assert_eq!(
            to_yaml(&json!({"a": 1, "b": [1, 2]}), 2),
            "a: 1\nb: [1, 2]\n"
        );
        assert_eq!(
            to_yaml(&json!([[1, 2], {"a": [3]}, "x"]), 2),
            "- [1, 2]\n- a: [3]\n- x\n"
        );
    }

    #[test]
    fn flow_indicators_force_quotes_only_in_flow_style() {
        let v = json!(["x,y", "a b", "[z", "q?"]);
        assert_eq!(to_yaml(&v, 2), "['x,y', a b, '[z', 'q?']\n");
        assert_eq!(to_nice_yaml(&v, 4), "- x,y\n- a b\n- '[z'\n- q?\n");
    }

    #[test]
    fn to_nice_yaml_does_not_indent_sequences_in_mappings() {
        let v = json!({"users": [{"name": "bob", "groups": ["wheel", "dev"]}]});
        assert_eq!(
            to_nice_yaml(&v, 4),
            "users:\n-   groups:\n    - wheel\n    - dev\n    name: bob\n"
        );
        assert_eq!(
            to_nice_yaml(&v, 2),
            "users:\n- groups:\n  - wheel\n  - dev\n  name: bob\n"
        );
    }

    #[test]
    fn floats_print_like_pyyaml() {
        let v = json!([1.0, 0.5, 1e20, 1.5e-7]);
        assert_eq!(to_nice_yaml(&v, 2), "- 1.0\n- 0.5\n- 1.0e+20\n- 1.5e-07\n");
    }

    #[test]
    fn root_scalar_is_one_line() {
        assert_eq!(to_nice_yaml(&json!("hi"), 4), "hi\n");
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

    /// Output measured from ansible-core 2.18's `to_nice_yaml` / `to_yaml`.
    #[test]
    fn quoting_matches_pyyaml_for_awkward_strings() {
        let v = json!({"s": "yes", "t": "0644", "e": "", "colon": "a: b", "hash": "a #b",
            "lead": " x", "star": "*x", "q": "it's", "u": "é", "nul": null, "f": 1.5, "t2": true});
        let nice = "colon: 'a: b'\ne: ''\nf: 1.5\nhash: 'a #b'\nlead: ' x'\nnul: null\nq: it's\ns: 'yes'\nstar: '*x'\nt: '0644'\nt2: true\nu: é\n";
        assert_eq!(to_nice_yaml(&v, 4), nice);
        let flow = "{colon: 'a: b', e: '', f: 1.5, hash: 'a #b', lead: ' x', nul: null, q: it's, s: 'yes',\n  star: '*x', t: '0644', t2: true, u: é}\n";
        assert_eq!(to_yaml(&v, 2), flow);
    }
}
