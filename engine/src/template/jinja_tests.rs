//! Jinja tests Ansible adds or defines differently: task-result tests (`failed`, `changed`…),
//! `version`, type tests with Python's meaning, `subset`/`superset`, `truthy`/`falsy`,
//! controller path tests. `defined`, `undefined`, `none`, `eq`, `gt`… are minijinja's.

use super::filters_strings::{parse_python_int, text};
use super::{defined, op_err};
use minijinja::value::{Kwargs, Value as MjValue, ValueKind};
use minijinja::{Environment, Error};
use std::cmp::Ordering;

pub fn register(env: &mut Environment<'static>) {
    env.add_test("failed", |r: &MjValue| result_flag(r, "failed", "failed"));
    env.add_test("failure", |r: &MjValue| result_flag(r, "failed", "failure"));
    env.add_test("succeeded", |r: &MjValue| {
        result_flag(r, "failed", "succeeded").map(|f| !f)
    });
    env.add_test("success", |r: &MjValue| {
        result_flag(r, "failed", "success").map(|f| !f)
    });
    env.add_test("successful", |r: &MjValue| {
        result_flag(r, "failed", "successful").map(|f| !f)
    });
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", |r: &MjValue| {
        result_flag(r, "skipped", "skipped")
    });
    env.add_test("skip", |r: &MjValue| result_flag(r, "skipped", "skip"));
    env.add_test("unreachable", |r: &MjValue| {
        result_flag(r, "unreachable", "unreachable")
    });
    env.add_test("reachable", |r: &MjValue| {
        result_flag(r, "unreachable", "reachable").map(|f| !f)
    });
    env.add_test("version", version_test);
    env.add_test("version_compare", version_test);
    env.add_test("string", |v: &MjValue| v.kind() == ValueKind::String);
    env.add_test("number", |v: &MjValue| {
        matches!(v.kind(), ValueKind::Number | ValueKind::Bool)
    });
    env.add_test("integer", |v: &MjValue| {
        v.kind() == ValueKind::Number && v.is_integer()
    });
    env.add_test("float", |v: &MjValue| {
        v.kind() == ValueKind::Number && !v.is_integer()
    });
    env.add_test("boolean", |v: &MjValue| v.kind() == ValueKind::Bool);
    env.add_test("mapping", |v: &MjValue| v.kind() == ValueKind::Map);
    env.add_test("sequence", |v: &MjValue| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::String | ValueKind::Map
        )
    });
    env.add_test("iterable", |v: &MjValue| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::String | ValueKind::Map
        )
    });
    env.add_test("truthy", |v: &MjValue| -> Result<bool, Error> {
        defined(v).map(|_| v.is_true())
    });
    env.add_test("falsy", |v: &MjValue| -> Result<bool, Error> {
        defined(v).map(|_| !v.is_true())
    });
    env.add_test("contains", |seq: &MjValue, item: &MjValue| {
        contains(seq, item)
    });
    env.add_test("in", |item: &MjValue, seq: &MjValue| contains(seq, item));
    env.add_test("subset", |a: &MjValue, b: &MjValue| subset(a, b));
    env.add_test("superset", |a: &MjValue, b: &MjValue| subset(b, a));
    env.add_test("abs", |v: &MjValue| text(v).map(|s| s.starts_with('/')));
    env.add_test("file", |v: &MjValue| {
        text(v).map(|s| std::path::Path::new(&s).is_file())
    });
    env.add_test("directory", |v: &MjValue| {
        text(v).map(|s| std::path::Path::new(&s).is_dir())
    });
    env.add_test("exists", |v: &MjValue| {
        text(v).map(|s| std::path::Path::new(&s).exists())
    });
    env.add_test("link", |v: &MjValue| {
        text(v).map(|s| std::path::Path::new(&s).is_symlink())
    });
}

/// A registered result's flag (`result.failed`…); the tests require a dict, as Ansible's do.
fn result_flag(r: &MjValue, key: &str, test: &str) -> Result<bool, Error> {
    defined(r)?;
    if r.kind() != ValueKind::Map {
        return Err(op_err(format!("The '{test}' test expects a dictionary")));
    }
    Ok(r.get_attr(key)
        .map(|v| !v.is_undefined() && v.is_true())
        .unwrap_or(false))
}

