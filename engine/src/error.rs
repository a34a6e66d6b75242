//! Errors that stop a run before any host is touched (load errors: exit 4) are `LoadError`s.

use crate::span::Span;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error("{span}: {msg}")]
    At { span: Span, msg: String },
    #[error("{0}")]
    Other(String),
}

impl LoadError {
    pub fn at(span: &Span, msg: impl Into<String>) -> Self {
        LoadError::At {
            span: span.clone(),
            msg: msg.into(),
        }
    }
}
