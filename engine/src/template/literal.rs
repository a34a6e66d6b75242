//! The one reader of Python literals, the subset `ast.literal_eval` accepts: strings (single,
//! double, triple quoted, `r`/`u`/`b` prefixes, adjacent concatenation), ints (with
//! `0x`/`0o`/`0b` and `_`), floats, `True/False/None`, lists, tuples, sets (as lists) and dicts.
//!
//! Two callers, two dialects: Ansible 2.18's templating (non-native Jinja) passes every template
//! result that starts with `[` or `{`, or is exactly `True`/`False`, through `literal_eval` with
//! `true`/`false`/`null` also accepted, so `"[{{ a }}, {{ b }}]"` becomes a list
//! ([`literal_eval`]); the INI inventory reads `key=value` values with Python's own
//! `ast.literal_eval`, where `true` stays text ([`python_value`]).

use crate::value::{Map, Value};

/// The value of `src` as a Python literal (JSON's `true`/`false`/`null` accepted too), or
/// `None` when `src` is not one.
pub fn literal_eval(src: &str) -> Option<Value> {
    parse(src, true)
}

/// Python's `ast.literal_eval(text)` when `text` is a literal, else `text` as a string.
pub fn python_value(text: &str) -> Value {
    // ast.literal_eval strips leading spaces and tabs only.
    parse(text.trim_start_matches([' ', '\t']), false)
        .unwrap_or_else(|| Value::String(text.to_string()))
}

fn parse(src: &str, json_words: bool) -> Option<Value> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
        json_words,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    /// Accept `true`/`false`/`null` as Ansible's templating does.
    json_words: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips whitespace; inside brackets Python allows newlines and comments.
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else if c == b'\\' && self.s.get(self.i + 1) == Some(&b'\n') {
                self.i += 2;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'[' => {
                self.i += 1;
                Some(Value::Array(self.items(b']')?))
            }
            b'(' => {
                self.i += 1;
                // A parenthesised single value without a comma is just that value.
                let start = self.i;
                if let Some(v) = self.value() {
                    if self.eat(b')') {
                        return Some(v);
                    }
                }
                self.i = start;
                Some(Value::Array(self.items(b')')?))
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()
            }
            b'\'' | b'"' => self.strings(),
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                self.ws();
                let v = self.number()?;
                Some(if neg { negate(v)? } else { v })
            }
            c if c.is_ascii_digit() || c == b'.' => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                let json = self.json_words;
                match word {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    "true" if json => Some(Value::Bool(true)),
                    "false" if json => Some(Value::Bool(false)),
                    "null" if json => Some(Value::Null),
                    "r" | "u" | "b" | "R" | "U" | "B" | "rb" | "br"
                        if matches!(self.peek(), Some(b'\'' | b'"')) =>
                    {
                        let raw = word.to_ascii_lowercase().contains('r');
                        self.string_body(raw).map(Value::String)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated values up to `close`, trailing comma allowed.
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(out);
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.value()?;
        if self.eat(b':') {
            let mut m = Map::new();
            let v = self.value()?;
            m.insert(key_text(&first), v);
            loop {
                if !self.eat(b',') {
                    return self.eat(b'}').then_some(Value::Object(m));
                }
                if self.eat(b'}') {
                    return Some(Value::Object(m));
                }
                let k = self.value()?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.value()?;
                m.insert(key_text(&k), v);
            }
        }
        let mut out = vec![first];
        if self.eat(b',') {
            out.extend(self.items(b'}')?);
        } else if !self.eat(b'}') {
            return None;
        }
        Some(Value::Array(out))
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = self.string_body(false)?;
        loop {
            let save = self.i;
            self.ws();
            if matches!(self.peek(), Some(b'\'' | b'"')) {
                out.push_str(&self.string_body(false)?);
            } else {
                self.i = save;
                return Some(Value::String(out));
            }
        }
    }

    fn string_body(&mut self, raw: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let rest = self.src.get(self.i..)?;
            let c = rest.chars().next()?;
            if c as u32 == q as u32 {
                if !triple {
                    self.i += 1;
                    return Some(out);
                }
                if self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]) {
                    self.i += 3;
                    return Some(out);
                }
            }
            if c == '\n' && !triple {
                return None;
            }
            if c == '\\' {
                self.i += 1;
                let e = self.src.get(self.i..)?.chars().next()?;
                self.i += e.len_utf8();
                if raw {
                    out.push('\\');
                    out.push(e);
                    continue;
                }
                match e {
                    '\n' => {}
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' | '\'' | '"' => out.push(e),
                    'x' => out.push(self.hex_char(2)?),
                    'u' => out.push(self.hex_char(4)?),
                    'U' => out.push(self.hex_char(8)?),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }

    fn hex_char(&mut self, n: usize) -> Option<char> {
        let digits = self.src.get(self.i..self.i + n)?;
        self.i += n;
        char::from_u32(u32::from_str_radix(digits, 16).ok()?)
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            // an exponent sign belongs to the number
            let c = self.peek()?;
            self.i += 1;
            if (c == b'e' || c == b'E')
                && matches!(self.peek(), Some(b'+' | b'-'))
                && !self.src[start..self.i].starts_with("0x")
            {
                self.i += 1;
            }
        }
        let written = &self.src[start..self.i];
        // Python allows `_` only between digits.
        if written.starts_with('_') || written.ends_with('_') || written.contains("__") {
            return None;
        }
        let text: String = written.chars().filter(|c| *c != '_').collect();
        let lower = text.to_ascii_lowercase();
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(digits) = lower.strip_prefix(prefix) {
                return i64::from_str_radix(digits, radix).ok().map(Value::from);
            }
        }
        if let Ok(i) = text.parse::<i64>() {
            // Python rejects leading zeros on non-zero decimal ints (`010`, not `00`).
            if text.len() > 1 && text.starts_with('0') && text.bytes().any(|b| b != b'0') {
                return None;
            }
            return Some(Value::from(i));
        }
        let f: f64 = text.parse().ok()?;
        serde_json::Number::from_f64(f).map(Value::Number)
    }
}