/// `changed`: the result's flag, or for a loop result without one, any item's flag.
fn changed(r: &MjValue) -> Result<bool, Error> {
    defined(r)?;
    if r.kind() != ValueKind::Map {
        return Err(op_err("The 'changed' test expects a dictionary"));
    }
    let flag = r.get_attr("changed")?;
    if !flag.is_undefined() {
        return Ok(flag.is_true());
    }
    let results = r.get_attr("results")?;
    if results.kind() == ValueKind::Seq {
        for item in results.try_iter()? {
            if item.kind() == ValueKind::Map && item.get_attr("changed").is_ok_and(|c| c.is_true())
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn contains(seq: &MjValue, item: &MjValue) -> Result<bool, Error> {
    defined(seq)?;
    match seq.kind() {
        ValueKind::String => Ok(item
            .as_str()
            .is_some_and(|i| seq.as_str().unwrap_or_default().contains(i))),
        ValueKind::Map => Ok(seq.get_item(item).is_ok_and(|v| !v.is_undefined())),
        _ => Ok(seq.try_iter()?.any(|x| &x == item)),
    }
}

fn subset(a: &MjValue, b: &MjValue) -> Result<bool, Error> {
    defined(a)?;
    defined(b)?;
    let bs: Vec<MjValue> = b.try_iter()?.collect();
    Ok(a.try_iter()?.all(|x| bs.contains(&x)))
}

/// Ansible's `version(version, operator='eq', strict=False, version_type=None)`.
fn version_test(
    v: &MjValue,
    other: &MjValue,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let left = text(v)?;
    let right = text(other)?;
    let op = kwargs
        .get::<Option<String>>("operator")?
        .or(op)
        .unwrap_or_else(|| "eq".into());
    let strict_arg = kwargs.get::<Option<bool>>("strict")?;
    let strict = strict_arg.unwrap_or(false);
    let vtype = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    if strict_arg.is_some() && vtype.is_some() {
        return Err(op_err("Cannot specify both 'strict' and 'version_type'"));
    }
    let ord = match vtype.as_deref() {
        Some("pep440") => super::pep440::cmp(&left, &right)
            .map_err(|e| op_err(format!("Version comparison failed: {e}")))?,
        Some("semver") | Some("semantic") => semver_cmp(&left, &right)?,
        Some("strict") => strict_cmp(&left, &right)?,
        _ if strict => strict_cmp(&left, &right)?,
        Some("loose") | None => loose_cmp(&left, &right),
        Some(other) => return Err(op_err(format!("Invalid version type ({other})."))),
    };
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        other => return Err(op_err(format!("Invalid operator type ({other})"))),
    })
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Num(u64),
    Word(String),
}

/// distutils `LooseVersion`: runs of digits compare as numbers, runs of letters as text,
/// dots separate. (Python 3 raises comparing a number with a word; numbers sort first here.)
pub fn loose_cmp(a: &str, b: &str) -> Ordering {
    loose_parts(a).cmp(&loose_parts(b))
}

fn loose_parts(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                n.push(d);
                chars.next();
            }
            parts.push(Part::Num(n.parse().unwrap_or(u64::MAX)));
        } else if c == '.' {
            chars.next();
        } else {
            let mut w = String::new();
            while let Some(d) = chars
                .peek()
                .copied()
                .filter(|d| !d.is_ascii_digit() && *d != '.')
            {
                w.push(d);
                chars.next();
            }
            parts.push(Part::Word(w));
        }
    }
    parts
}

/// distutils `StrictVersion`: `N.N[.N][(a|b)N]`; a pre-release sorts before its release.
fn strict_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    Ok(strict_key(a)?.cmp(&strict_key(b)?))
}

fn strict_key(s: &str) -> Result<(Vec<i64>, (u8, i64)), Error> {
    let bad = || op_err(format!("invalid version number '{s}'"));
    let split = s.find(['a', 'b']).unwrap_or(s.len());
    let (nums, pre) = s.split_at(split);
    let mut parts: Vec<i64> = nums
        .split('.')
        .map(|p| parse_python_int(p, 10).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    parts.resize(3, 0);
    let pre = match pre.chars().next() {
        None => (2, 0),
        Some(tag) => (
            u8::from(tag == 'b'),
            parse_python_int(&pre[1..], 10).ok_or_else(bad)?,
        ),
    };
    Ok((parts, pre))
}

/// Semantic versioning 2.0: `MAJOR.MINOR.PATCH[-pre][+build]`.
fn semver_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (an, ap) = semver_key(a)?;
    let (bn, bp) = semver_key(b)?;
    Ok(an
        .cmp(&bn)
        .then_with(|| match (ap.is_empty(), bp.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => ap.cmp(&bp),
        }))
}

fn semver_key(s: &str) -> Result<(Vec<u64>, Vec<Part>), Error> {
    let core = s
        .trim_start_matches('v')
        .split('+')
        .next()
        .unwrap_or_default();
    let (nums, pre) = core.split_once('-').unwrap_or((core, ""));
    let nums: Vec<u64> = nums
        .split('.')
        .map(|p| {
            p.parse::<u64>()
                .map_err(|_| op_err(format!("invalid semantic version '{s}'")))
        })
        .collect::<Result<_, _>>()?;
    if nums.len() != 3 {
        return Err(op_err(format!("invalid semantic version '{s}'")));
    }
    let pre = pre
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u64>()
                .map(Part::Num)
                .unwrap_or_else(|_| Part::Word(p.to_string()))
        })
        .collect();
    Ok((nums, pre))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn loose_version_compares_numerically() {
        assert_eq!(loose_cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(loose_cmp("1.2.0", "1.2"), Ordering::Greater);
        assert_eq!(loose_cmp("v1.28.3", "v1.28.3"), Ordering::Equal);
    }

    #[test]
    fn semver_prerelease_sorts_before_release() {
        assert_eq!(semver_cmp("1.0.0-rc.1", "1.0.0").ok(), Some(Ordering::Less));
        assert!(semver_cmp("1.0", "1.0.0").is_err());
    }

    #[test]
    fn strict_version_pads_and_orders_prereleases() {
        assert_eq!(strict_cmp("1.0", "1.0.0").ok(), Some(Ordering::Equal));
        assert_eq!(strict_cmp("1.0a1", "1.0b1").ok(), Some(Ordering::Less));
        assert!(strict_cmp("1.0.x", "1.0").is_err());
    }
}
