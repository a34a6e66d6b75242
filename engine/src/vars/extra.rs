//! `-e/--extra-vars`: `k=v` pairs, inline YAML/JSON, or `@file`.

use crate::error::LoadError;
use crate::value::{Map, Value};
use std::path::Path;

/// Parse one `-e` argument into variables (later arguments override earlier ones).
pub fn parse_extra_vars(arg: &str) -> Result<Map, LoadError> {
    let arg = arg.trim();
    if let Some(file) = arg.strip_prefix('@') {
        let path = Path::new(file);
        let docs = crate::yaml::load_file(path)?;
        return match docs.first().map(|d| d.to_value()) {
            Some(Value::Object(m)) => Ok(m),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(LoadError::Other(format!(
                "{file}: extra vars file must hold a mapping"
            ))),
        };
    }
    if arg.starts_with('{') || arg.starts_with('[') || arg.starts_with("---") {
        let docs = crate::yaml::load_str(arg, "<extra-vars>")?;
        return match docs.first().map(|d| d.to_value()) {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(LoadError::Other(format!(
                "extra vars must be a mapping: {arg}"
            ))),
        };
    }
    crate::playbook::kv::parse_kv(arg, false)
        .map_err(|e| LoadError::Other(format!("invalid extra vars '{arg}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_pairs_are_strings() {
        let m = parse_extra_vars("a=1 b=two").unwrap();
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "two");
    }

    #[test]
    fn json_keeps_types() {
        let m = parse_extra_vars(r#"{"a": 1, "b": [true]}"#).unwrap();
        assert_eq!(m["a"], 1);
        assert_eq!(m["b"][0], true);
    }

    #[test]
    fn at_file_loads_yaml() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.yml");
        std::fs::write(&p, "x: 5\n").unwrap();
        let m = parse_extra_vars(&format!("@{}", p.display())).unwrap();
        assert_eq!(m["x"], 5);
    }
}
