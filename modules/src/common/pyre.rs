//! Python `re` semantics on top of `fancy_regex`.
//!
//! Playbooks carry patterns and replacement templates written for Python's `re`; the editing
//! modules must behave the same, so this file translates the few places where the two dialects
//! disagree (`$`, `\Z`, `(?P=name)`, literal `{`, `[` inside classes, `\uXXXX`) and converts
//! Python replacement templates (`\1`, `\g<1>`, `\g<name>`, `\n`) into fancy_regex's `${n}`
//! expansion syntax, rejecting the same templates Python rejects.

use fancy_regex::{Captures, Expander, Regex, RegexBuilder};

/// A pattern or template Python would reject, or a match that ran out of backtracking budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyReError {
    #[error("{0}")]
    Pattern(String),
    #[error("{0}")]
    Template(String),
    #[error("{0}")]
    Match(String),
}

/// A compiled Python-dialect regex.
#[derive(Debug, Clone)]
pub struct PyRegex {
    re: Regex,
}

impl PyRegex {
    /// Compile `pattern` as Python's `re.compile(pattern, flags)` would, where `multiline` and
    /// `dotall` stand for `re.MULTILINE` and `re.DOTALL`.
    pub fn compile(pattern: &str, multiline: bool, dotall: bool) -> Result<PyRegex, PyReError> {
        let multiline = multiline || leading_flags(pattern).contains('m');
        let translated = translate_pattern(pattern, multiline);
        let mut prefix = String::new();
        if multiline {
            prefix.push('m');
        }
        if dotall {
            prefix.push('s');
        }
        let full = if prefix.is_empty() {
            translated
        } else {
            format!("(?{prefix}){translated}")
        };
        let re = RegexBuilder::new(&full)
            .build()
            .map_err(|e| PyReError::Pattern(format!("error compiling regex {pattern:?}: {e}")))?;
        Ok(PyRegex { re })
    }

    /// Whether the pattern sets `(?m)` itself (blockinfile then matches against the whole file).
    pub fn pattern_sets_multiline(pattern: &str) -> bool {
        leading_flags(pattern).contains('m')
    }

    /// `re.search`: the first match anywhere in `text`.
    pub fn search<'t>(&self, text: &'t str) -> Result<Option<Captures<'t>>, PyReError> {
        self.re
            .captures(text)
            .map_err(|e| PyReError::Match(e.to_string()))
    }

    /// Whether `re.search` finds anything.
    pub fn is_match(&self, text: &str) -> Result<bool, PyReError> {
        self.re
            .is_match(text)
            .map_err(|e| PyReError::Match(e.to_string()))
    }

    /// Convert a Python replacement template for this pattern (see [`convert_template`]).
    pub fn template(&self, repl: &str) -> Result<Template, PyReError> {
        convert_template(repl, &self.re)
    }

    /// `re.subn(pattern, repl, text)`: Python 3.7+ rules, where an empty match right after a
    /// non-empty one is replaced too, but never two empty matches at the same position.
    pub fn subn(&self, text: &str, repl: &Template) -> Result<(String, usize), PyReError> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0usize;
        let mut pos = 0usize;
        let mut count = 0usize;
        let mut must_advance = false;
        while pos <= text.len() {
            let caps = match self
                .re
                .captures_from_pos(text, pos)
                .map_err(|e| PyReError::Match(e.to_string()))?
            {
                Some(c) => c,
                None => break,
            };
            let Some(m) = caps.get(0) else { break };
            if must_advance && m.start() == pos && m.end() == pos {
                // Python forbids a second empty match here; try again one character further.
                match text[pos..].chars().next() {
                    Some(c) => {
                        pos += c.len_utf8();
                        must_advance = false;
                        continue;
                    }
                    None => break,
                }
            }
            out.push_str(&text[last..m.start()]);
            repl.expand_into(&caps, &mut out);
            count += 1;
            last = m.end();
            must_advance = m.start() == m.end();
            pos = m.end();
        }
        out.push_str(&text[last..]);
        Ok((out, count))
    }
}

/// A replacement template in fancy_regex's `$` syntax, checked against its regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `${n}` / `${name}` for groups, `$$` for a literal dollar.
    pub fancy: String,
}

impl Template {
    /// Append this template's expansion for `caps` (unmatched groups give "", as in Python 3.5+).
    pub fn expand_into(&self, caps: &Captures<'_>, out: &mut String) {
        Expander::default().append_expansion(out, &self.fancy, caps);
    }

    /// This template's expansion for `caps`, as Python's `match.expand()`.
    pub fn expand(&self, caps: &Captures<'_>) -> String {
        let mut s = String::new();
        self.expand_into(caps, &mut s);
        s
    }
}

