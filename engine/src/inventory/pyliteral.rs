//! The two Python helpers Ansible's INI inventory leans on, re-done for our values:
//! `shlex.split(line, comments=True)` to cut a host line into words, and `ast.literal_eval` to turn
//! a `key=value` value into a typed value (falling back to the plain string when it is no literal).

use crate::value::{Map, Value};

/// POSIX shlex word splitting with `#` comments: quotes group, `\` escapes outside single quotes.
pub(crate) fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err("No escaped character".into()),
                }
            }
            ch => {
                in_word = true;
                cur.push(ch);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `ast.literal_eval(text)` when `text` is a Python literal, else `text` itself as a string.
pub(crate) fn parse_value(text: &str) -> Value {
    let mut p = Parser {
        s: text.as_bytes(),
        src: text,
        i: 0,
    };
    let trimmed_start = text.len() - text.trim_start_matches([' ', '\t']).len();
    p.i = trimmed_start;
    match p.value() {
        Some(v) => {
            p.ws();
            if p.i == p.s.len() {
                v
            } else {
                Value::String(text.to_string())
            }
        }
        None => Value::String(text.to_string()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.peek() == Some(b) {
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
                self.seq(b']').map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                self.seq(b')').map(Value::Array)
            }
            b'{' => {
                self.i += 1;
                self.dict()
            }
            b'\'' | b'"' => {
                let mut s = self.string()?;
                // Python joins adjacent string literals: 'a' "b" == 'ab'.
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'\'' | b'"') => s.push_str(&self.string()?),
                        _ => break,
                    }
                }
                Some(Value::String(s))
            }
            _ => self.atom(),
        }
    }

    /// Items up to `close`, allowing a trailing comma (lists and tuples).
    fn seq(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return if self.eat(close) { Some(items) } else { None };
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        let mut m = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(m));
            }
            let k = self.value()?;
            if !self.eat(b':') {
                return None;
            }
            let v = self.value()?;
            m.insert(crate::value::to_display_string(&k), v);
            if !self.eat(b',') {
                return if self.eat(b'}') {
                    Some(Value::Object(m))
                } else {
                    None
                };
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[quote, quote, quote]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        let rest = &self.src[self.i..];
        let mut chars = rest.char_indices();
        while let Some((off, c)) = chars.next() {
            if c as u32 == quote as u32 {
                if !triple {
                    self.i += off + 1;
                    return Some(out);
                }
                if rest[off..].starts_with(&String::from_utf8(vec![quote; 3]).ok()?) {
                    self.i += off + 3;
                    return Some(out);
                }
                out.push(c);
            } else if c == '\\' {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    '\\' | '\'' | '"' => out.push(e),
                    '\n' => {}
                    'x' | 'u' => {
                        let n = if e == 'x' { 2 } else { 4 };
                        let mut code = String::new();
                        for _ in 0..n {
                            code.push(chars.next()?.1);
                        }
                        out.push(char::from_u32(u32::from_str_radix(&code, 16).ok()?)?);
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            } else if c == '\n' && !triple {
                return None;
            } else {
                out.push(c);
            }
        }
        None
    }

    /// Numbers, True/False/None, with an optional sign on numbers.
    fn atom(&mut self) -> Option<Value> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-') {
                // A sign inside a token only follows an exponent marker.
                if matches!(b, b'+' | b'-')
                    && self.i > start
                    && !matches!(self.s[self.i - 1], b'e' | b'E')
                {
                    break;
                }
                self.i += 1;
            } else {
                break;
            }
        }
        let tok = &self.src[start..self.i];
        match tok {
            "True" => return Some(Value::Bool(true)),
            "False" => return Some(Value::Bool(false)),
            "None" => return Some(Value::Null),
            _ => {}
        }
        number(tok)
    }
}

fn number(tok: &str) -> Option<Value> {
    let (neg, body) = match tok.as_bytes().first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let clean = body.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(p, _)| lower.starts_with(p));
    let int = match radix {
        Some((p, r)) => i64::from_str_radix(&lower[p.len()..], r).ok(),
        None if lower.bytes().all(|b| b.is_ascii_digit()) => {
            // Python 3 rejects leading zeros on non-zero decimals (`010`).
            if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|b| b != b'0') {
                return None;
            }
            lower.parse::<i64>().ok()
        }
        None => None,
    };
    if let Some(i) = int {
        return Some(Value::from(if neg { -i } else { i }));
    }
    if radix.is_some() || !lower.bytes().next()?.is_ascii_digit() && !lower.starts_with('.') {
        return None;
    }
    if lower.contains("inf") || lower.contains("nan") {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    serde_json::Number::from_f64(if neg { -f } else { f }).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shlex_groups_quoted_words_and_drops_quotes() {
        assert_eq!(
            shlex_split(r#"h a="b c" d='e f'"#).unwrap(),
            ["h", "a=b c", "d=e f"]
        );
    }

    #[test]
    fn shlex_stops_at_comment() {
        assert_eq!(shlex_split("h a=1 # note").unwrap(), ["h", "a=1"]);
        assert_eq!(shlex_split("h a=1#x").unwrap(), ["h", "a=1"]);
    }

    #[test]
    fn shlex_keeps_hash_inside_quotes() {
        assert_eq!(shlex_split("h p='a#b'").unwrap(), ["h", "p=a#b"]);
    }

    #[test]
    fn shlex_reports_unclosed_quote() {
        assert_eq!(shlex_split("h a=\"x").unwrap_err(), "No closing quotation");
    }

    #[test]
    fn literal_numbers_and_constants() {
        assert_eq!(parse_value("42"), json!(42));
        assert_eq!(parse_value("-7"), json!(-7));
        assert_eq!(parse_value("1_000"), json!(1000));
        assert_eq!(parse_value("0x1f"), json!(31));
        assert_eq!(parse_value("1.5"), json!(1.5));
        assert_eq!(parse_value("1e3"), json!(1000.0));
        assert_eq!(parse_value("True"), json!(true));
        assert_eq!(parse_value("None"), json!(null));
    }

    #[test]
    fn non_literals_stay_strings() {
        assert_eq!(parse_value("yes"), json!("yes"));
        assert_eq!(parse_value("true"), json!("true"));
        assert_eq!(parse_value("010"), json!("010"));
        assert_eq!(parse_value("1.2.3.4"), json!("1.2.3.4"));
        assert_eq!(parse_value("hello world"), json!("hello world"));
        assert_eq!(parse_value("[1, 2"), json!("[1, 2"));
    }

    #[test]
    fn literal_containers() {
        assert_eq!(parse_value("[1, 'a', [True]]"), json!([1, "a", [true]]));
        assert_eq!(parse_value("(1,)"), json!([1]));
        assert_eq!(parse_value("{'k': 1, 2: \"v\"}"), json!({"k": 1, "2": "v"}));
    }

    #[test]
    fn literal_strings_unquote_and_unescape() {
        assert_eq!(parse_value("'a b'"), json!("a b"));
        assert_eq!(parse_value(r#""tab\there""#), json!("tab\there"));
        assert_eq!(parse_value("'a' 'b'"), json!("ab"));
    }
}
