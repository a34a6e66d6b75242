//! Loop items: `loop:` and the `with_<lookup>` forms, computed on the controller.

use crate::value::{ansible_bool, to_display_string, Map, Value};
use std::path::{Path, PathBuf};

/// Turn a rendered loop value into items, as the matching `with_*` lookup does; file lookups
/// search each directory's `files/` first.
pub fn items(kind: &str, v: Value, search: &[PathBuf]) -> Result<Vec<Value>, String> {
    items_in(kind, v, search, "files")
}

/// The subdirectory a `with_<lookup>` loop searches first, from the task's action as
/// ansible-core picks it: `templates` for template actions, `vars` for include_vars, else `files`.
pub fn loop_subdir(action: &str) -> &'static str {
    ["template", "var", "file"]
        .into_iter()
        .find(|s| action.contains(s))
        .map_or("files", |s| match s {
            "template" => "templates",
            "var" => "vars",
            _ => "files",
        })
}

/// [`items`] with the subdirectory file lookups search first (see [`loop_subdir`]).
pub fn items_in(
    kind: &str,
    v: Value,
    search: &[PathBuf],
    subdir: &str,
) -> Result<Vec<Value>, String> {
    match kind {
        "loop" => match v {
            Value::Array(a) => Ok(a),
            Value::Null => Ok(vec![]),
            other => Err(format!("Invalid data passed to 'loop', it requires a list, got this instead: {}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.", to_display_string(&other))),
        },
        "items" => Ok(flatten_one(v)),
        "list" => Ok(match v {
            Value::Array(a) => a,
            Value::Null => vec![],
            other => vec![other],
        }),
        "flattened" => {
            let mut out = Vec::new();
            flatten_all(v, &mut out);
            Ok(out)
        }
        "indexed_items" => Ok(flatten_one(v).into_iter().enumerate().map(|(i, x)| Value::Array(vec![Value::from(i), x])).collect()),
        "dict" => match v {
            Value::Object(m) => Ok(m.into_iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect()),
            Value::Null => Ok(vec![]),
            other => Err(format!("with_dict expects a dict, got {}", to_display_string(&other))),
        },
        "together" => {
            let lists: Vec<Vec<Value>> = as_list(v).into_iter().map(as_list).collect();
            let n = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..n).map(|i| Value::Array(lists.iter().map(|l| l.get(i).cloned().unwrap_or(Value::Null)).collect())).collect())
        }
        "nested" | "cartesian" => Ok(nested(v)),
        "sequence" => sequence(&v),
        "subelements" => subelements(v),
        "fileglob" => fileglob(v, search),
        "first_found" => first_found(v, search, subdir),
        "lines" => lines(v),
        other => Err(format!("unsupported loop lookup 'with_{other}'")),
    }
}

/// `with_nested`/`with_cartesian`: every combination of one item of each list.
fn nested(v: Value) -> Vec<Value> {
    let lists: Vec<Vec<Value>> = as_list(v).into_iter().map(as_list).collect();
    let mut acc: Vec<Vec<Value>> = vec![vec![]];
    for l in lists {
        let mut next = Vec::with_capacity(acc.len() * l.len());
        for prefix in &acc {
            for x in &l {
                let mut p = prefix.clone();
                p.push(x.clone());
                next.push(p);
            }
        }
        acc = next;
    }
    acc.into_iter().map(Value::Array).collect()
}

/// `with_fileglob`: files matching each pattern, in the first search directory that has any.
fn fileglob(v: Value, search: &[PathBuf]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for pat in as_list(v) {
        let pat = to_display_string(&pat);
        let full: Vec<String> = if Path::new(&pat).is_absolute() {
            vec![pat.clone()]
        } else {
            search
                .iter()
                .flat_map(|d| [d.join("files").join(&pat), d.join(&pat)])
                .map(|p| p.display().to_string())
                .collect()
        };
        for f in full {
            let mut found: Vec<String> = glob::glob(&f)
                .map_err(|e| e.to_string())?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .map(|p| p.display().to_string())
                .collect();
            if !found.is_empty() {
                found.sort();
                out.extend(found.into_iter().map(Value::String));
                break;
            }
        }
    }
    Ok(out)
}

/// ansible-core's `first_found`: terms are names, lists of terms, or mappings of `files`,
/// `paths` and `skip` (a mapping's options stay in force for the plain names after it); names
/// split on `,;`, paths on `,:;`; each candidate is searched as [`find_in_search`] does.
fn first_found(v: Value, search: &[PathBuf], subdir: &str) -> Result<Vec<Value>, String> {
    let mut opts = FirstFoundOpts::default();
    let mut total = Vec::new();
    let terms = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    first_found_terms(terms, &mut opts, &mut total);
    for f in &total {
        if let Some(found) = find_in_search(search, subdir, f) {
            return Ok(vec![Value::String(found.display().to_string())]);
        }
    }
    if opts.skip {
        Ok(vec![])
    } else {
        Err("No file was found when using first_found.".into())
    }
}