/// The global inline flags at the very start of a pattern (`(?im)` → `"im"`).
fn leading_flags(pattern: &str) -> String {
    let mut flags = String::new();
    let mut rest = pattern;
    while let Some(after) = rest.strip_prefix("(?") {
        let Some(end) = after.find(')') else { break };
        let f = &after[..end];
        if f.is_empty() || !f.chars().all(|c| "aiLmsux".contains(c)) {
            break;
        }
        flags.push_str(f);
        rest = &after[end + 1..];
    }
    flags
}

/// Whether `s` (just after a `{`) is a Python quantifier body `m}`, `m,}`, `,n}` or `m,n}`;
/// returns its length including `}` and a Rust spelling of it.
fn quantifier_at(s: &str) -> Option<(usize, String)> {
    let end = s.find('}')?;
    let body = &s[..end];
    let (lo, hi) = match body.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (body, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if !digits(lo) || !hi.is_none_or(digits) || (lo.is_empty() && hi.is_none_or(str::is_empty)) {
        return None;
    }
    let rust = match hi {
        None => format!("{{{lo}}}"),
        Some(h) => format!("{{{},{h}}}", if lo.is_empty() { "0" } else { lo }),
    };
    Some((end + 1, rust))
}

/// Rewrite a Python pattern into fancy_regex syntax with the same meaning.
fn translate_pattern(p: &str, multiline: bool) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                out.push_str("\\\\");
                i += 1;
                continue;
            };
            match n {
                'Z' if !in_class => out.push_str("\\z"),
                'u' | 'U' => {
                    let len = if n == 'u' { 4 } else { 8 };
                    let hex: String = chars.iter().skip(i + 2).take(len).collect();
                    if hex.len() == len && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                        out.push_str(&format!("\\x{{{hex}}}"));
                        i += 2 + len;
                        continue;
                    }
                    out.push('\\');
                    out.push(n);
                }
                '0' => {
                    // Python: `\0` plus up to two more octal digits is a character.
                    let mut digits = String::new();
                    let mut j = i + 2;
                    while digits.len() < 2 && chars.get(j).is_some_and(|d| ('0'..='7').contains(d))
                    {
                        digits.push(chars[j]);
                        j += 1;
                    }
                    let v = u32::from_str_radix(&digits, 8).unwrap_or(0);
                    out.push_str(&format!("\\x{{{v:x}}}"));
                    i = j;
                    continue;
                }
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' => in_class = false,
                '[' | '&' | '~' => out.push('\\'),
                '-' if chars.get(i + 1) == Some(&'-') => out.push('\\'),
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after `[` or `[^` is a literal member in Python.
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            '$' => {
                if multiline {
                    out.push('$');
                } else {
                    // Python's `$`: end of text, or just before a final newline.
                    out.push_str("(?=\\n?\\z)");
                }
            }
            '{' => {
                let rest: String = chars[i + 1..].iter().collect();
                match quantifier_at(&rest) {
                    Some((len, rust)) if i > 0 => {
                        out.push_str(&rust);
                        i += 1 + rest[..len].chars().count();
                        continue;
                    }
                    _ => out.push_str("\\{"),
                }
            }
            '}' => out.push_str("\\}"),
            '(' if chars.get(i + 1) == Some(&'?')
                && chars.get(i + 2) == Some(&'P')
                && chars.get(i + 3) == Some(&'=') =>
            {
                let rest: String = chars[i + 4..].iter().collect();
                if let Some(end) = rest.find(')') {
                    out.push_str(&format!("\\k<{}>", &rest[..end]));
                    i += 4 + rest[..end].chars().count() + 1;
                    continue;
                }
                out.push('(');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Convert a Python replacement template to fancy_regex's `$` syntax, checking group references
/// against `re` as Python does (`invalid group reference 3`, `unknown group name 'x'`,
/// `bad escape \q`).
pub fn convert_template(repl: &str, re: &Regex) -> Result<Template, PyReError> {
    let groups = re.captures_len();
    let names: Vec<String> = re.capture_names().flatten().map(str::to_string).collect();
    let chars: Vec<char> = repl.chars().collect();
    let mut out = String::with_capacity(repl.len());
    let mut i = 0;
    let check_num = |n: usize, at: usize| -> Result<String, PyReError> {
        if n < groups {
            Ok(format!("${{{n}}}"))
        } else {
            Err(PyReError::Template(format!(
                "invalid group reference {n} at position {}",
                at + 1
            )))
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
            i += 1;
            continue;
        }
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err(PyReError::Template(format!(
                "bad escape (end of pattern) at position {i}"
            )));
        };
        match n {
            'g' => {
                if chars.get(i + 2) != Some(&'<') {
                    return Err(PyReError::Template(format!(
                        "missing < at position {}",
                        i + 2
                    )));
                }
                let rest: String = chars[i + 3..].iter().collect();
                let Some(end) = rest.find('>') else {
                    return Err(PyReError::Template(format!(
                        "missing >, unterminated name at position {}",
                        i + 3
                    )));
                };
                let name = &rest[..end];
                if name.is_empty() {
                    return Err(PyReError::Template(format!(
                        "missing group name at position {}",
                        i + 3
                    )));
                }
                if name.chars().all(|d| d.is_ascii_digit()) {
                    let num: usize = name.parse().map_err(|_| {
                        PyReError::Template(format!("invalid group reference {name}"))
                    })?;
                    if num >= groups {
                        return Err(PyReError::Template(format!(
                            "invalid group reference {num} at position {}",
                            i + 3
                        )));
                    }
                    out.push_str(&format!("${{{num}}}"));
                } else if names.iter().any(|g| g == name) {
                    out.push_str(&format!("${{{name}}}"));
                } else if name
                    .chars()
                    .next()
                    .is_some_and(|f| f.is_alphabetic() || f == '_')
                    && name.chars().all(|x| x.is_alphanumeric() || x == '_')
                {
                    return Err(PyReError::Template(format!("unknown group name '{name}'")));
                } else {
                    return Err(PyReError::Template(format!(
                        "bad character in group name '{name}' at position {}",
                        i + 3
                    )));
                }
                i += 3 + name.chars().count() + 1;
            }
            '0' => {
                let mut digits = String::new();
                let mut j = i + 2;
                while digits.len() < 2 && chars.get(j).is_some_and(|d| ('0'..='7').contains(d)) {
                    digits.push(chars[j]);
                    j += 1;
                }
                let v = u32::from_str_radix(&digits, 8).unwrap_or(0);
                push_literal(&mut out, char::from_u32(v).unwrap_or('\0'));
                i = j;
            }
            '1'..='9' => {
                let d2 = chars.get(i + 2).copied();
                let d3 = chars.get(i + 3).copied();
                let is_oct = |c: Option<char>| c.is_some_and(|c| ('0'..='7').contains(&c));
                if d2.is_some_and(|d| d.is_ascii_digit()) {
                    if is_oct(Some(n)) && is_oct(d2) && is_oct(d3) {
                        let s: String = [n, d2.unwrap_or('0'), d3.unwrap_or('0')].iter().collect();
                        let v = u32::from_str_radix(&s, 8).unwrap_or(0);
                        if v > 0o377 {
                            return Err(PyReError::Template(format!(
                                "octal escape value \\{s} outside of range 0-0o377 at position {i}"
                            )));
                        }
                        push_literal(&mut out, char::from_u32(v).unwrap_or('\0'));
                        i += 4;
                    } else {
                        let num = (n as usize - '0' as usize) * 10
                            + (d2.unwrap_or('0') as usize - '0' as usize);
                        out.push_str(&check_num(num, i)?);
                        i += 3;
                    }
                } else {
                    out.push_str(&check_num(n as usize - '0' as usize, i)?);
                    i += 2;
                }
            }
            'a' => push_escape(&mut out, &mut i, '\x07'),
            'b' => push_escape(&mut out, &mut i, '\x08'),
            'f' => push_escape(&mut out, &mut i, '\x0c'),
            'n' => push_escape(&mut out, &mut i, '\n'),
            'r' => push_escape(&mut out, &mut i, '\r'),
            't' => push_escape(&mut out, &mut i, '\t'),
            'v' => push_escape(&mut out, &mut i, '\x0b'),
            '\\' => push_escape(&mut out, &mut i, '\\'),
            x if x.is_ascii_alphabetic() => {
                return Err(PyReError::Template(format!(
                    "bad escape \\{x} at position {i}"
                )));
            }
            x => {
                // Python keeps an unknown non-letter escape as written, backslash included.
                out.push('\\');
                push_literal(&mut out, x);
                i += 2;
            }
        }
    }
    Ok(Template { fancy: out })
}

