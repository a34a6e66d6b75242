//! `ansible_local`: the host's own facts, from `*.fact` files in `fact_path` (default
//! `/etc/ansible/facts.d`): JSON, or INI (sections of `key=value`), or an executable printing
//! either. Absent when the directory is; a file that is neither gives ansible-core's message.

use super::sections::Sections;
use kplay_engine::value::{Map, Value};

pub const DEFAULT_FACT_PATH: &str = "/etc/ansible/facts.d";

const MARK: &str = "@@KPLAY_LOCAL@@ ";

/// INI text as configparser reads it: `{section: {key: value}}`; None when it is not INI.
fn ini(text: &str) -> Option<Value> {
    let mut out = Map::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            out.entry(name.trim().to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            continue;
        }
        let sec = section.as_ref()?;
        let (k, v) = t.split_once('=').or_else(|| t.split_once(':'))?;
        if let Some(Value::Object(m)) = out.get_mut(sec) {
            m.insert(
                k.trim().to_ascii_lowercase(),
                Value::String(v.trim().to_string()),
            );
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

pub fn collect(sec: &Sections) -> Option<Value> {
    let text = sec.text("localfacts");
    if !text.starts_with(MARK) {
        return None;
    }
    let mut out = Map::new();
    let mut current: Option<(String, String)> = None;
    let finish = |cur: Option<(String, String)>, out: &mut Map| {
        if let Some((name, body)) = cur {
            let body = body.strip_suffix('\n').unwrap_or(&body).to_string();
            let v = serde_json::from_str::<Value>(&body)
                .ok()
                .or_else(|| ini(&body))
                .unwrap_or_else(|| {
                    Value::String(format!(
                        "error loading facts as JSON or ini - please check content: {name}.fact"
                    ))
                });
            out.insert(name, v);
        }
    };
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix(MARK) {
            finish(current.take(), &mut out);
            let name = name.trim().to_string();
            if name != "." {
                current = Some((name, String::new()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    finish(current, &mut out);
    out.sort_keys();
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_ini_facts() {
        let s = Sections::parse("\n@@KPLAY_FACTS@@ localfacts\n@@KPLAY_LOCAL@@ .\n\n@@KPLAY_LOCAL@@ app\n{\"v\": 1}\n\n@@KPLAY_LOCAL@@ conf\n[general]\nName = x\n\n@@KPLAY_LOCAL@@ bad\nnot facts\n");
        let v = collect(&s).unwrap();
        assert_eq!(v["app"], serde_json::json!({"v": 1}));
        assert_eq!(v["conf"], serde_json::json!({"general": {"name": "x"}}));
        assert!(v["bad"]
            .as_str()
            .unwrap()
            .starts_with("error loading facts"));
        assert_eq!(collect(&Sections::parse("\n@@KPLAY_FACTS@@ end\n")), None);
    }
}
