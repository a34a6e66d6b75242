//! String and scalar filters (`bool`, `int`, `default`, `join`, `split`…) and the Python methods
//! templates call on values (`'x'.startswith()`, `d.items()`, `l.index()`).
//!
//! minijinja has built-ins of the same names; these replace the ones whose behaviour differs
//! from Jinja2/Ansible (Python `str()` of values, `default`'s boolean flag, `int` base…).

use super::native::python_str;
use super::{defined, op_err};
use minijinja::value::{Kwargs, Value as MjValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", bool_filter);
    env.add_filter("int", int_filter);
    env.add_filter("float", float_filter);
    env.add_filter("string", string_filter);
    env.add_filter("lower", |v: &MjValue| -> Result<String, Error> {
        text(v).map(|s| s.to_lowercase())
    });
    env.add_filter("upper", |v: &MjValue| -> Result<String, Error> {
        text(v).map(|s| s.to_uppercase())
    });
    env.add_filter("capitalize", capitalize);
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("ternary", ternary);
    env.add_filter("mandatory", mandatory);
    env.add_filter("join", join);
    env.add_filter("split", split);
    env.add_filter("replace", replace);
}

/// Python `str()` of a filter input; undefined is an error (Ansible's strict undefined).
pub fn text(v: &MjValue) -> Result<String, Error> {
    defined(v)?;
    Ok(python_str(v))
}

/// Ansible's `bool`: true for `True`, `'yes'`, `'on'`, `'1'`, `'true'` (any case) and `1`.
fn bool_filter(v: &MjValue) -> Result<bool, Error> {
    defined(v)?;
    Ok(match v.kind() {
        ValueKind::None => false,
        ValueKind::Bool => v.is_true(),
        ValueKind::String => {
            matches!(
                v.as_str().unwrap_or_default().to_lowercase().as_str(),
                "yes" | "on" | "1" | "true"
            )
        }
        ValueKind::Number => f64::try_from(v.clone()).is_ok_and(|f| f == 1.0),
        _ => false,
    })
}

/// Jinja2's `int(value, default=0, base=10)`: strings in `base` (Python prefixes allowed),
/// falling back to `int(float(s))`, then to `default`.
fn int_filter(v: &MjValue, default: Option<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    defined(v)?;
    let default = kwargs
        .get::<Option<MjValue>>("default")?
        .or(default)
        .unwrap_or(MjValue::from(0));
    let base: i64 = kwargs.get::<Option<i64>>("base")?.unwrap_or(10);
    kwargs.assert_all_used()?;
    Ok(match v.kind() {
        ValueKind::Bool => MjValue::from(i64::from(v.is_true())),
        ValueKind::Number => match v.as_i64() {
            Some(i) => MjValue::from(i),
            None => f64::try_from(v.clone())
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| MjValue::from(f.trunc() as i64))
                .unwrap_or(default),
        },
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            parse_python_int(s, base)
                .or_else(|| {
                    parse_python_float(s)
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                })
                .map(MjValue::from)
                .unwrap_or(default)
        }
        _ => default,
    })
}

/// Python's `int(s, base)` for the cases templates meet.
pub fn parse_python_int(s: &str, base: i64) -> Option<i64> {
    let t: String = s.trim().chars().filter(|c| *c != '_').collect();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = match (base, lower.get(..2)) {
        (16 | 0, Some("0x")) => (16, &lower[2..]),
        (8 | 0, Some("0o")) => (8, &lower[2..]),
        (2 | 0, Some("0b")) => (2, &lower[2..]),
        (0, _) => (10, lower.as_str()),
        (b, _) => (u32::try_from(b).ok()?, lower.as_str()),
    };
    if !(2..=36).contains(&radix) || body.is_empty() {
        return None;
    }
    let n = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `float(s)`: decimal, exponent, `inf`, `nan`, underscores.
pub fn parse_python_float(s: &str) -> Option<f64> {
    let t: String = s.trim().chars().filter(|c| *c != '_').collect();
    match t.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => {}
        other if other.chars().any(|c| c.is_ascii_alphabetic() && c != 'e') => return None,
        _ => {}
    }
    t.parse().ok()
}

/// Jinja2's `float(value, default=0.0)`.
fn float_filter(v: &MjValue, default: Option<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    defined(v)?;
    let default = kwargs
        .get::<Option<MjValue>>("default")?
        .or(default)
        .unwrap_or(MjValue::from(0.0));
    kwargs.assert_all_used()?;
    Ok(match v.kind() {
        ValueKind::Bool => MjValue::from(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(v.clone())
            .map(MjValue::from)
            .unwrap_or(default),
        ValueKind::String => parse_python_float(v.as_str().unwrap_or_default())
            .map(MjValue::from)
            .unwrap_or(default),
        _ => default,
    })
}

fn string_filter(v: &MjValue) -> Result<String, Error> {
    text(v)
}

/// Python's `str.capitalize`: first character upper, the rest lower.
fn capitalize(v: &MjValue) -> Result<String, Error> {
    let s = text(v)?;
    let mut chars = s.chars();
    Ok(match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    })
}

/// Jinja2's `default(value, default_value='', boolean=False)`: replaces undefined, and with
/// `boolean` true also any falsy value.
fn default(
    v: &MjValue,
    other: Option<MjValue>,
    boolean: Option<bool>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let other = kwargs
        .get::<Option<MjValue>>("default_value")?
        .or(other)
        .unwrap_or(MjValue::from(""));
    let boolean = kwargs
        .get::<Option<bool>>("boolean")?
        .or(boolean)
        .unwrap_or(false);
    kwargs.assert_all_used()?;
    if v.is_undefined() || (boolean && !v.is_true()) {
        Ok(other)
    } else {
        Ok(v.clone())
    }
}

