//! Turning `command`/`shell` arguments into a POSIX sh snippet for the transport, and the small
//! formatting rules their results follow. Pure functions: everything here is unit-tested without
//! a host.
//!
//! `command` runs without a shell in Ansible, but the transport only speaks sh, so every argument
//! is quoted so sh passes it through byte for byte. The one thing Ansible's `command` does to
//! arguments itself — `expand_argument_vars` (`$VAR`, `${VAR}`, leading `~`) — is reproduced with
//! sh constructs that expand exactly those and nothing else (no `$(...)`, no globbing).

use kplay_engine::transport::sh_quote;

/// Quote one argument so sh expands `$NAME`, `${NAME}` and a leading `~`/`~user` the way
/// Python's `os.path.expanduser(os.path.expandvars(arg))` does, and nothing else. An unset
/// variable stays as written, as `expandvars` leaves it.
pub fn quote_arg_expanding(arg: &str) -> String {
    let (tilde, rest) = split_tilde_prefix(arg);
    let mut out = String::from(tilde);
    let mut literal = String::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            if let Some((name, len)) = var_at(&rest[i + 1..]) {
                flush_literal(&mut out, &mut literal);
                // `${NAME-\$NAME}`: the value when set, the original text when not.
                out.push_str(&format!("\"${{{name}-\\${name}}}\""));
                i += 1 + len;
                continue;
            }
        }
        // Safe: we only split at ASCII `$`, so `i` is always a char boundary here.
        let ch_len = rest[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        literal.push_str(&rest[i..i + ch_len]);
        i += ch_len;
    }
    flush_literal(&mut out, &mut literal);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

fn flush_literal(out: &mut String, literal: &mut String) {
    if !literal.is_empty() {
        out.push_str(&sh_quote(literal));
        literal.clear();
    }
}

/// A leading `~` or `~user` (up to the first `/`) that sh's tilde expansion handles when left
/// unquoted; anything else in the prefix makes it literal.
fn split_tilde_prefix(arg: &str) -> (&str, &str) {
    if !arg.starts_with('~') {
        return ("", arg);
    }
    let end = arg.find('/').unwrap_or(arg.len());
    let user = &arg[1..end];
    if user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        // The slash must stay unquoted too: sh only expands a tilde-prefix ended by an
        // unquoted `/`.
        let cut = if end < arg.len() { end + 1 } else { end };
        (&arg[..cut], &arg[cut..])
    } else {
        ("", arg)
    }
}

/// `NAME` or `{NAME}` at the start of `s`: the name and how many bytes it took.
fn var_at(s: &str) -> Option<(&str, usize)> {
    let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_cont = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = s.as_bytes();
    if b.first() == Some(&b'{') {
        let close = s.find('}')?;
        let name = &s[1..close];
        let nb = name.as_bytes();
        (!nb.is_empty() && is_start(nb[0]) && nb.iter().all(|&c| is_cont(c)))
            .then_some((name, close + 1))
    } else {
        if !b.first().copied().is_some_and(is_start) {
            return None;
        }
        let len = b.iter().take_while(|&&c| is_cont(c)).count();
        Some((&s[..len], len))
    }
}

/// Quote a `creates`/`removes` path so sh expands its glob characters (`*`, `?`, `[...]`) and
/// nothing else; Ansible accepts a glob pattern there.
pub fn quote_glob(pattern: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    for ch in pattern.chars() {
        if matches!(ch, '*' | '?' | '[' | ']') {
            flush_literal(&mut out, &mut literal);
            out.push(ch);
        } else {
            literal.push(ch);
        }
    }
    flush_literal(&mut out, &mut literal);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// A sh condition true when `pattern` (a glob) names at least one existing path.
pub fn exists_test(pattern: &str) -> String {
    format!("kplay_exists {}", quote_glob(pattern))
}

/// The sh function [`exists_test`] calls: any of its (glob-expanded) arguments exists.
pub const EXISTS_FN: &str = "kplay_exists() { for kp_f in \"$@\"; do [ -e \"$kp_f\" ] || [ -L \"$kp_f\" ] && return 0; done; return 1; }";

/// Python's `timedelta` text as Ansible prints `delta`: `0:00:00.012345`.
pub fn format_delta(d: chrono::TimeDelta) -> String {
    let micros = d.num_microseconds().unwrap_or(0).max(0);
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    format!("{h}:{m:02}:{s:02}.{frac:06}")
}

/// `start`/`end` as Ansible prints them: local time with microseconds.
pub fn format_timestamp(t: &chrono::DateTime<chrono::Local>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Python's `str.splitlines()` (on `\n`, `\r\n`, `\r`), which makes `stdout_lines`.
pub fn split_lines(s: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => lines.push(std::mem::take(&mut cur)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut cur));
            }
            other => cur.push(other),
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sh_echo(word: &str, env: &[(&str, &str)]) -> String {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(format!("printf '%s' {word}"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await.unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[tokio::test]
    async fn plain_argument_passes_through_sh_unchanged() {
        let arg = "a b'c\"d $(id) `x` *";
        // `$(id)` is not a variable: it must reach the command literally.
        assert_eq!(sh_echo(&quote_arg_expanding(arg), &[]).await, arg);
    }

    #[tokio::test]
    async fn set_variable_is_expanded_in_both_spellings() {
        let q = quote_arg_expanding("x=$KP_T/${KP_T}y");
        assert_eq!(sh_echo(&q, &[("KP_T", "v a")]).await, "x=v a/v ay");
    }

    #[tokio::test]
    async fn unset_variable_stays_as_written() {
        let q = quote_arg_expanding("$KP_SURELY_UNSET_VAR!");
        assert_eq!(sh_echo(&q, &[]).await, "$KP_SURELY_UNSET_VAR!");
    }

    #[tokio::test]
    async fn leading_tilde_expands_to_home() {
        let q = quote_arg_expanding("~/x y");
        assert_eq!(sh_echo(&q, &[("HOME", "/h")]).await, "/h/x y");
    }

    #[test]
    fn empty_argument_stays_an_argument() {
        assert_eq!(quote_arg_expanding(""), "''");
    }

    #[test]
    fn glob_characters_stay_unquoted() {
        assert_eq!(quote_glob("/tmp/a b*.txt"), "'/tmp/a b'*.txt");
    }

    #[test]
    fn delta_is_formatted_like_python_timedelta() {
        assert_eq!(
            format_delta(chrono::TimeDelta::microseconds(3_723_012_345)),
            "1:02:03.012345"
        );
    }

    #[test]
    fn split_lines_follows_python_splitlines() {
        assert_eq!(split_lines("a\r\nb\rc\n\nd"), vec!["a", "b", "c", "", "d"]);
        assert!(split_lines("").is_empty());
    }
}
