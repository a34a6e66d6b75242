//! List and dict filters: `flatten`, `combine`, `dict2items`, `items2dict`, set operations,
//! `extract`, `rekey_on_member`, `subelements`. minijinja's built-ins already match Jinja2 for `map`, `select`, `reject`,
//! `selectattr`, `rejectattr`, `sort`, `unique`, `first`, `last`, `list`, `min`, `max`, `sum`.

use super::convert::{from_json_value, to_json_value};
use super::filters_strings::IterValue;
use super::{defined, op_err};
use crate::value::{Map, Value};
use minijinja::value::{Kwargs, Rest, Value as MjValue, ValueKind};
use minijinja::{Environment, Error, State};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("flatten", flatten);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("dict", pairs2dict);
    env.add_filter("community.general.dict", pairs2dict);
    env.add_filter("union", |s: &State, a: &MjValue, b: &MjValue| {
        set_op(s, a, b, SetOp::Union)
    });
    env.add_filter("intersect", |s: &State, a: &MjValue, b: &MjValue| {
        set_op(s, a, b, SetOp::Intersect)
    });
    env.add_filter("difference", |s: &State, a: &MjValue, b: &MjValue| {
        set_op(s, a, b, SetOp::Difference)
    });
    env.add_filter(
        "symmetric_difference",
        |s: &State, a: &MjValue, b: &MjValue| set_op(s, a, b, SetOp::Symmetric),
    );
    env.add_filter("extract", extract);
    env.add_filter("rekey_on_member", rekey_on_member);
    env.add_filter("subelements", subelements);
}

/// `rekey_on_member(key, duplicates='error')`: a list of dicts (or a dict's values) as a dict
/// keyed by each item's `key`.
fn rekey_on_member(data: &MjValue, key: &MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    let duplicates = kwargs
        .get::<Option<String>>("duplicates")?
        .unwrap_or_else(|| "error".into());
    kwargs.assert_all_used()?;
    if !matches!(duplicates.as_str(), "error" | "overwrite") {
        return Err(op_err(format!(
            "duplicates parameter to rekey_on_member has unknown value: {duplicates}"
        )));
    }
    let items: Vec<Value> = match to_json_value(data) {
        Value::Array(a) => a,
        Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(op_err("Type is not a valid list, set, or dict".to_string())),
    };
    let key = super::native::python_str(key);
    let mut out = Map::new();
    for item in items {
        let Value::Object(m) = &item else {
            return Err(op_err(format!(
                "List item is not a valid dict: {}",
                super::native::python_str(&from_json_value(&item))
            )));
        };
        let Some(k) = m.get(&key) else {
            return Err(op_err(format!("Key {key} was not found")));
        };
        let k = crate::value::to_display_string(k);
        if out.contains_key(&k) && duplicates == "error" {
            return Err(op_err(format!(
                "Key {k} is not unique, cannot correctly turn into dict"
            )));
        }
        out.insert(k, item);
    }
    Ok(from_json_value(&Value::Object(out)))
}

/// `subelements('key', skip_missing=False)`: pairs (item, subitem) as `with_subelements` makes
/// them (one implementation, the loop's).
fn subelements(data: &MjValue, key: &MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    let skip = kwargs.get::<Option<bool>>("skip_missing")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let mut flags = Map::new();
    flags.insert("skip_missing".into(), Value::Bool(skip));
    let input = Value::Array(vec![
        to_json_value(data),
        to_json_value(key),
        Value::Object(flags),
    ]);
    let pairs = crate::exec::loops::items("subelements", input, &[]).map_err(op_err)?;
    Ok(from_json_value(&Value::Array(pairs)))
}

/// Python's type name of a value, for error messages.
pub fn py_type(v: &MjValue) -> &'static str {
    match v.kind() {
        ValueKind::Map => "dict",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::String => "str",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::None => "NoneType",
        ValueKind::Undefined => "AnsibleUndefined",
        _ => "object",
    }
}

