//! `key=value` argument strings (`copy: src=a dest=b`, `-a 'name=x'`), split as Ansible's
//! `parse_kv` does: shell-like quoting, and for free-form modules only a few known keys are
//! taken out of the text.

use crate::value::{Map, Value};

/// Keys a free-form module (command, shell …) accepts inside its free text.
const FREE_FORM_KEYS: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "argv",
    "cmd",
    "expand_argument_vars",
];

/// Split into tokens on unquoted whitespace, keeping quotes inside tokens (`a="b c"` is one
/// token) and not splitting inside `{{ }}` / `{% %}`. Each token comes with its byte range in
/// `s`, so free text can be cut out of the original with its own spacing and newlines.
fn tokens(s: &str) -> Result<Vec<(String, std::ops::Range<usize>)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0usize;
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if cur.is_empty() {
            start = i;
        }
        match c {
            '\\' if quote.is_some() => {
                cur.push(c);
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            '"' | '\'' if depth == 0 => {
                match quote {
                    None => quote = Some(c),
                    Some(q) if q == c => quote = None,
                    _ => {}
                }
                cur.push(c);
            }
            '{' if matches!(
                chars.peek(),
                Some((_, '{')) | Some((_, '%')) | Some((_, '#'))
            ) =>
            {
                depth += 1;
                cur.push(c);
            }
            '}' | '%' | '#' if depth > 0 && matches!(chars.peek(), Some((_, '}'))) => {
                depth -= 1;
                cur.push(c);
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && quote.is_none() && depth == 0 => {
                if !cur.is_empty() {
                    out.push((std::mem::take(&mut cur), start..i));
                }
            }
            c => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in arguments: {s}"));
    }
    if !cur.is_empty() {
        out.push((cur, start..s.len()));
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        let inner = &v[1..v.len() - 1];
        if b[0] == b'"' {
            return inner.replace("\\\"", "\"").replace("\\\\", "\\");
        }
        return inner.to_string();
    }
    v.to_string()
}

/// ansible-core takes whatever precedes the first `=` as the key (`daemon-reload=true`); the
/// module's spec then decides whether it knows the name. Quotes and `{{` still mark raw text.
fn is_key(k: &str) -> bool {
    !k.is_empty()
        && !k.contains("{{")
        && k.chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\'))
}

/// What Python's one-letter string escapes (`\n`, `\t`, `\r`, `\\`, `\'`, `\"`, `\a`, `\b`,
/// `\f`, `\v`) stand for, `e` being the character after the backslash; `None` for any other.
pub(crate) fn single_char_escape(e: char) -> Option<char> {
    Some(match e {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '\\' => '\\',
        '\'' => '\'',
        '"' => '"',
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'v' => '\u{b}',
        _ => return None,
    })
}

/// Python's `unicode_escape` decoding of `\n`, `\t`, `\\`, `\'`, `\"`, `\uXXXX`, `\xXX`,
/// which Ansible applies to every `k=v` token.
fn decode_escapes(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.peek().copied() else {
            out.push('\\');
            continue;
        };
        if let Some(ch) = single_char_escape(e) {
            chars.next();
            out.push(ch);
            continue;
        }
        match e {
            k @ ('x' | 'u' | 'U') => {
                let n = match k {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut look = chars.clone();
                look.next();
                let hex: String = look.by_ref().take(n).collect();
                match (hex.len() == n)
                    .then(|| u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32))
                    .flatten()
                {
                    Some(ch) => {
                        out.push(ch);
                        chars = look;
                    }
                    None => out.push('\\'),
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

/// Parse `k=v` text. With `free_form`, tokens that are not a known free-form key stay in
/// `_raw_params` (joined back with single spaces, quotes kept as written).
pub fn parse_kv(s: &str, free_form: bool) -> Result<Map, String> {
    let mut out = Map::new();
    let mut raw: Vec<std::ops::Range<usize>> = Vec::new();
    let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
    for (tok, span) in tokens(s)? {
        if let Some((k, v)) = tok.split_once('=') {
            let v = &decode_escapes(v);
            let keep_raw = free_form && !FREE_FORM_KEYS.contains(&k);
            if is_key(k) && !keep_raw {
                out.insert(k.to_string(), Value::String(unquote(v)));
                taken.push(span);
                continue;
            }
        }
        raw.push(span);
    }
    if let (Some(first), Some(last)) = (raw.first(), raw.last()) {
        if !free_form {
            let words: Vec<&str> = raw.iter().map(|r| &s[r.clone()]).collect();
            return Err(format!(
                "this module does not take free-form text, got: {}",
                words.join(" ")
            ));
        }
        // The free text as written (newlines and spacing kept, as Ansible's split_args does),
        // minus the `k=v` options taken out of it.
        let mut text = String::new();
        let mut pos = first.start;
        for t in taken
            .iter()
            .filter(|t| t.start > first.start && t.end < last.end)
        {
            text.push_str(&s[pos..t.start]);
            pos = t.end;
        }
        text.push_str(&s[pos..last.end]);
        out.insert("_raw_params".into(), Value::String(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pairs_with_quotes() {
        let m = parse_kv(r#"src=a dest="/tmp/x y" mode=0644"#, false).unwrap();
        assert_eq!(m["dest"], "/tmp/x y");
        assert_eq!(m["mode"], "0644");
    }

    #[test]
    fn free_form_keeps_unknown_pairs_in_raw_params() {
        let m = parse_kv("echo a=b chdir=/tmp", true).unwrap();
        assert_eq!(m["_raw_params"], "echo a=b");
        assert_eq!(m["chdir"], "/tmp");
    }

    #[test]
    fn templates_with_spaces_stay_one_token() {
        let m = parse_kv("msg={{ a | default('x y') }}", false).unwrap();
        assert_eq!(m["msg"], "{{ a | default('x y') }}");
    }

    #[test]
    fn escapes_are_decoded_like_python() {
        let m = parse_kv(r#"content="a\nb" x=c\td"#, false).unwrap();
        assert_eq!(m["content"], "a\nb");
        assert_eq!(m["x"], "c\td");
    }

    #[test]
    fn single_char_escapes_are_pythons() {
        let decoded: String = "ntr\\'\"abfv"
            .chars()
            .map(|e| single_char_escape(e).unwrap())
            .collect();
        assert_eq!(decoded, "\n\t\r\\'\"\u{7}\u{8}\u{c}\u{b}");
        assert_eq!(single_char_escape('x'), None);
        assert_eq!(single_char_escape('q'), None);
        let m = parse_kv(r"a=\q\x41\v b=end\\", false).unwrap();
        assert_eq!(m["a"], "\\qA\u{b}");
        assert_eq!(m["b"], "end\\");
    }

    #[test]
    fn free_form_keeps_newlines_of_a_multi_line_script() {
        let m = parse_kv("for c in a b; do\n  echo \"$c\"\ndone\n", true).unwrap();
        assert_eq!(m["_raw_params"], "for c in a b; do\n  echo \"$c\"\ndone");
    }

    #[test]
    fn non_free_form_rejects_bare_words() {
        assert!(parse_kv("hello", false).is_err());
    }

    #[test]
    fn unbalanced_quote_is_an_error() {
        assert!(parse_kv("msg='abc", false).is_err());
    }
}
