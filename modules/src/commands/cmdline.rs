//! Turning `command`/`shell` arguments into a POSIX sh snippet for the transport, and the small
//! formatting rules their results follow. Pure functions: everything here is unit-tested without
//! a host.
//!
//! `command` runs without a shell in Ansible, but the transport only speaks sh, so every argument
//! is quoted so sh passes it through byte for byte. The one thing Ansible's `command` does to
//! arguments itself — `expand_argument_vars` (`$VAR`, `${VAR}`, leading `~`) — is reproduced with
//! sh constructs that expand exactly those and nothing else (no `$(...)`, no globbing).

use kplay_engine::transport::sh_quote;
use kplay_engine::value::Value;

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

/// Python's `splitlines()`, which makes `stdout_lines` (one definition, the engine's).
pub use kplay_engine::value::split_lines;

/// `stdout_lines`/`stderr_lines`: [`split_lines`] as a JSON list.
pub fn lines_value(s: &str) -> Value {
    Value::Array(split_lines(s).into_iter().map(Value::String).collect())
}

/// Printed alone on stdout by a snippet whose `creates`/`removes` test stops the command, so
/// the module can tell "did not run" from a command that printed nothing.
const SKIP_CREATES: &str = "__KPLAY_SKIP_CREATES_7f3a__";
const SKIP_REMOVES: &str = "__KPLAY_SKIP_REMOVES_7f3a__";

/// The `creates`/`removes` arguments of `command`, `shell` and `script`: run only when `creates`
/// matches nothing and `removes` matches something (globs, checked on the host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTests {
    pub creates: Option<String>,
    pub removes: Option<String>,
}

/// Which test stopped the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Creates,
    Removes,
}

impl RunTests {
    /// Whether either test is given (check mode can only answer with one).
    pub fn any(&self) -> bool {
        self.creates.is_some() || self.removes.is_some()
    }

    /// sh lines that print the skip marker and `exit 0` when a test says not to run; empty when
    /// neither test is given.
    pub fn shell(&self) -> String {
        let mut s = String::new();
        if !self.any() {
            return s;
        }
        s.push_str(EXISTS_FN);
        s.push('\n');
        if let Some(c) = &self.creates {
            s.push_str(&format!(
                "if {}; then echo {SKIP_CREATES}; exit 0; fi\n",
                exists_test(c)
            ));
        }
        if let Some(r) = &self.removes {
            s.push_str(&format!(
                "if ! {}; then echo {SKIP_REMOVES}; exit 0; fi\n",
                exists_test(r)
            ));
        }
        s
    }

    /// The test that stopped the snippet, from its stdout (or first line of it).
    pub fn skipped(&self, stdout: &str) -> Option<Skip> {
        match stdout.trim_end() {
            SKIP_CREATES => Some(Skip::Creates),
            SKIP_REMOVES => Some(Skip::Removes),
            _ => None,
        }
    }

    /// The path a test named and Ansible's `skipped, since …` text for it.
    pub fn reason(&self, skip: Skip) -> (&str, String) {
        match skip {
            Skip::Creates => {
                let c = self.creates.as_deref().unwrap_or_default();
                (c, format!("skipped, since {c} exists"))
            }
            Skip::Removes => {
                let r = self.removes.as_deref().unwrap_or_default();
                (r, format!("skipped, since {r} does not exist"))
            }
        }
    }
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
    fn run_tests_print_nothing_without_creates_or_removes() {
        assert_eq!(RunTests::default().shell(), "");
    }

    #[test]
    fn skip_marker_names_the_test_that_stopped_the_command() {
        let t = RunTests {
            creates: Some("/a".into()),
            removes: Some("/b".into()),
        };
        assert_eq!(t.skipped(&format!("{SKIP_CREATES}\n")), Some(Skip::Creates));
        assert_eq!(t.skipped(SKIP_REMOVES), Some(Skip::Removes));
        assert_eq!(t.skipped("hello\n"), None);
        assert_eq!(
            t.reason(Skip::Removes).1,
            "skipped, since /b does not exist"
        );
    }

    #[test]
    fn creates_test_stops_the_snippet_when_the_path_exists() {
        let dir = tempfile::tempdir().unwrap();
        let t = RunTests {
            creates: Some(format!("{}/*", dir.path().display())),
            removes: None,
        };
        let script = format!("{}echo ran\n", t.shell());
        let run = |s: String| std::process::Command::new("sh").arg("-c").arg(s).output();
        let before = run(script.clone()).unwrap();
        assert_eq!(String::from_utf8_lossy(&before.stdout), "ran\n");
        std::fs::write(dir.path().join("x"), "").unwrap();
        let after = run(script).unwrap();
        assert_eq!(
            t.skipped(&String::from_utf8_lossy(&after.stdout)),
            Some(Skip::Creates)
        );
    }

    #[test]
    fn split_lines_follows_python_splitlines() {
        assert_eq!(split_lines("a\r\nb\rc\n\nd"), vec!["a", "b", "c", "", "d"]);
        assert!(split_lines("").is_empty());
    }
}
