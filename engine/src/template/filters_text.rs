//! Text filters Jinja2 and Ansible add on top of the basics: `center`, `wordcount`,
//! `truncate` (Jinja2 semantics, with its default leeway of 5), and the digest shorthands
//! `md5` / `sha1`, and Ansible's `comment`. Each follows the Python original so output matches Ansible byte for byte.

use super::filters_strings::text;
use super::op_err;
use minijinja::value::{Kwargs, Value as MjValue};
use minijinja::{Environment, Error};
use sha1::Digest;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("center", center);
    env.add_filter("wordcount", wordcount);
    env.add_filter("truncate", truncate);
    env.add_filter("comment", comment);
    env.add_filter("md5", |v: &MjValue| -> Result<String, Error> {
        Ok(md5_hex(text(v)?.as_bytes()))
    });
    env.add_filter("sha1", |v: &MjValue| -> Result<String, Error> {
        Ok(hex::encode(sha1::Sha1::digest(text(v)?.as_bytes())))
    });
}

/// Hex MD5 digest (also used by `hash('md5')`).
pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", md5::compute(bytes))
}

/// Python's `str.center(width)`: CPython puts the odd pad on the left only when both the
/// margin and the width are odd.
fn center(v: &MjValue, width: Option<usize>) -> Result<String, Error> {
    let s = text(v)?;
    let width = width.unwrap_or(80);
    let len = s.chars().count();
    if width <= len {
        return Ok(s);
    }
    super::limits::string("center", width as u128)?;
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    Ok(format!(
        "{}{s}{}",
        " ".repeat(left),
        " ".repeat(marg - left)
    ))
}

/// Jinja2's `wordcount`: the number of `\w+` runs.
fn wordcount(v: &MjValue) -> Result<usize, Error> {
    let s = text(v)?;
    let mut count = 0;
    let mut in_word = false;
    for c in s.chars() {
        let word = c.is_alphanumeric() || c == '_';
        if word && !in_word {
            count += 1;
        }
        in_word = word;
    }
    Ok(count)
}

/// Jinja2's `truncate(length=255, killwords=False, end='...', leeway=5)`: text no longer than
/// `length + leeway` is kept; otherwise cut to `length - len(end)` (at the last space unless
/// `killwords`) and `end` appended.
fn truncate(
    v: &MjValue,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let s = text(v)?;
    let length = kwargs
        .get::<Option<usize>>("length")?
        .or(length)
        .unwrap_or(255);
    let killwords = kwargs
        .get::<Option<bool>>("killwords")?
        .or(killwords)
        .unwrap_or(false);
    let end = kwargs
        .get::<Option<String>>("end")?
        .or(end)
        .unwrap_or_else(|| "...".into());
    let leeway = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kwargs.assert_all_used()?;
    let end_len = end.chars().count();
    if length < end_len {
        return Err(op_err(format!(
            "truncate: expected length >= {end_len}, got {length}"
        )));
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= length + leeway {
        return Ok(s);
    }
    let head: String = chars[..length - end_len].iter().collect();
    if killwords {
        return Ok(head + &end);
    }
    let cut = match head.rfind(' ') {
        Some(i) => head[..i].to_string(),
        None => head,
    };
    Ok(cut + &end)
}

/// Ansible's `comment(style='plain', **kw)`: `beginning`, `prefix` lines, every text line
/// behind `decoration` (trailing spaces dropped on empty lines), `postfix` lines, `end`. The
/// style sets defaults (`plain` `# `, `erlang` `% `, `c` `// `, `cblock` `/* * */`,
/// `xml` `<!-- - -->`); prefix and postfix default to the decoration without trailing spaces.
fn comment(v: &MjValue, style: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let text = text(v)?;
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(op_err(format!("comment: unknown style '{other}'"))),
    };
    let get = |k: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs
            .get::<Option<MjValue>>(k)?
            .map(|v| super::native::python_str(&v))
            .unwrap_or_else(|| default.to_string()))
    };
    let count = |k: &str| -> Result<usize, Error> {
        match kwargs.get::<Option<MjValue>>(k)? {
            None => Ok(1),
            Some(v) => super::native::python_str(&v)
                .trim()
                .parse()
                .map_err(|_| op_err(format!("comment: {k} must be an integer"))),
        }
    };
    let decoration = get("decoration", decoration)?;
    let edge = decoration.trim_end().to_string();
    let newline = get("newline", "\n")?;
    let beginning = get("beginning", beginning)?;
    let prefix = get("prefix", &edge)?;
    let postfix = get("postfix", &edge)?;
    let end = get("end", end)?;
    let prefix_count = count("prefix_count")?;
    let postfix_count = count("postfix_count")?;
    kwargs.assert_all_used()?;

    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let line = if prefix == newline {
            newline.clone()
        } else {
            format!("{prefix}{newline}")
        };
        super::limits::string(
            "comment",
            (line.len() as u128).saturating_mul(prefix_count as u128),
        )?;
        out.push_str(&line.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    );
    out.push_str(&body.replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    ));
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::template::Templar;
    use minijinja::value::Value as MjValue;
    use serde_json::{json, Value};

    fn e(expr: &str) -> Value {
        match Templar::new().eval_expr(expr, &MjValue::from(())) {
            Ok(v) => v,
            Err(e) => panic!("{expr}: {e}"),
        }
    }

    #[test]
    fn center_pads_like_python() {
        assert_eq!(e("'ab' | center(7)"), json!("   ab  "));
        assert_eq!(e("'abc' | center(6)"), json!(" abc  "));
        assert_eq!(e("'abc' | center(2)"), json!("abc"));
    }

    #[test]
    fn digests_match_ansible() {
        assert_eq!(
            e("'hello' | md5"),
            json!("5d41402abc4b2a76b9719d911017c592")
        );
        assert_eq!(
            e("'hello' | hash('md5')"),
            json!("5d41402abc4b2a76b9719d911017c592")
        );
        assert_eq!(
            e("'hello' | sha1"),
            json!("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
        );
    }

    #[test]
    fn wordcount_counts_word_runs() {
        assert_eq!(e("'foo bar-baz  q' | wordcount"), json!(4));
    }

    #[test]
    fn truncate_follows_jinja2_with_leeway() {
        assert_eq!(e("'foo bar baz qux' | truncate(9)"), json!("foo..."));
        assert_eq!(
            e("'foo bar baz qux' | truncate(13)"),
            json!("foo bar baz qux")
        );
        assert_eq!(
            e("'foo bar baz qux' | truncate(11, True)"),
            json!("foo bar baz qux")
        );
        assert_eq!(
            e("'foo bar baz qux' | truncate(9, end='!', leeway=0)"),
            json!("foo bar!")
        );
        assert_eq!(
            e("'foo bar baz qux' | truncate(7, true, leeway=0)"),
            json!("foo ...")
        );
    }

    #[test]
    fn comment_styles_match_ansible() {
        assert_eq!(e("'managed' | comment"), json!("#\n# managed\n#"));
        assert_eq!(
            e("'a\\n\\nb' | comment('c')"),
            json!("//\n// a\n//\n// b\n//")
        );
        assert_eq!(e("'x' | comment('cblock')"), json!("/*\n *\n * x\n *\n */"));
        assert_eq!(e("'x' | comment('xml')"), json!("<!--\n -\n - x\n -\n-->"));
        assert_eq!(
            e("'x' | comment(decoration='; ', prefix_count=2, postfix='')"),
            json!(";\n;\n; x\n")
        );
    }
}
