//! The one data type that flows between YAML, variables, templates and module results.
//!
//! Ansible's data model is JSON's plus ordered maps, so `serde_json::Value` with
//! `preserve_order` is exactly what is needed and every crate already speaks it.

pub type Value = serde_json::Value;
pub type Map = serde_json::Map<String, Value>;

/// Ansible's `bool` conversion for module arguments and the `bool` filter:
/// `yes/no/on/off/true/false/y/n/1/0` (any case), numbers 0/1. `None` when not a boolean.
pub fn ansible_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => {
            let f = n.as_f64()?;
            if f == 1.0 {
                Some(true)
            } else if f == 0.0 {
                Some(false)
            } else {
                None
            }
        }
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "true" | "y" | "1" | "t" => Some(true),
            "no" | "off" | "false" | "n" | "0" | "f" | "" => Some(false),
            _ => None,
        },
        Value::Null => Some(false),
        _ => None,
    }
}

/// Python truthiness, which is what a bare value in `when:` means to Ansible.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(true),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` of a value, as Ansible shows values inside strings.
pub fn to_display_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        other => other.to_string(),
    }
}

/// Python's `bytes.splitlines()`: `\n`, `\r` and `\r\n` end lines; no trailing empty line
/// (`str.splitlines()` too, on text without its rarer separators such as `\x0c`). Ansible
/// splits `stdout_lines` and the url lookup's lines so.
pub fn split_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push(std::mem::take(&mut line)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut line));
            }
            c => line.push(c),
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ansible_bool_accepts_yaml_words_in_any_case() {
        assert_eq!(ansible_bool(&json!("Yes")), Some(true));
        assert_eq!(ansible_bool(&json!("OFF")), Some(false));
        assert_eq!(ansible_bool(&json!(1)), Some(true));
        assert_eq!(ansible_bool(&json!("maybe")), None);
    }

    #[test]
    fn truthy_follows_python() {
        assert!(!truthy(&json!("")));
        assert!(!truthy(&json!([])));
        assert!(truthy(&json!("0")));
        assert!(!truthy(&json!(0)));
    }
}
