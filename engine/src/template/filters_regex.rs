//! Regular-expression filters and tests with Python `re` semantics, on fancy-regex (which has
//! the look-around and back-references Python patterns use).
//!
//! Python replacement syntax (`\1`, `\g<1>`, `\g<name>`) is translated to fancy-regex's
//! (`${1}`, `${name}`); `ignorecase` / `multiline` become inline flags.

use super::filters_strings::text;
use super::op_err;
use fancy_regex::{Captures, Regex};
use minijinja::value::{Kwargs, Rest, Value as MjValue};
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", |v: &MjValue| {
        text(v).map(|s| python_escape(&s))
    });
    env.add_test("match", |v: &MjValue, p: String, kw: Kwargs| {
        regex_test(v, &p, kw, Mode::Match)
    });
    env.add_test("search", |v: &MjValue, p: String, kw: Kwargs| {
        regex_test(v, &p, kw, Mode::Search)
    });
    env.add_test("regex", |v: &MjValue, p: String, kw: Kwargs| {
        let mode = match kw.get::<Option<String>>("match_type")?.as_deref() {
            Some("match") => Mode::Match,
            Some("fullmatch") => Mode::Full,
            _ => Mode::Search,
        };
        regex_test(v, &p, kw, mode)
    });
}

/// Compiles a Python pattern with Ansible's `ignorecase` / `multiline` keyword flags.
pub fn compile(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if multiline {
        flags.push('m');
    }
    let src = if flags.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{flags}){pattern}")
    };
    Regex::new(&src).map_err(|e| op_err(format!("invalid regular expression '{pattern}': {e}")))
}

fn flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false),
        kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false),
    ))
}

/// Python's replacement template in fancy-regex syntax.
fn translate_replacement(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        if num.len() == 2 {
                            break;
                        }
                        num.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                // Only these three of Python's escapes are decoded here; the others keep their
                // backslash.
                Some(e @ ('n' | 't' | '\\')) => {
                    chars.next();
                    out.push(crate::playbook::kv::single_char_escape(e).unwrap_or(e));
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Ansible's `regex_replace(pattern, replacement='', ignorecase=False, multiline=False, count=0)`.
fn regex_replace(
    v: &MjValue,
    pattern: String,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let s = text(v)?;
    let (ic, ml) = flags(&kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory_count = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let re = compile(&pattern, ic, ml)?;
    let repl = translate_replacement(&replacement.unwrap_or_default());
    let mut out = String::new();
    let mut last = 0;
    let mut n = 0;
    for caps in re.captures_iter(&s) {
        let caps = caps.map_err(|e| op_err(format!("regex_replace: {e}")))?;
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&s[last..m.start()]);
        caps.expand(&repl, &mut out);
        last = m.end();
        n += 1;
        if count > 0 && n == count {
            break;
        }
    }
    out.push_str(&s[last..]);
    if mandatory_count > 0 && n != mandatory_count {
        return Err(op_err(format!(
            "'{pattern}' should match {mandatory_count} times, but matches {n} times in '{s}'"
        )));
    }
    Ok(out)
}

/// Ansible's `regex_search(regex, *groups, ignorecase, multiline)`: the match, or with group
/// arguments (`'\\1'`, `'\\g<name>'`) the list of those groups; `None` when nothing matches.
fn regex_search(
    v: &MjValue,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let s = text(v)?;
    let (ic, ml) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let re = compile(&pattern, ic, ml)?;
    let Some(caps) = re
        .captures(&s)
        .map_err(|e| op_err(format!("regex_search: {e}")))?
    else {
        return Ok(MjValue::from(()));
    };
    if groups.is_empty() {
        return Ok(MjValue::from(
            caps.get(0).map(|m| m.as_str()).unwrap_or_default(),
        ));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        out.push(group(&caps, g)?);
    }
    Ok(MjValue::from(out))
}

fn group(caps: &Captures, spec: &str) -> Result<MjValue, Error> {
    let m = if let Some(name) = spec.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
        match name.parse::<usize>() {
            Ok(i) => caps.get(i),
            Err(_) => caps.name(name),
        }
    } else if let Some(num) = spec.strip_prefix('\\') {
        caps.get(
            num.parse::<usize>()
                .map_err(|_| op_err(format!("Unknown argument: {spec}")))?,
        )
    } else {
        return Err(op_err(format!("Unknown argument: {spec}")));
    };
    Ok(m.map(|m| MjValue::from(m.as_str()))
        .unwrap_or(MjValue::from(())))
}

/// Python's `re.findall`: whole matches, or the single group, or lists of all groups.
fn regex_findall(v: &MjValue, pattern: String, kwargs: Kwargs) -> Result<MjValue, Error> {
    let s = text(v)?;
    let (ic, ml) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let re = compile(&pattern, ic, ml)?;
    let ngroups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&s) {
        let caps = caps.map_err(|e| op_err(format!("regex_findall: {e}")))?;
        let g = |i: usize| MjValue::from(caps.get(i).map(|m| m.as_str()).unwrap_or_default());
        out.push(match ngroups {
            0 => g(0),
            1 => g(1),
            n => MjValue::from((1..=n).map(g).collect::<Vec<_>>()),
        });
    }
    Ok(MjValue::from(out))
}

/// Python 3.7+ `re.escape`: backslash before regex-special characters and whitespace.
pub fn python_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Copy)]
enum Mode {
    Match,
    Search,
    Full,
}

/// The `match` (anchored at the start), `search` and `regex` tests.
fn regex_test(v: &MjValue, pattern: &str, kwargs: Kwargs, mode: Mode) -> Result<bool, Error> {
    let s = text(v)?;
    let (ic, ml) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let anchored = match mode {
        Mode::Match => format!("\\A(?:{pattern})"),
        Mode::Full => format!("\\A(?:{pattern})\\z"),
        Mode::Search => pattern.to_string(),
    };
    let re = compile(&anchored, ic, ml)?;
    re.is_match(&s).map_err(|e| op_err(format!("regex: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_backrefs_translate() {
        assert_eq!(
            translate_replacement(r"\1-\g<name>-\g<2>$"),
            "${1}-${name}-${2}$$"
        );
    }

    #[test]
    fn escape_matches_python() {
        assert_eq!(python_escape("a.b*c d_e"), r"a\.b\*c\ d_e");
    }
}
