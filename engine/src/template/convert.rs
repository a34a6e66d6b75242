//! Conversions between minijinja's `Value` and the engine's JSON `Value`.
//!
//! Templates see variables as minijinja values and hand results back as JSON values; the two
//! models differ only at the edges (undefined, non-string map keys, NaN), handled here once.

use crate::value::{Map, Value};
use indexmap::IndexMap;
use minijinja::value::{Value as MjValue, ValueKind};

/// A template result as a JSON value.
///
/// Undefined becomes `null`; map keys become Python's `str()` of the key (`True`, `1`), as
/// Ansible would show them; a non-finite float becomes `null` (JSON has no NaN); opaque
/// objects (functions, macros) become their display string.
pub fn to_json_value(v: &MjValue) -> Value {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None | ValueKind::Invalid => Value::Null,
        ValueKind::Bool => Value::Bool(v.is_true()),
        ValueKind::Number => number_to_json(v),
        ValueKind::String => Value::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Bytes => {
            Value::String(String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned())
        }
        ValueKind::Seq | ValueKind::Iterable => match v.try_iter() {
            Ok(items) => Value::Array(items.map(|x| to_json_value(&x)).collect()),
            Err(_) => Value::String(v.to_string()),
        },
        ValueKind::Map => {
            let mut m = Map::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let val = v.get_item(&k).unwrap_or_default();
                    m.insert(key_string(&k), to_json_value(&val));
                }
            }
            Value::Object(m)
        }
        ValueKind::Plain => Value::String(v.to_string()),
        // `ValueKind` is non-exhaustive; anything new is shown as text rather than lost.
        _ => Value::String(v.to_string()),
    }
}

/// A JSON value as a template value, keeping map order.
pub fn from_json_value(v: &Value) -> MjValue {
    match v {
        Value::Null => MjValue::from(()),
        Value::Bool(b) => MjValue::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                MjValue::from(i)
            } else if let Some(u) = n.as_u64() {
                MjValue::from(u)
            } else {
                MjValue::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => MjValue::from(s.as_str()),
        Value::Array(a) => MjValue::from(a.iter().map(from_json_value).collect::<Vec<_>>()),
        Value::Object(o) => {
            let m: IndexMap<MjValue, MjValue> = o
                .iter()
                .map(|(k, x)| (MjValue::from(k.as_str()), from_json_value(x)))
                .collect();
            MjValue::from(m)
        }
    }
}

fn number_to_json(v: &MjValue) -> Value {
    if v.is_integer() {
        if let Some(i) = v.as_i64() {
            return Value::from(i);
        }
        if let Ok(u) = u64::try_from(v.clone()) {
            return Value::from(u);
        }
    }
    match f64::try_from(v.clone()) {
        Ok(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// A map key as Python's `str()` shows it.
fn key_string(k: &MjValue) -> String {
    match k.kind() {
        ValueKind::String => k.as_str().unwrap_or_default().to_string(),
        _ => crate::value::to_display_string(&to_json_value(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_types_and_key_order() {
        let v = json!({"z": 1, "a": [true, null, 1.5, "s"], "m": {"k": -3}});
        let back = to_json_value(&from_json_value(&v));
        assert_eq!(back, v);
        let keys: Vec<_> = back
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, vec!["z", "a", "m"]);
    }

    #[test]
    fn undefined_becomes_null() {
        assert_eq!(to_json_value(&MjValue::UNDEFINED), Value::Null);
    }

    #[test]
    fn non_string_keys_use_python_str() {
        let mut m: IndexMap<MjValue, MjValue> = IndexMap::new();
        m.insert(MjValue::from(true), MjValue::from(1));
        m.insert(MjValue::from(2), MjValue::from(3));
        assert_eq!(to_json_value(&MjValue::from(m)), json!({"True": 1, "2": 3}));
    }

    #[test]
    fn integral_float_stays_float() {
        assert_eq!(to_json_value(&MjValue::from(2.0)), json!(2.0));
    }
}