/// `item.a.b` for an `attribute='a.b'` argument (integers index lists, as Jinja2's).
pub fn attr_path(item: &MjValue, path: &str) -> MjValue {
    let mut cur = item.clone();
    for part in path.split('.') {
        let next = match part.parse::<i64>() {
            Ok(n) if cur.kind() == ValueKind::Seq => cur.get_item(&MjValue::from(n)),
            _ => cur.get_item(&MjValue::from(part)),
        };
        cur = next.unwrap_or(MjValue::UNDEFINED);
    }
    cur
}

/// Ansible's `flatten(levels=None, skip_nulls=True)`: nulls (and the strings `None`/`null`)
/// are dropped unless `skip_nulls=false`.
fn flatten(
    state: &State,
    v: &MjValue,
    levels: Option<i64>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let levels = kwargs.get::<Option<i64>>("levels")?.or(levels);
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    flatten_into(state, v, levels, skip_nulls, &mut out)?;
    Ok(MjValue::from(out))
}

fn flatten_into(
    state: &State,
    v: &MjValue,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<MjValue>,
) -> Result<(), Error> {
    for item in state.undefined_behavior().try_iter_value(v)? {
        let nullish = item.is_none() || matches!(item.as_str(), Some("None" | "null"));
        if skip_nulls && nullish {
            continue;
        }
        let is_seq = matches!(item.kind(), ValueKind::Seq | ValueKind::Iterable);
        match levels {
            _ if !is_seq => out.push(item),
            None => flatten_into(state, &item, None, skip_nulls, out)?,
            Some(l) if l >= 1 => flatten_into(state, &item, Some(l - 1), skip_nulls, out)?,
            Some(_) => out.push(item),
        }
    }
    Ok(())
}

/// How `combine` merges two lists found under the same key (`list_merge`).
#[derive(Clone, Copy)]
enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

/// Ansible's `combine(*dicts, recursive=False, list_merge='replace')`; arguments may also be
/// lists of dicts.
fn combine(v: &MjValue, rest: Rest<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    defined(v)?;
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = match kwargs
        .get::<Option<String>>("list_merge")?
        .as_deref()
        .unwrap_or("replace")
    {
        "replace" => ListMerge::Replace,
        "keep" => ListMerge::Keep,
        "append" => ListMerge::Append,
        "prepend" => ListMerge::Prepend,
        "append_rp" => ListMerge::AppendRp,
        "prepend_rp" => ListMerge::PrependRp,
        other => {
            return Err(op_err(format!(
                "combine: unknown list_merge option '{other}'"
            )))
        }
    };
    kwargs.assert_all_used()?;
    let mut dicts = Vec::new();
    for arg in std::iter::once(v).chain(rest.iter()) {
        match to_json_value(arg) {
            Value::Object(m) => dicts.push(m),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(m) => dicts.push(m),
                        other => {
                            return Err(op_err(format!(
                                "combine expects dictionaries, got {other}"
                            )))
                        }
                    }
                }
            }
            other => return Err(op_err(format!("combine expects dictionaries, got {other}"))),
        }
    }
    let mut acc = Map::new();
    for d in dicts {
        merge(&mut acc, d, recursive, list_merge);
    }
    Ok(from_json_value(&Value::Object(acc)))
}

fn merge(acc: &mut Map, other: Map, recursive: bool, lm: ListMerge) {
    for (k, v) in other {
        match (acc.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) if recursive => merge(a, b, recursive, lm),
            (Some(Value::Array(a)), Value::Array(b)) => merge_lists(a, b, lm),
            (_, v) => {
                acc.insert(k, v);
            }
        }
    }
}

fn merge_lists(a: &mut Vec<Value>, b: Vec<Value>, lm: ListMerge) {
    match lm {
        ListMerge::Replace => *a = b,
        ListMerge::Keep => {}
        ListMerge::Append => a.extend(b),
        ListMerge::Prepend => {
            let old = std::mem::replace(a, b);
            a.extend(old);
        }
        ListMerge::AppendRp => {
            a.retain(|x| !b.contains(x));
            a.extend(b);
        }
        ListMerge::PrependRp => {
            let old: Vec<Value> = std::mem::take(a)
                .into_iter()
                .filter(|x| !b.contains(x))
                .collect();
            *a = b;
            a.extend(old);
        }
    }
}

