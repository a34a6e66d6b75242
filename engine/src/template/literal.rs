//! A reader for Python literals, the subset `ast.literal_eval` accepts.
//!
//! Ansible 2.18 (non-native Jinja) passes every template result that starts with `[` or `{`, or
//! is exactly `True`/`False`, through `ast.literal_eval` (with `true`/`false`/`null` also
//! accepted), so `"[{{ a }}, {{ b }}]"` becomes a list. This reproduces that: strings (single,
//! double, triple quoted, `r`/`u`/`b` prefixes, adjacent concatenation), ints (with `0x`/`0o`/`0b`
//! and `_`), floats, `True/False/None`, lists, tuples, sets (as lists) and dicts.

use crate::value::{Map, Value};

/// The value of `src` as a Python literal, or `None` when `src` is not one.
pub fn literal_eval(src: &str) -> Option<Value> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
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
                match word {
                    "True" | "true" => Some(Value::Bool(true)),
                    "False" | "false" => Some(Value::Bool(false)),
                    "None" | "null" => Some(Value::Null),
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
        let text: String = self.src[start..self.i]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let lower = text.to_ascii_lowercase();
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(digits) = lower.strip_prefix(prefix) {
                return i64::from_str_radix(digits, radix).ok().map(Value::from);
            }
        }
        if let Ok(i) = text.parse::<i64>() {
            // Python rejects leading zeros on non-zero decimal ints.
            if text.len() > 1 && text.starts_with('0') {
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
}
