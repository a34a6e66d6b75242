//! The rest of ansible-core's Jinja tests: `all`/`any`, `nan`/`isnan`, `uri`/`url`/`urn`,
//! the async-result tests (`started`, `finished`, `timedout`), controller path tests under
//! their other names (`is_file`, `is_dir`, `is_link`, `is_abs`, `link_exists`, `mount`/
//! `is_mount`, `same_file`/`is_same_file`), `issubset`/`issuperset`, and the vault tests.

use super::filters_strings::text;
use super::filters_url::split_url;
use super::{defined, op_err};
use crate::value::Value;
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, Error};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn register(env: &mut Environment<'static>) {
    env.add_test("all", |v: &MjValue| -> Result<bool, Error> {
        Ok(v.try_iter()?.all(|x| x.is_true()))
    });
    env.add_test("any", |v: &MjValue| -> Result<bool, Error> {
        Ok(v.try_iter()?.any(|x| x.is_true()))
    });
    for name in ["nan", "isnan"] {
        env.add_test(name, |v: &MjValue| {
            v.kind() == ValueKind::Number && f64::try_from(v.clone()).is_ok_and(f64::is_nan)
        });
    }
    env.add_test("uri", |v: &MjValue, schemes: Option<Vec<String>>| {
        is_uri(v, schemes.as_deref())
    });
    env.add_test("url", |v: &MjValue, schemes: Option<Vec<String>>| {
        is_url(v, schemes.as_deref())
    });
    env.add_test("urn", |v: &MjValue| is_uri(v, Some(&["urn".to_string()])));
    env.add_test("started", |r: &MjValue| async_flag(r, "started"));
    env.add_test("finished", |r: &MjValue| async_flag(r, "finished"));
    env.add_test("timedout", timedout);
    let path_test = |f: fn(&Path) -> bool| move |v: &MjValue| text(v).map(|s| f(Path::new(&s)));
    env.add_test("is_file", path_test(Path::is_file));
    env.add_test("is_dir", path_test(Path::is_dir));
    env.add_test("is_link", path_test(Path::is_symlink));
    env.add_test("link_exists", path_test(|p| p.symlink_metadata().is_ok()));
    env.add_test("is_abs", path_test(Path::is_absolute));
    env.add_test("mount", path_test(is_mount));
    env.add_test("is_mount", path_test(is_mount));
    env.add_test("same_file", same_file);
    env.add_test("is_same_file", same_file);
    env.add_test("issubset", |a: &MjValue, b: &MjValue| subset(a, b));
    env.add_test("issuperset", |a: &MjValue, b: &MjValue| subset(b, a));
    env.add_test("vault_encrypted", |v: &MjValue| {
        v.kind() == ValueKind::String && crate::vault::is_encrypted(v.as_str().unwrap_or(""))
    });
    env.add_test("vaulted_file", |v: &MjValue| -> Result<bool, Error> {
        let path = text(v)?;
        let data = std::fs::read(&path)
            .map_err(|e| op_err(format!("Cannot test if the file {path} is a vault: {e}")))?;
        Ok(crate::vault::is_encrypted(&String::from_utf8_lossy(&data)))
    });
}

/// `urlparse` always finds a (possibly empty) scheme, so any string is a URI unless `schemes`
/// names the allowed ones.
fn is_uri(v: &MjValue, schemes: Option<&[String]>) -> Result<bool, Error> {
    let Ok(parts) = split_url(&text(v)?) else {
        return Ok(false);
    };
    let scheme = parts.get("scheme").and_then(Value::as_str).unwrap_or("");
    Ok(schemes.is_none_or(|s| s.iter().any(|x| x == scheme)))
}

