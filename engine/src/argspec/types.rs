//! The type conversions of an argument spec (`type:` and `elements:`), with the same
//! coercions and error texts as ansible-core's `check_type_*` functions, so a role's callers
//! see the messages they know.

use crate::template::{from_json_value, python_repr};
use crate::value::{Map, Value};

/// Python's `type()` as ansible-core prints it in messages (`<class 'str'>`).
pub fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<class 'NoneType'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::String(_) => "<class 'str'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

/// Python's `repr()` of a value.
pub fn py_repr(v: &Value) -> String {
    python_repr(&from_json_value(v))
}

/// Python's `str()` of a value (text as is, anything else as its repr).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => py_repr(other),
    }
}

/// The name a `type:` is reported under, and whether kplay knows it.
pub fn type_name(wanted: Option<&Value>) -> Result<&'static str, String> {
    let name = match wanted {
        None | Some(Value::Null) => return Ok("str"),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(format!("unsupported type: {}", py_str(other))),
    };
    KNOWN
        .iter()
        .copied()
        .find(|k| *k == name)
        .ok_or_else(|| format!("'NoneType' object is not callable (unknown type '{name}')"))
}

const KNOWN: &[&str] = &[
    "str", "list", "dict", "bool", "int", "float", "path", "raw", "jsonarg", "json", "bytes",
    "bits",
];

/// Converts `v` to the type `name` (one of [`KNOWN`]), or says why it cannot.
pub fn convert(name: &str, v: &Value) -> Result<Value, String> {
    match name {
        "str" => Ok(Value::String(py_str(v))),
        "path" => Ok(Value::String(expand_path(&py_str(v)))),
        "raw" => Ok(v.clone()),
        "list" => to_list(v),
        "dict" => to_dict(v),
        "bool" => to_bool(v),
        "int" => to_int(v),
        "float" => to_float(v),
        "json" | "jsonarg" => to_json_text(v),
        "bytes" => human_to_bytes(v, false)
            .ok_or_else(|| format!("{} cannot be converted to a Byte value", py_type(v))),
        "bits" => human_to_bytes(v, true)
            .ok_or_else(|| format!("{} cannot be converted to a Bit value", py_type(v))),
        other => Err(format!("unknown type '{other}'")),
    }
}

fn to_list(v: &Value) -> Result<Value, String> {
    match v {
        Value::Array(_) => Ok(v.clone()),
        Value::String(s) => Ok(Value::Array(
            s.split(',').map(|p| Value::String(p.into())).collect(),
        )),
        Value::Number(_) => Ok(Value::Array(vec![Value::String(py_str(v))])),
        _ => Err(format!("{} cannot be converted to a list", py_type(v))),
    }
}

fn to_dict(v: &Value) -> Result<Value, String> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::String(s) if s.starts_with('{') => match serde_json::from_str::<Value>(s) {
            Ok(d @ Value::Object(_)) => Ok(d),
            _ => match crate::template::literal_eval(s) {
                Some(d @ Value::Object(_)) => Ok(d),
                _ => Err("unable to evaluate string as dictionary".into()),
            },
        },
        Value::String(s) if s.contains('=') => key_value_dict(s),
        Value::String(_) => Err("dictionary requested, could not parse JSON or key=value".into()),
        _ => Err(format!("{} cannot be converted to a dict", py_type(v))),
    }
}

/// `k1=v1, k2="a b"`: fields split on commas and spaces outside quotes, `\` escaping.
fn key_value_dict(s: &str) -> Result<Value, String> {
    let mut fields = Vec::new();
    let mut buf = String::new();
    let (mut quote, mut escape) = (None, false);
    for c in s.trim().chars() {
        if escape {
            buf.push(c);
            escape = false;
        } else if c == '\\' {
            escape = true;
        } else if quote.is_none() && (c == '\'' || c == '"') {
            quote = Some(c);
        } else if quote == Some(c) {
            quote = None;
        } else if quote.is_none() && (c == ',' || c == ' ') {
            if !buf.is_empty() {
                fields.push(std::mem::take(&mut buf));
            }
        } else {
            buf.push(c);
        }
    }
    if !buf.is_empty() {
        fields.push(buf);
    }
    let mut m = Map::new();
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(
                "unable to evaluate string in the \"key=value\" format as dictionary".into(),
            );
        };
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(Value::Object(m))
}

const TRUE: &[&str] = &["y", "yes", "on", "1", "true", "t"];
const FALSE: &[&str] = &["n", "no", "off", "0", "false", "f"];

fn to_bool(v: &Value) -> Result<Value, String> {
    let bad = || {
        let all: Vec<String> = TRUE
            .iter()
            .chain(FALSE)
            .map(|b| format!("'{b}'"))
            .chain(["1", "1.0", "True", "0", "0.0", "False"].map(String::from))
            .collect();
        format!(
            "The value '{}' is not a valid boolean.  Valid booleans include: {}",
            py_str(v),
            all.join(", ")
        )
    };
    match v {
        Value::Bool(_) => Ok(v.clone()),
        Value::String(s) => {
            let n = s.trim().to_lowercase();
            if TRUE.contains(&n.as_str()) {
                Ok(Value::Bool(true))
            } else if FALSE.contains(&n.as_str()) {
                Ok(Value::Bool(false))
            } else {
                Err(bad())
            }
        }
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Ok(Value::Bool(true)),
            Some(0.0) => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        _ => Err(format!("{} cannot be converted to a bool", py_type(v))),
    }
}