fn negate(v: Value) -> Option<Value> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Value::from(-i))
            } else {
                serde_json::Number::from_f64(-n.as_f64()?).map(Value::Number)
            }
        }
        _ => None,
    }
}

fn key_text(k: &Value) -> String {
    crate::value::to_display_string(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_list_with_single_quotes_parses() {
        assert_eq!(
            literal_eval("['a', \"b\", 1, -2.5, True, None]"),
            Some(json!(["a", "b", 1, -2.5, true, null]))
        );
    }

    #[test]
    fn dict_with_json_words_parses() {
        assert_eq!(
            literal_eval("{\"a\": true, 'b': null, 'c': [1,]}"),
            Some(json!({"a": true, "b": null, "c": [1]}))
        );
    }

    #[test]
    fn tuples_and_sets_become_lists() {
        assert_eq!(literal_eval("[(1, 2), {3}]"), Some(json!([[1, 2], [3]])));
    }

    #[test]
    fn escapes_and_adjacent_strings() {
        assert_eq!(
            literal_eval(r#"['a\n' 'b', '\x41\u00e9']"#),
            Some(json!(["a\nb", "Aé"]))
        );
    }

    #[test]
    fn trailing_newline_is_allowed() {
        assert_eq!(literal_eval("[1, 2]\n"), Some(json!([1, 2])));
    }

    #[test]
    fn non_literals_are_rejected() {
        assert_eq!(literal_eval("[a, b]"), None);
        assert_eq!(literal_eval("{{ x }}"), None);
        assert_eq!(literal_eval("[1, 2] extra"), None);
        assert_eq!(literal_eval("[01]"), None);
    }

    #[test]
    fn hex_and_exponent_numbers() {
        assert_eq!(
            literal_eval("[0x1f, 1e3, 1_000]"),
            Some(json!([31, 1000.0, 1000]))
        );
    }

    #[test]
    fn python_dialect_numbers_and_constants() {
        assert_eq!(python_value("42"), json!(42));
        assert_eq!(python_value("-7"), json!(-7));
        assert_eq!(python_value("1_000"), json!(1000));
        assert_eq!(python_value("0x1f"), json!(31));
        assert_eq!(python_value("1.5"), json!(1.5));
        assert_eq!(python_value("1e3"), json!(1000.0));
        assert_eq!(python_value("True"), json!(true));
        assert_eq!(python_value("None"), json!(null));
        assert_eq!(python_value("00"), json!(0));
        assert_eq!(python_value(" \t5"), json!(5));
    }

    #[test]
    fn python_dialect_non_literals_stay_strings() {
        assert_eq!(python_value("yes"), json!("yes"));
        assert_eq!(python_value("true"), json!("true"));
        assert_eq!(python_value("null"), json!("null"));
        assert_eq!(python_value("010"), json!("010"));
        assert_eq!(python_value("1__0"), json!("1__0"));
        assert_eq!(python_value("1_"), json!("1_"));
        assert_eq!(python_value("1.2.3.4"), json!("1.2.3.4"));
        assert_eq!(python_value("hello world"), json!("hello world"));
        assert_eq!(python_value("[1, 2"), json!("[1, 2"));
    }

    #[test]
    fn python_dialect_containers_and_strings() {
        assert_eq!(python_value("[1, 'a', [True]]"), json!([1, "a", [true]]));
        assert_eq!(python_value("(1,)"), json!([1]));
        assert_eq!(python_value("(1)"), json!(1));
        assert_eq!(
            python_value("{'k': 1, 2: \"v\"}"),
            json!({"k": 1, "2": "v"})
        );
        assert_eq!(python_value("'a b'"), json!("a b"));
        assert_eq!(python_value(r#""tab\there""#), json!("tab\there"));
        assert_eq!(python_value("'a' 'b'"), json!("ab"));
        assert_eq!(python_value("[true]"), json!("[true]"));
    }
}