/// A URI with a network location, or a `file:` one.
fn is_url(v: &MjValue, schemes: Option<&[String]>) -> Result<bool, Error> {
    if !is_uri(v, schemes)? {
        return Ok(false);
    }
    let Ok(parts) = split_url(&text(v)?) else {
        return Ok(false);
    };
    let netloc = parts.get("netloc").and_then(Value::as_str).unwrap_or("");
    let scheme = parts.get("scheme").and_then(Value::as_str).unwrap_or("");
    Ok(!netloc.is_empty() || scheme == "file")
}

/// `started`/`finished` of an async result (`1` means yes); a result without the key counts as
/// started/finished, as for a task that was not async.
fn async_flag(r: &MjValue, key: &str) -> Result<bool, Error> {
    defined(r)?;
    if r.kind() != ValueKind::Map {
        return Err(op_err(format!("The '{key}' test expects a dictionary")));
    }
    let v = r.get_attr(key)?;
    if v.is_undefined() {
        return Ok(true);
    }
    Ok(i64::try_from(v).is_ok_and(|n| n == 1))
}

/// `timedout`: the result's `timedout.period` (a task stopped by `timeout:`).
fn timedout(r: &MjValue) -> Result<bool, Error> {
    defined(r)?;
    if r.kind() != ValueKind::Map {
        return Err(op_err("The 'timedout' test expects a dictionary"));
    }
    let t = r.get_attr("timedout")?;
    if t.is_undefined() || !t.is_true() {
        return Ok(false);
    }
    Ok(t.get_attr("period")
        .is_ok_and(|p| !p.is_undefined() && p.is_true()))
}

/// `os.path.ismount`: `/`, or a directory on another device than its parent.
fn is_mount(p: &Path) -> bool {
    let Ok(meta) = p.symlink_metadata() else {
        return false;
    };
    if meta.file_type().is_symlink() {
        return false;
    }
    let Ok(parent) = p.join("..").metadata() else {
        return false;
    };
    meta.dev() != parent.dev() || meta.ino() == parent.ino()
}

fn same_file(a: &MjValue, b: &MjValue) -> Result<bool, Error> {
    let (a, b) = (text(a)?, text(b)?);
    Ok(match (Path::new(&a).metadata(), Path::new(&b).metadata()) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    })
}

/// Every item of `a` is in `b`.
fn subset(a: &MjValue, b: &MjValue) -> Result<bool, Error> {
    let b: Vec<MjValue> = b.try_iter()?.collect();
    let mut items = a.try_iter()?;
    Ok(items.all(|x| b.contains(&x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expr: &str) -> String {
        let mut env = Environment::new();
        super::super::filters_strings::register(&mut env);
        register(&mut env);
        env.render_str(&format!("{{{{ {expr} }}}}"), ())
            .map(|s| s.to_lowercase())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn all_any_and_uris_as_ansible() {
        assert_eq!(check("[true, 1] is all"), "true");
        assert_eq!(check("[0, 1] is any"), "true");
        assert_eq!(check("[] is any"), "false");
        assert_eq!(check("'http://x/y' is url"), "true");
        assert_eq!(check("'mailto:x' is url"), "false");
        assert_eq!(check("'file:///etc' is url"), "true");
        assert_eq!(check("'urn:isbn:1' is urn"), "true");
        assert_eq!(check("'x' is uri"), "true");
        assert_eq!(check("'http://x' is uri(['https'])"), "false");
    }

    #[test]
    fn async_and_path_tests() {
        assert_eq!(check("{'finished': 1} is finished"), "true");
        assert_eq!(check("{'finished': 0} is finished"), "false");
        assert_eq!(check("{} is started"), "true");
        assert_eq!(check("{} is timedout"), "false");
        assert_eq!(check("{'timedout': {'period': 5}} is timedout"), "true");
        assert_eq!(check("'/' is mount"), "true");
        assert_eq!(check("'/etc' is is_dir"), "true");
        assert_eq!(check("'/etc' is same_file('/etc/.')"), "true");
        assert_eq!(check("[1] is issubset([1, 2])"), "true");
    }
}