/// `with_lines`: the output lines of each command, run on the controller.
fn lines(v: Value) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for cmd in as_list(v) {
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(to_display_string(&cmd))
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!(
                "lookup_plugin.lines({}) returned {}",
                to_display_string(&cmd),
                o.status.code().unwrap_or(-1)
            ));
        }
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| Value::String(l.to_string())),
        );
    }
    Ok(out)
}

#[derive(Default)]
struct FirstFoundOpts {
    paths: Vec<String>,
    skip: bool,
}

fn split_on(v: &Value, chars: &[char], out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| split_on(x, chars, out)),
        Value::Null => {}
        other => out.extend(to_display_string(other).split(chars).map(str::to_string)),
    }
}

fn first_found_terms(terms: Vec<Value>, opts: &mut FirstFoundOpts, total: &mut Vec<String>) {
    for term in terms {
        let mut files = Vec::new();
        match &term {
            Value::Object(m) => {
                let mut paths = Vec::new();
                split_on(
                    m.get("paths").unwrap_or(&Value::Null),
                    &[',', ':', ';'],
                    &mut paths,
                );
                opts.paths = paths;
                opts.skip = m.get("skip").and_then(ansible_bool).unwrap_or(false);
                split_on(
                    m.get("files").unwrap_or(&Value::Null),
                    &[',', ';'],
                    &mut files,
                );
            }
            Value::Array(inner) => {
                first_found_terms(inner.clone(), opts, total);
                continue;
            }
            Value::Null => continue,
            other => split_on(other, &[',', ';'], &mut files),
        }
        if !opts.paths.is_empty() {
            for p in &opts.paths {
                for f in &files {
                    total.push(Path::new(p).join(f).display().to_string());
                }
            }
        } else {
            total.extend(files);
        }
    }
}

/// Where a relative file name is found (ansible-core's `path_dwim_relative_stack`): for each
/// search directory, `dir/<subdir>/name` (unless the name already starts with `<subdir>/`), then
/// `dir/name`. Absolute names are taken as they are.
pub fn find_in_search(search: &[PathBuf], subdir: &str, name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    let p = Path::new(name);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let starts_with_subdir = name.split('/').next() == Some(subdir);
    for d in search {
        if !starts_with_subdir {
            let c = d.join(subdir).join(name);
            if c.exists() {
                return Some(c);
            }
        }
        let c = d.join(name);
        if c.exists() {
            return Some(c);
        }
    }
    None
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => vec![],
        other => vec![other],
    }
}

