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

    /// An error about the file (or directory) `path` as a whole: no line to point at.
    pub fn in_file(path: &std::path::Path, msg: impl Into<String>) -> Self {
        Self::at(&Span::file_only(path.display().to_string()), msg)
    }
}