fn push_literal(out: &mut String, c: char) {
    if c == '$' {
        out.push_str("$$");
    } else {
        out.push(c);
    }
}

fn push_escape(out: &mut String, i: &mut usize, c: char) {
    out.push(c);
    *i += 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(p: &str, r: &str, t: &str, multiline: bool) -> (String, usize) {
        let re = PyRegex::compile(p, multiline, false).expect("pattern");
        let tpl = re.template(r).expect("template");
        re.subn(t, &tpl).expect("subn")
    }

    #[test]
    fn numbered_backref_converts_to_braced_group() {
        let re = PyRegex::compile("(a)(b)", false, false).expect("re");
        assert_eq!(re.template(r"\2\1").expect("t").fancy, "${2}${1}");
    }

    #[test]
    fn g_syntax_allows_digit_after_group() {
        let re = PyRegex::compile("^(host=).*", false, false).expect("re");
        assert_eq!(
            re.template(r"\g<1>10.0.0.1").expect("t").fancy,
            "${1}10.0.0.1"
        );
    }

    #[test]
    fn named_group_reference_converts() {
        assert_eq!(
            sub(r"(?P<k>\w+)=(?P<v>\w+)", r"\g<v>=\g<k>", "a=b", false),
            ("b=a".into(), 1)
        );
    }

    #[test]
    fn literal_dollar_in_template_is_escaped() {
        assert_eq!(sub("x", "$1", "x", false).0, "$1");
    }

    #[test]
    fn two_digit_group_number_is_one_reference() {
        let p = "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)";
        assert_eq!(sub(p, r"\11", "abcdefghijk", false).0, "k");
    }

    #[test]
    fn invalid_group_reference_is_an_error() {
        let re = PyRegex::compile("(a)", false, false).expect("re");
        assert!(
            matches!(re.template(r"\2"), Err(PyReError::Template(m)) if m.starts_with("invalid group reference 2"))
        );
    }

    #[test]
    fn unknown_group_name_is_an_error() {
        let re = PyRegex::compile("(a)", false, false).expect("re");
        assert_eq!(
            re.template(r"\g<nope>"),
            Err(PyReError::Template("unknown group name 'nope'".into()))
        );
    }

    #[test]
    fn escapes_in_template_become_characters() {
        assert_eq!(sub("x", r"a\nb\tc\\d", "x", false).0, "a\nb\tc\\d");
    }

    #[test]
    fn unknown_letter_escape_in_template_is_an_error() {
        let re = PyRegex::compile("x", false, false).expect("re");
        assert!(re.template(r"\q").is_err());
    }

    #[test]
    fn non_letter_escape_in_template_is_kept() {
        assert_eq!(sub("x", r"\.", "x", false).0, r"\.");
    }

    #[test]
    fn unmatched_group_expands_to_empty() {
        assert_eq!(sub("(a)|(b)", r"[\1\2]", "b", false).0, "[b]");
    }

    #[test]
    fn dollar_matches_before_final_newline_without_multiline() {
        let re = PyRegex::compile("foo$", false, false).expect("re");
        assert!(re.is_match("foo\n").expect("m"));
        assert!(!re.is_match("foo\nbar").expect("m"));
    }

    #[test]
    fn multiline_anchors_match_every_line() {
        assert_eq!(sub("^", "#", "a\nb\n", true), ("#a\n#b\n#".into(), 3));
        assert_eq!(sub("$", "!", "a\nb\n", true), ("a!\nb!\n!".into(), 3));
    }

    #[test]
    fn empty_match_after_nonempty_match_is_replaced_like_python37() {
        assert_eq!(sub("x*", "-", "abxd", false), ("-a-b--d-".into(), 5));
    }

    #[test]
    fn lookaround_and_backreference_work() {
        assert_eq!(sub(r"(?<=a)b", "X", "abcb", false).0, "aXcb");
        assert_eq!(sub(r"(\w)\1", "<\\1>", "aabcc", false).0, "<a>b<c>");
        assert_eq!(sub(r"(?P<c>\w)(?P=c)", "=", "xxy", false).0, "=y");
    }

    #[test]
    fn literal_braces_that_are_not_quantifiers_match_literally() {
        assert_eq!(sub("{mark}", "M", "# {mark} x", false).0, "# M x");
        assert_eq!(sub("a{2}", "X", "aaa", false).0, "Xa");
        assert_eq!(sub("a{,2}b", "X", "aab", false).0, "X");
    }

    #[test]
    fn bracket_inside_class_is_literal() {
        assert_eq!(sub("[[]", "(", "a[b", false).0, "a(b");
        assert_eq!(sub("[]x]", "-", "]x", false).0, "--");
    }

    #[test]
    fn backslash_big_z_means_end_of_text() {
        assert_eq!(sub(r"a\Z", "X", "a\na", false).0, "a\nX");
    }

    #[test]
    fn inline_multiline_flag_is_detected() {
        assert!(PyRegex::pattern_sets_multiline("(?m)^x"));
        assert!(!PyRegex::pattern_sets_multiline("^x(?m)"));
    }
}