/// `with_items` flattens one level.
fn flatten_one(v: Value) -> Vec<Value> {
    let mut out = Vec::new();
    for x in as_list(v) {
        match x {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    out
}

fn flatten_all(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.into_iter().for_each(|x| flatten_all(x, out)),
        Value::Null => {}
        other => out.push(other),
    }
}

/// `with_sequence: start=1 end=5 stride=1 format=host%02d` or `count=3`, or the `1-5/2` short form.
fn sequence(v: &Value) -> Result<Vec<Value>, String> {
    let spec = to_display_string(v);
    let mut start: i64 = 1;
    let mut end: Option<i64> = None;
    let mut stride: i64 = 1;
    let mut count: Option<i64> = None;
    let mut format = "%d".to_string();
    let num = |s: &str| -> Result<i64, String> {
        let s = s.trim();
        if let Some(h) = s.strip_prefix("0x") {
            i64::from_str_radix(h, 16).map_err(|e| e.to_string())
        } else {
            s.parse::<i64>()
                .map_err(|_| format!("can't parse '{s}' as an integer in with_sequence"))
        }
    };
    let map = match v {
        Value::Object(m) => m.clone(),
        _ => sequence_short_form(&spec),
    };
    for (k, val) in &map {
        let s = to_display_string(val);
        match k.as_str() {
            "start" => start = num(&s)?,
            "end" => end = Some(num(&s)?),
            "stride" => stride = num(&s)?,
            "count" => count = Some(num(&s)?),
            "format" => format = s,
            other => return Err(format!("unrecognized with_sequence argument '{other}'")),
        }
    }
    if let Some(c) = count {
        if end.is_some() {
            return Err("can't specify both count and end in with_sequence".into());
        }
        end = Some(start + (c - 1) * stride);
        if c == 0 {
            return Ok(vec![]);
        }
    }
    let end = end.ok_or("must specify count or end in with_sequence")?;
    if stride == 0 {
        return Err("stride must not be 0 in with_sequence".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::String(printf_int(&format, i)));
        i += stride;
        if out.len() > 1_000_000 {
            return Err("with_sequence produces too many items".into());
        }
    }
    Ok(out)
}

/// `with_sequence`'s text form: `k=v` pairs, or `[start-]end[/stride][:format]`.
fn sequence_short_form(spec: &str) -> Map {
    let mut map = Map::new();
    for tok in spec.split_whitespace() {
        if let Some((k, val)) = tok.split_once('=') {
            map.insert(k.into(), Value::String(val.into()));
            continue;
        }
        let (range, fmt) = tok
            .split_once(':')
            .map(|(a, b)| (a, Some(b)))
            .unwrap_or((tok, None));
        let (range, st) = range
            .split_once('/')
            .map(|(a, b)| (a, Some(b)))
            .unwrap_or((range, None));
        match range.split_once('-') {
            Some((a, b)) => {
                map.insert("start".into(), Value::String(a.into()));
                map.insert("end".into(), Value::String(b.into()));
            }
            None => {
                map.insert("end".into(), Value::String(range.into()));
            }
        }
        if let Some(s) = st {
            map.insert("stride".into(), Value::String(s.into()));
        }
        if let Some(f) = fmt {
            map.insert("format".into(), Value::String(f.into()));
        }
    }
    map
}

/// Enough of printf for sequences: `%d`, `%02d`, `%x`, `%o`, with literal text around.
fn printf_int(fmt: &str, n: i64) -> String {
    let Some(pos) = fmt.find('%') else {
        return fmt.to_string();
    };
    let rest = &fmt[pos + 1..];
    let spec_end = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (flags, conv) = (
        &rest[..spec_end],
        rest[spec_end..].chars().next().unwrap_or('d'),
    );
    let zero = flags.starts_with('0');
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let body = match conv {
        'x' => format!("{n:x}"),
        'X' => format!("{n:X}"),
        'o' => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!(
        "{}{}{}",
        &fmt[..pos],
        padded,
        &rest[(spec_end + 1).min(rest.len())..]
    )
}

/// `with_subelements: [list_of_dicts, 'key']` → pairs (dict, subitem).
fn subelements(v: Value) -> Result<Vec<Value>, String> {
    let parts = as_list(v);
    let (list, key) = match parts.as_slice() {
        [l, k] | [l, k, _] => (as_list(l.clone()), to_display_string(k)),
        _ => return Err("subelements lookup expects a list of two or three items".into()),
    };
    let skip_missing = matches!(parts.get(2), Some(Value::Object(m)) if m.get("skip_missing").and_then(ansible_bool).unwrap_or(false));
    let mut out = Vec::new();
    for item in list {
        let mut cur = Some(&item);
        for k in key.split('.') {
            cur = cur.and_then(|c| c.get(k));
        }
        match cur {
            Some(Value::Array(subs)) => out.extend(
                subs.iter()
                    .map(|s| Value::Array(vec![item.clone(), s.clone()])),
            ),
            None if skip_missing => {}
            _ => return Err(format!("could not find '{key}' key in iterated item")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn with_items_flattens_one_level() {
        assert_eq!(
            items("items", json!([1, [2, [3]]]), &[]).unwrap(),
            vec![json!(1), json!(2), json!([3])]
        );
    }

    #[test]
    fn loop_refuses_a_string() {
        assert!(items("loop", json!("abc"), &[]).is_err());
    }

    #[test]
    fn with_dict_gives_key_value() {
        assert_eq!(
            items("dict", json!({"a": 1}), &[]).unwrap(),
            vec![json!({"key": "a", "value": 1})]
        );
    }

    #[test]
    fn with_together_pads_with_none() {
        assert_eq!(
            items("together", json!([[1, 2], ["a"]]), &[]).unwrap(),
            vec![json!([1, "a"]), json!([2, null])]
        );
    }

    #[test]
    fn with_nested_is_a_product() {
        assert_eq!(
            items("nested", json!([[1, 2], ["a", "b"]]), &[])
                .unwrap()
                .len(),
            4
        );
    }

    #[test]
    fn with_sequence_formats() {
        assert_eq!(
            items("sequence", json!("start=1 end=3 format=node%02d"), &[]).unwrap(),
            vec![json!("node01"), json!("node02"), json!("node03")]
        );
        assert_eq!(
            items("sequence", json!("count=2"), &[]).unwrap(),
            vec![json!("1"), json!("2")]
        );
    }

    #[test]
    fn with_subelements_pairs() {
        let v = json!([[{"n": "a", "k": [1, 2]}], "k"]);
        assert_eq!(items("subelements", v, &[]).unwrap().len(), 2);
    }
}