/// The `key_name` and `value_name` arguments of `dict2items` and `items2dict` (defaults `key`
/// and `value`); no other keyword argument is accepted.
fn key_value_names(kwargs: &Kwargs) -> Result<(String, String), Error> {
    let key_name = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    Ok((key_name, value_name))
}

/// Ansible's `dict2items(key_name='key', value_name='value')`.
fn dict2items(v: &MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    defined(v)?;
    let (key_name, value_name) = key_value_names(&kwargs)?;
    if v.kind() != ValueKind::Map {
        return Err(op_err(format!(
            "dict2items requires a dictionary, got {} instead.",
            py_type(v)
        )));
    }
    let mut out = Vec::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        out.push(MjValue::from_iter([
            (key_name.clone(), k),
            (value_name.clone(), val),
        ]));
    }
    Ok(MjValue::from(out))
}

/// Ansible's `items2dict(key_name='key', value_name='value')`.
fn items2dict(state: &State, v: &MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    let (key_name, value_name) = key_value_names(&kwargs)?;
    let mut out = indexmap::IndexMap::new();
    for item in state.undefined_behavior().try_iter_value(v)? {
        let k = item.get_attr(&key_name).unwrap_or(MjValue::UNDEFINED);
        let val = item.get_attr(&value_name).unwrap_or(MjValue::UNDEFINED);
        if k.is_undefined() || val.is_undefined() {
            return Err(op_err(format!(
                "items2dict requires each item to have '{key_name}' and '{value_name}' keys"
            )));
        }
        out.insert(k, val);
    }
    Ok(MjValue::from(out))
}

/// community.general's `dict`: a list of `[key, value]` pairs (Python's `dict(pairs)`).
fn pairs2dict(state: &State, v: &MjValue) -> Result<MjValue, Error> {
    let mut out = indexmap::IndexMap::new();
    for item in state.undefined_behavior().try_iter_value(v)? {
        let pair: Vec<MjValue> = state
            .undefined_behavior()
            .try_iter_value(&item)?
            .into_iter()
            .collect();
        match pair.as_slice() {
            [k, val] => {
                out.insert(k.clone(), val.clone());
            }
            _ => {
                return Err(op_err(format!(
                    "dictionary update sequence element has length {}; 2 is required",
                    pair.len()
                )))
            }
        }
    }
    Ok(MjValue::from(out))
}

#[derive(Clone, Copy)]
enum SetOp {
    Union,
    Intersect,
    Difference,
    Symmetric,
}

/// Ansible's set filters: order of first appearance kept, duplicates removed.
fn set_op(state: &State, a: &MjValue, b: &MjValue, op: SetOp) -> Result<MjValue, Error> {
    let ub = state.undefined_behavior();
    let a = ub.try_iter_value(a)?;
    let b = ub.try_iter_value(b)?;
    let items: Vec<MjValue> = match op {
        SetOp::Union => a.into_iter().chain(b).collect(),
        SetOp::Intersect => a.into_iter().filter(|x| b.contains(x)).collect(),
        SetOp::Difference => a.into_iter().filter(|x| !b.contains(x)).collect(),
        SetOp::Symmetric => {
            let left: Vec<MjValue> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
            left.into_iter()
                .chain(b.into_iter().filter(|x| !a.contains(x)))
                .collect()
        }
    };
    let mut out: Vec<MjValue> = Vec::new();
    for x in items {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    Ok(MjValue::from(out))
}

/// Ansible's `extract(container, morekeys=None)`: `container[item]`, then each of `morekeys`.
fn extract(
    item: &MjValue,
    container: &MjValue,
    morekeys: Option<MjValue>,
) -> Result<MjValue, Error> {
    defined(item)?;
    let mut cur = container.get_item(item)?;
    if let Some(keys) = morekeys {
        let keys: Vec<MjValue> = if keys.kind() == ValueKind::Seq {
            keys.try_iter()?.collect()
        } else {
            vec![keys]
        };
        for k in keys {
            cur = cur.get_item(&k)?;
        }
    }
    Ok(cur)
}