/// As ansible-core 2.18: integers pass, text and floats convert when they hold a whole number.
fn to_int(v: &Value) -> Result<Value, String> {
    let bad = || format!("\"{}\" cannot be converted to an int", py_repr(v));
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        Value::Bool(b) => Ok(Value::from(i64::from(*b))),
        Value::Number(n) => whole(n.as_f64().ok_or_else(bad)?).ok_or_else(bad),
        Value::String(s) => {
            let t = s.trim().replace('_', "");
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::from(i));
            }
            let f: f64 = t.parse().map_err(|_| bad())?;
            whole(f).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

fn whole(f: f64) -> Option<Value> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18).then(|| Value::from(f as i64))
}

fn to_float(v: &Value) -> Result<Value, String> {
    let bad = || format!("{} cannot be converted to a float", py_type(v));
    let f = match v {
        Value::Number(n) => n.as_f64().ok_or_else(bad)?,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(bad)
}

fn to_json_text(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => Ok(Value::String(s.trim().to_string())),
        Value::Array(_) | Value::Object(_) => Ok(Value::String(v.to_string())),
        _ => Err(format!(
            "{} cannot be converted to a json string",
            py_type(v)
        )),
    }
}

/// `~` and `$VAR` expanded on the controller, as Python's `expanduser(expandvars())`.
fn expand_path(p: &str) -> String {
    let re = regex::Regex::new(r"\$(\w+)|\$\{(\w+)\}").ok();
    let expanded = match re {
        Some(re) => re
            .replace_all(p, |c: &regex::Captures| {
                let name = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                std::env::var(name).unwrap_or_else(|_| c[0].to_string())
            })
            .into_owned(),
        None => p.to_string(),
    };
    match (expanded.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => expanded,
    }
}

/// `'10M'` → 10485760 (`isbits`: `'1Mb'`), numbers as they are; `None` when unreadable.
fn human_to_bytes(v: &Value, isbits: bool) -> Option<Value> {
    if let Value::Number(n) = v {
        return whole(n.as_f64()?);
    }
    let s = v.as_str()?.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num: f64 = s[..split].parse().ok()?;
    let unit = s[split..].trim();
    let Some(letter) = unit.chars().next() else {
        return whole(num.round());
    };
    let shift = "BKMGTPEZY"
        .find(letter.to_ascii_uppercase())
        .map(|i| i as i32 * 10)?;
    // As ansible-core: a longer unit must say `bit`/`byte` or carry `b` (bits) / `B` (bytes).
    let (class, class_name) = if isbits { ('b', "bit") } else { ('B', "byte") };
    let ok = unit.chars().count() == 1
        || unit.to_lowercase().contains(class_name)
        || unit.chars().nth(1) == Some(class);
    ok.then(|| whole((num * 2f64.powi(shift)).round()))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions_follow_ansible_core() {
        assert_eq!(convert("int", &json!("42")).unwrap(), json!(42));
        assert_eq!(convert("int", &json!(4.0)).unwrap(), json!(4));
        assert_eq!(
            convert("int", &json!("abc")).unwrap_err(),
            "\"'abc'\" cannot be converted to an int"
        );
        assert_eq!(convert("str", &json!(5)).unwrap(), json!("5"));
        assert_eq!(convert("str", &json!(true)).unwrap(), json!("True"));
        assert_eq!(convert("list", &json!("a,b")).unwrap(), json!(["a", "b"]));
        assert_eq!(
            convert("list", &json!({"a": 1})).unwrap_err(),
            "<class 'dict'> cannot be converted to a list"
        );
        assert_eq!(
            convert("dict", &json!("a=1 b='x y'")).unwrap(),
            json!({"a": "1", "b": "x y"})
        );
        assert_eq!(convert("bool", &json!("Yes")).unwrap(), json!(true));
        assert!(convert("bool", &json!("maybe"))
            .unwrap_err()
            .starts_with("The value 'maybe' is not a valid boolean."));
        assert_eq!(
            convert("float", &json!([1])).unwrap_err(),
            "<class 'list'> cannot be converted to a float"
        );
        assert_eq!(convert("bytes", &json!("1K")).unwrap(), json!(1024));
        assert_eq!(convert("bits", &json!("1Mb")).unwrap(), json!(1048576));
        assert!(convert("bytes", &json!("1Mb")).is_err());
    }

    #[test]
    fn unknown_types_are_named() {
        assert_eq!(type_name(None).unwrap(), "str");
        assert_eq!(type_name(Some(&json!("int"))).unwrap(), "int");
        assert!(type_name(Some(&json!("integer"))).is_err());
    }
}
