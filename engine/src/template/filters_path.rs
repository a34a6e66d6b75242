//! Path and shell filters with Python's `posixpath` / `shlex` semantics: `basename`,
//! `dirname`, `splitext`, `expanduser`, `realpath`, `relpath`, `quote`.

use super::filters_strings::text;
use minijinja::value::Value as MjValue;
use minijinja::Environment;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("basename", |v: &MjValue| {
        text(v).map(|s| basename(&s).to_string())
    });
    env.add_filter("dirname", |v: &MjValue| text(v).map(|s| dirname(&s)));
    env.add_filter("splitext", |v: &MjValue| {
        text(v).map(|s| {
            let (root, ext) = splitext(&s);
            vec![root.to_string(), ext.to_string()]
        })
    });
    env.add_filter("expanduser", |v: &MjValue| text(v).map(|s| expanduser(&s)));
    env.add_filter("realpath", |v: &MjValue| text(v).map(|s| realpath(&s)));
    env.add_filter("relpath", |v: &MjValue, start: Option<&MjValue>| {
        let start = match start {
            Some(s) => text(s)?,
            None => ".".to_string(),
        };
        text(v).map(|s| relpath(&s, &start))
    });
    env.add_filter("quote", |v: &MjValue| text(v).map(|s| shell_quote(&s)));
}

/// `os.path.abspath`: joined to the current directory and normalised, without touching links.
fn abspath(p: &str) -> Vec<String> {
    let base = std::env::current_dir().unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for comp in base.join(p).components() {
        match comp {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(c) => out.push(c.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    out
}

/// `os.path.relpath(p, start)`: `p` as seen from `start` (both made absolute lexically).
fn relpath(p: &str, start: &str) -> String {
    let (p, start) = (abspath(p), abspath(start));
    let common = p.iter().zip(&start).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; start.len() - common];
    parts.extend(p[common..].iter().map(String::as_str));
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// `posixpath.basename`: what follows the last `/`.
pub fn basename(p: &str) -> &str {
    p.rfind('/').map(|i| &p[i + 1..]).unwrap_or(p)
}

/// `posixpath.dirname`: what precedes the last `/`, trailing slashes dropped unless all slashes.
pub fn dirname(p: &str) -> String {
    let head = p.rfind('/').map(|i| &p[..=i]).unwrap_or("");
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `posixpath.splitext`: the extension starts at the last dot of the last component, unless
/// that component is only leading dots before it (`.bashrc` has none).
pub fn splitext(p: &str) -> (&str, &str) {
    let name_start = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    let name = &p[name_start..];
    match name.rfind('.') {
        Some(dot) if name[..dot].chars().any(|c| c != '.') => p.split_at(name_start + dot),
        _ => (p, ""),
    }
}

/// `os.path.expanduser` for `~` and `~/…` (the controller's `$HOME`).
fn expanduser(p: &str) -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    if home.is_empty() {
        return p.to_string();
    }
    if p == "~" {
        home
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("{}/{rest}", home.trim_end_matches('/'))
    } else {
        p.to_string()
    }
}

/// `os.path.realpath` on the controller; a path that does not exist is made absolute lexically.
fn realpath(p: &str) -> String {
    match std::fs::canonicalize(p) {
        Ok(c) => c.display().to_string(),
        Err(_) => {
            let base = std::env::current_dir().unwrap_or_default();
            let mut out = std::path::PathBuf::new();
            for comp in base.join(p).components() {
                match comp {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => out.push(other),
                }
            }
            out.display().to_string()
        }
    }
}

#[cfg(test)]
mod relpath_tests {
    #[test]
    fn relpath_walks_up_and_down_from_start() {
        assert_eq!(super::relpath("/a/b/c.yml", "/a"), "b/c.yml");
        assert_eq!(super::relpath("/a/x", "/a/b/c"), "../../x");
        assert_eq!(super::relpath("/a/b", "/a/b"), ".");
    }
}

/// Python's `shlex.quote`: safe strings as they are, anything else in single quotes.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_and_dirname_follow_posixpath() {
        assert_eq!(basename("/etc/hosts"), "hosts");
        assert_eq!(basename("/etc/"), "");
        assert_eq!(dirname("/etc/hosts"), "/etc");
        assert_eq!(dirname("/hosts"), "/");
        assert_eq!(dirname("a//b"), "a");
        assert_eq!(dirname("hosts"), "");
    }

    #[test]
    fn splitext_ignores_leading_dots() {
        assert_eq!(splitext("/a/b.tar.gz"), ("/a/b.tar", ".gz"));
        assert_eq!(splitext("/a/.bashrc"), ("/a/.bashrc", ""));
        assert_eq!(splitext("a.d/b"), ("a.d/b", ""));
    }

    #[test]
    fn quote_matches_shlex() {
        assert_eq!(shell_quote("abc-1.2/x"), "abc-1.2/x");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's here"), "'it'\"'\"'s here'");
    }
}
