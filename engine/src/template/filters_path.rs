//! Path and shell filters with Python's `posixpath` / `shlex` semantics: `basename`,
//! `dirname`, `splitext`, `expanduser`, `expandvars`, `realpath`, `relpath`, `normpath`,
//! `path_join`, `commonpath`, `fileglob`, `quote`, and the `win_*` trio (`ntpath`).

use super::filters_strings::text;
use super::op_err;
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, Error};

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
    env.add_filter("quote", |v: &MjValue| text(v).map(|s| shell_quote(&s)));
    env.add_filter("normpath", |v: &MjValue| text(v).map(|s| normpath(&s)));
    env.add_filter("relpath", |v: &MjValue, start: Option<String>| {
        text(v).map(|s| relpath(&s, start.as_deref()))
    });
    env.add_filter("path_join", path_join);
    env.add_filter("commonpath", commonpath);
    env.add_filter("expandvars", |v: &MjValue| text(v).map(|s| expandvars(&s)));
    env.add_filter("fileglob", fileglob);
    env.add_filter("win_basename", |v: &MjValue| {
        text(v).map(|s| win_split(&s).1.to_string())
    });
    env.add_filter("win_dirname", |v: &MjValue| {
        text(v).map(|s| win_split(&s).0.to_string())
    });
    env.add_filter("win_splitdrive", |v: &MjValue| {
        text(v).map(|s| {
            let (drive, rest) = win_splitdrive(&s);
            vec![drive.to_string(), rest.to_string()]
        })
    });
}

/// The strings of a list argument (`path_join`, `commonpath`), or a clear type error.
fn strings(v: &MjValue, filter: &str) -> Result<Vec<String>, Error> {
    if v.kind() != ValueKind::Seq {
        return Err(op_err(format!(
            "|{filter} expects sequence, got {} instead.",
            v.kind()
        )));
    }
    v.try_iter()?.map(|p| text(&p)).collect()
}

/// `os.path.join(*paths)`: an absolute member restarts the path.
fn path_join(v: &MjValue) -> Result<String, Error> {
    if v.kind() == ValueKind::String {
        return text(v);
    }
    let mut out = String::new();
    for part in strings(v, "path_join")? {
        if part.starts_with('/') || out.is_empty() {
            out = part;
        } else {
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(&part);
        }
    }
    Ok(out)
}

/// `os.path.commonpath`: the longest common sub-path (whole components), absolute and relative
/// paths never mixed.
fn commonpath(v: &MjValue) -> Result<String, Error> {
    let paths = strings(v, "commonpath")?;
    let Some(first) = paths.first() else {
        return Err(op_err("commonpath() arg is an empty sequence"));
    };
    let absolute = first.starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != absolute) {
        return Err(op_err("Can't mix absolute and relative paths"));
    }
    let split = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect()
    };
    let mut common = split(first);
    for p in &paths[1..] {
        let parts = split(p);
        let n = common
            .iter()
            .zip(&parts)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(n);
    }
    let joined = common.join("/");
    Ok(if absolute {
        format!("/{joined}")
    } else {
        joined
    })
}

/// `posixpath.normpath`: `.` and `a/..` folded, repeated slashes collapsed, `..` kept at the
/// start of a relative path; two leading slashes stay two (POSIX), three or more become one.
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let lead = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if !lead.is_empty() => {}
            other => parts.push(other),
        }
    }
    let out = format!("{lead}{}", parts.join("/"));
    if out.is_empty() {
        ".".to_string()
    } else {
        out
    }
}

