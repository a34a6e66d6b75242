//! YAML behind one module: positions for every node and YAML 1.1 scalars as PyYAML reads them.
//!
//! Parsing is saphyr-parser's event API (`loader`), scalar typing is PyYAML's YAML 1.1 rules
//! (`scalar`), and hostile input (binary data, extreme nesting, alias bombs) is refused with a
//! [`YamlError`] instead of a crash. Writing YAML stays on serde_norway.

mod emit;
mod loader;
mod scalar;
#[cfg(test)]
mod tests;

pub(crate) use emit::short_escape;
pub use emit::{to_nice_yaml, to_yaml};
pub use loader::{Loaded, MAX_COPIED_NODES, MAX_DEPTH};

use emit::python_float_repr;

use crate::span::Span;
use crate::value::{Map, Value};
use std::path::Path;

/// One YAML node with the place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep document order; merge keys (`<<`) are already applied.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, thiserror::Error)]
#[error("{span}: {msg}")]
pub struct YamlError {
    pub span: Span,
    pub msg: String,
}

impl Node {
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(pairs) => {
                let mut m = Map::new();
                for (k, v) in pairs {
                    m.insert(k.key_string(), v.to_value());
                }
                Value::Object(m)
            }
        }
    }

    /// A map key as Ansible sees it: scalars by their text (`1` → "1", `true` → "True").
    pub fn key_string(&self) -> String {
        match &self.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Float(f) => python_float_repr(*f),
            NodeKind::Bool(true) => "True".into(),
            NodeKind::Bool(false) => "False".into(),
            NodeKind::Null => "None".into(),
            _ => crate::value::to_display_string(&self.to_value()),
        }
    }

    /// Value of `key` when this node is a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_string() == key)
            .map(|(_, v)| v)
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(p) => Some(p),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// A short name of the node's type for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "bool",
            NodeKind::Int(_) => "int",
            NodeKind::Float(_) => "float",
            NodeKind::Str(_) => "string",
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "mapping",
        }
    }
}

/// Load every document of a file.
pub fn load_file(path: &Path) -> Result<Vec<Node>, YamlError> {
    load_file_detailed(path).map(|l| l.docs)
}

/// Load every document of a file, keeping warnings (duplicate keys) for the caller to show.
pub fn load_file_detailed(path: &Path) -> Result<Loaded, YamlError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| YamlError {
        span: Span::file_only(name.as_str()),
        msg: format!("cannot read: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Point at the first bad byte so a binary file given by mistake is obvious.
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let prefix = String::from_utf8_lossy(good);
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        YamlError {
            span: Span::new(name.as_str(), line, col),
            msg: "not UTF-8 text (is this a binary file?)".into(),
        }
    })?;
    load_str_detailed(&text, &name)
}

/// Load every document of a string; `file` names it in spans.
pub fn load_str(src: &str, file: &str) -> Result<Vec<Node>, YamlError> {
    load_str_detailed(src, file).map(|l| l.docs)
}

/// Load every document of a string, keeping warnings (duplicate keys) for the caller to show.
/// A vault-encrypted text (a whole file made by `ansible-vault encrypt`) is decrypted with the
/// installed secrets first; spans then count lines of the plaintext.
pub fn load_str_detailed(src: &str, file: &str) -> Result<Loaded, YamlError> {
    if crate::vault::is_encrypted(src) {
        let plain = decrypt_file_text(src, file)?;
        return loader::load(&plain, file);
    }
    loader::load(src, file)
}

/// The plaintext of a vaulted file's text, or an error naming the file.
pub fn decrypt_file_text(src: &str, file: &str) -> Result<zeroize::Zeroizing<String>, YamlError> {
    crate::vault::decrypt_text(src).map_err(|e| YamlError {
        span: Span::file_only(file),
        msg: format!("vault-encrypted file: {e}"),
    })
}

/// Load a file that must hold at most one document (vars files, inventories, playbooks).
/// `None` for an empty file.
pub fn load_one(src: &str, file: &str) -> Result<Option<Node>, YamlError> {
    let mut docs = load_str(src, file)?;
    if docs.len() > 1 {
        let span = docs[1].span.clone();
        return Err(YamlError {
            span,
            msg: "expected a single YAML document but found more than one".into(),
        });
    }
    Ok(docs.pop())
}

/// Build nodes from a plain value (all with one span): for values that did not come from YAML.
pub fn from_value(v: &Value, span: &Span) -> Node {
    let kind = match v {
        Value::Null => NodeKind::Null,
        Value::Bool(b) => NodeKind::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => NodeKind::Int(i),
            None => NodeKind::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => NodeKind::Str(s.clone()),
        Value::Array(a) => NodeKind::Seq(a.iter().map(|x| from_value(x, span)).collect()),
        Value::Object(o) => NodeKind::Map(
            o.iter()
                .map(|(k, x)| {
                    (
                        Node {
                            kind: NodeKind::Str(k.clone()),
                            span: span.clone(),
                        },
                        from_value(x, span),
                    )
                })
                .collect(),
        ),
    };
    Node {
        kind,
        span: span.clone(),
    }
}

/// Serialize a value as YAML (the `to_yaml` filter and friends).
pub fn to_yaml_string(v: &Value) -> Result<String, String> {
    serde_norway::to_string(v).map_err(|e| e.to_string())
}