/// Ansible's `ternary(true_val, false_val, none_val=None)`.
fn ternary(
    v: &MjValue,
    true_val: MjValue,
    false_val: MjValue,
    none_val: Option<MjValue>,
) -> Result<MjValue, Error> {
    defined(v)?;
    match none_val {
        Some(n) if v.is_none() => Ok(n),
        _ => Ok(if v.is_true() { true_val } else { false_val }),
    }
}

/// Ansible's `mandatory(msg=None)`: the value, or an error naming the undefined variable.
fn mandatory(v: &MjValue, msg: Option<String>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let msg = kwargs
        .get::<Option<String>>("msg")?
        .or(msg)
        .unwrap_or_default();
    kwargs.assert_all_used()?;
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("{}{msg}", super::undefined::MANDATORY),
        ));
    }
    Ok(v.clone())
}

/// Jinja2's `join(d='', attribute=None)`: Python `str()` of each item.
fn join(state: &State, v: &MjValue, sep: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    defined(v)?;
    let attribute = kwargs.get::<Option<String>>("attribute")?;
    let sep = kwargs
        .get::<Option<String>>("d")?
        .or(sep)
        .unwrap_or_default();
    kwargs.assert_all_used()?;
    if let Some(s) = v.as_str() {
        return Ok(s.chars().map(String::from).collect::<Vec<_>>().join(&sep));
    }
    let mut parts = Vec::new();
    for item in state.undefined_behavior().try_iter_value(v)? {
        let item = match &attribute {
            Some(a) => super::filters_collections::attr_path(&item, a),
            None => item,
        };
        parts.push(text(&item)?);
    }
    Ok(parts.join(&sep))
}

/// Python's `str.split(sep=None, maxsplit=-1)`.
fn split(v: &MjValue, sep: Option<MjValue>, maxsplit: Option<i64>) -> Result<Vec<String>, Error> {
    let s = text(v)?;
    let max = maxsplit.filter(|m| *m >= 0).map(|m| m as usize);
    Ok(python_split(&s, sep.as_ref().and_then(|x| x.as_str()), max))
}

pub fn python_split(s: &str, sep: Option<&str>, max: Option<usize>) -> Vec<String> {
    match sep {
        Some(sep) if !sep.is_empty() => match max {
            Some(m) => s.splitn(m + 1, sep).map(String::from).collect(),
            None => s.split(sep).map(String::from).collect(),
        },
        _ => {
            let mut out = Vec::new();
            let mut rest = s.trim_start();
            while !rest.is_empty() {
                if max.is_some_and(|m| out.len() == m) {
                    out.push(rest.trim_end().to_string());
                    break;
                }
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                out.push(rest[..end].to_string());
                rest = rest[end..].trim_start();
            }
            out
        }
    }
}

/// Jinja2's `replace(old, new, count=None)` on the `str()` of the value.
fn replace(v: &MjValue, old: String, new: String, count: Option<usize>) -> Result<String, Error> {
    let s = text(v)?;
    Ok(match count {
        Some(n) => s.replacen(&old, &new, n),
        None => s.replace(&old, &new),
    })
}

/// Python methods on values: minijinja-contrib's set plus `list.index`, `str.zfill`,
/// `dict.copy`. Anything else is minijinja's "unknown method" error.
pub fn unknown_method(
    state: &State,
    value: &MjValue,
    method: &str,
    args: &[MjValue],
) -> Result<MjValue, Error> {
    match (value.kind(), method) {
        (ValueKind::Seq, "index") => {
            let what = args
                .first()
                .ok_or_else(|| op_err("index() takes exactly one argument"))?;
            value
                .try_iter()?
                .position(|x| &x == what)
                .map(MjValue::from)
                .ok_or_else(|| {
                    op_err(format!(
                        "{} is not in list",
                        super::native::python_repr(what)
                    ))
                })
        }
        (ValueKind::String, "zfill") => {
            let width: usize = args.first().and_then(|w| w.as_usize()).unwrap_or(0);
            let s = value.as_str().unwrap_or_default();
            let (sign, digits) = match s.strip_prefix(['-', '+']) {
                Some(rest) => (&s[..1], rest),
                None => ("", s),
            };
            let pad = width.saturating_sub(s.chars().count());
            Ok(MjValue::from(format!("{sign}{}{digits}", "0".repeat(pad))))
        }
        (ValueKind::Map, "copy") => Ok(super::from_json_value(&super::to_json_value(value))),
        (ValueKind::String, "format") => {
            // str.format with Python's str() of arguments
            let args: Vec<MjValue> = args
                .iter()
                .map(|a| {
                    if a.kind() == ValueKind::String {
                        a.clone()
                    } else {
                        MjValue::from(python_str(a))
                    }
                })
                .collect();
            minijinja_contrib::pycompat::unknown_method_callback(state, value, method, &args)
        }
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}

/// Helpers shared with other filter families.
pub trait IterValue {
    fn try_iter_value(self, v: &MjValue) -> Result<Vec<MjValue>, Error>;
}

impl IterValue for minijinja::UndefinedBehavior {
    /// The items of an iterable; a string iterates its characters, undefined is an error.
    fn try_iter_value(self, v: &MjValue) -> Result<Vec<MjValue>, Error> {
        defined(v)?;
        match v.kind() {
            ValueKind::String => Ok(v
                .as_str()
                .unwrap_or_default()
                .chars()
                .map(MjValue::from)
                .collect()),
            ValueKind::Map | ValueKind::Seq | ValueKind::Iterable => Ok(v.try_iter()?.collect()),
            _ => Err(op_err(format!(
                "'{}' object is not iterable",
                super::filters_collections::py_type(v)
            ))),
        }
    }
}
