//! `PLAY RECAP` lines exactly as Ansible's default callback prints them.

use super::HostStats;
use console::Style;

/// Python's `json.dumps(v)` / `json.dumps(v, indent=4, sort_keys=True)` formatting, which
/// Ansible users read every day (`{"changed": false, "msg": "x"}`).
pub fn python_json(v: &serde_json::Value, indent: bool) -> String {
    let sorted = sort_keys(v);
    if indent {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        if serde::Serialize::serialize(&sorted, &mut ser).is_err() {
            return sorted.to_string();
        }
        String::from_utf8(buf).unwrap_or_default()
    } else {
        compact(&sorted)
    }
}

pub(crate) fn sort_keys(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), sort_keys(&m[k]));
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", serde_json::Value::String(k.clone()), compact(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        serde_json::Value::Array(a) => {
            format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// One recap line: `host                       : ok=1    changed=0 …`.
pub fn recap_line(host: &str, s: &HostStats, color: bool) -> String {
    let field = |lead: &str, n: u32, style: Style| {
        let text = format!("{lead}={n:<4}");
        if color && n != 0 {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text
        }
    };
    let host_part = if color {
        let style = if s.failed > 0 || s.unreachable > 0 {
            Style::new().red()
        } else if s.changed > 0 {
            Style::new().yellow()
        } else {
            Style::new().green()
        };
        let colored = style.force_styling(true).apply_to(host).to_string();
        // Ansible pads the coloured string to 37, i.e. 26 visible plus 11 of escape codes.
        format!(
            "{colored}{}",
            " ".repeat(26usize.saturating_sub(host.chars().count()))
        )
    } else {
        format!("{host:<26}")
    };
    format!(
        "{} : {} {} {} {} {} {} {}",
        host_part,
        field("ok", s.ok, Style::new().green()),
        field("changed", s.changed, Style::new().yellow()),
        field("unreachable", s.unreachable, Style::new().red().bright()),
        field("failed", s.failed, Style::new().red()),
        field("skipped", s.skipped, Style::new().cyan()),
        field("rescued", s.rescued, Style::new().magenta()),
        field("ignored", s.ignored, Style::new().blue()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recap_line_matches_ansible_layout() {
        let s = HostStats {
            ok: 2,
            changed: 1,
            ..Default::default()
        };
        assert_eq!(
            recap_line("node1", &s, false),
            "node1                      : ok=2    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   "
        );
    }

    #[test]
    fn python_json_compact_uses_python_separators() {
        let v = serde_json::json!({"msg": "x", "changed": false});
        assert_eq!(python_json(&v, false), r#"{"changed": false, "msg": "x"}"#);
    }

    #[test]
    fn python_json_indented_sorts_keys() {
        let v = serde_json::json!({"b": 1, "a": [1]});
        assert_eq!(
            python_json(&v, true),
            "{\n    \"a\": [\n        1\n    ],\n    \"b\": 1\n}"
        );
    }
}