/// `os.path.relpath(path, start='.')`, both made absolute against the controller's directory.
fn relpath(p: &str, start: Option<&str>) -> String {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "/".into());
    let abs = |x: &str| {
        if x.starts_with('/') {
            normpath(x)
        } else {
            normpath(&format!("{cwd}/{x}"))
        }
    };
    let parts = |x: &str| -> Vec<String> {
        abs(x)
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (target, base) = (parts(p), parts(start.unwrap_or(".")));
    let n = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out: Vec<String> = vec!["..".to_string(); base.len() - n];
    out.extend(target[n..].iter().cloned());
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// `os.path.expandvars`: `$NAME` and `${NAME}` from the controller's environment; unknown
/// names stay as written.
fn expandvars(s: &str) -> String {
    let re = regex::Regex::new(r"\$(\w+|\{[^}]*\})").expect("static regex");
    re.replace_all(s, |c: &regex::Captures| {
        let whole = &c[0];
        let name = c[1].trim_start_matches('{').trim_end_matches('}');
        std::env::var(name).unwrap_or_else(|_| whole.to_string())
    })
    .into_owned()
}

/// `fileglob`: the regular files matching a glob on the controller, sorted as `glob.glob` lists
/// them (directory order is unspecified there; sorted here so runs repeat).
fn fileglob(v: &MjValue) -> Result<Vec<String>, Error> {
    let pattern = text(v)?;
    let paths = glob::glob(&pattern).map_err(|e| op_err(format!("fileglob: {e}")))?;
    Ok(paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect())
}

/// `ntpath.splitdrive`: `C:` or a `\\server\share` UNC prefix, and the rest.
fn win_splitdrive(p: &str) -> (&str, &str) {
    let norm: Vec<char> = p.chars().map(|c| if c == '/' { '\\' } else { c }).collect();
    if norm.len() >= 2 && norm[0] == '\\' && norm[1] == '\\' && norm.get(2) != Some(&'\\') {
        // \\server\share\rest: the drive is up to the second separator after the server.
        let seps: Vec<usize> = p
            .char_indices()
            .skip(2)
            .filter(|(_, c)| *c == '\\' || *c == '/')
            .map(|(i, _)| i)
            .collect();
        return match seps.as_slice() {
            [] => (p, ""),
            [_] => (p, ""),
            [_, share_end, ..] => p.split_at(*share_end),
        };
    }
    let bytes = p.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return p.split_at(2);
    }
    ("", p)
}

/// `ntpath.split` as the `win_dirname`/`win_basename` filters use it: (head, tail), the head
/// without trailing separators unless it is only the drive's root.
fn win_split(p: &str) -> (String, &str) {
    let (drive, rest) = win_splitdrive(p);
    let cut = rest.rfind(['\\', '/']).map(|i| i + 1).unwrap_or(0);
    let (head, tail) = rest.split_at(cut);
    let trimmed = head.trim_end_matches(['\\', '/']);
    let head = if trimmed.is_empty() { head } else { trimmed };
    (format!("{drive}{head}"), tail)
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
    fn normpath_and_relpath_follow_posixpath() {
        assert_eq!(normpath("/a/./b/../c"), "/a/c");
        assert_eq!(normpath("a//b/"), "a/b");
        assert_eq!(normpath("../a/.."), "..");
        assert_eq!(normpath("/../a"), "/a");
        assert_eq!(normpath("//a"), "//a");
        assert_eq!(normpath("///a"), "/a");
        assert_eq!(normpath(""), ".");
        assert_eq!(relpath("/a/b/c", Some("/a/x")), "../b/c");
        assert_eq!(relpath("/a", Some("/a")), ".");
    }

    #[test]
    fn path_join_and_commonpath() {
        let v = |x: &[&str]| MjValue::from(x.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(path_join(&v(&["/a/b", "c", "/d"])).ok(), Some("/d".into()));
        assert_eq!(
            path_join(&v(&["/a/", "b", "c"])).ok(),
            Some("/a/b/c".into())
        );
        assert_eq!(
            commonpath(&v(&["/a/b/c", "/a/b/d"])).ok(),
            Some("/a/b".into())
        );
        assert_eq!(commonpath(&v(&["/a/bc", "/a/b"])).ok(), Some("/a".into()));
        assert!(commonpath(&v(&["/a", "b"])).is_err());
    }

    #[test]
    fn windows_paths_split_as_ntpath() {
        assert_eq!(win_splitdrive("C:\\x\\y.txt"), ("C:", "\\x\\y.txt"));
        assert_eq!(win_split("C:\\x\\y.txt"), ("C:\\x".to_string(), "y.txt"));
        assert_eq!(win_split("C:\\y.txt"), ("C:\\".to_string(), "y.txt"));
        assert_eq!(
            win_splitdrive("\\\\srv\\share\\d\\f"),
            ("\\\\srv\\share", "\\d\\f")
        );
    }

    #[test]
    fn quote_matches_shlex() {
        assert_eq!(shell_quote("abc-1.2/x"), "abc-1.2/x");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's here"), "'it'\"'\"'s here'");
    }
}
