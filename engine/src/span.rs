//! Where a piece of user input came from, so every error can point at the user's line.

use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file as the user named it (or `<extra-vars>`, `<cli>` …).
    pub file: Arc<str>,
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub col: usize,
}

impl Span {
    pub fn new(file: impl Into<Arc<str>>, line: usize, col: usize) -> Self {
        Span {
            file: file.into(),
            line,
            col,
        }
    }

    pub fn file_only(file: impl Into<Arc<str>>) -> Self {
        Span {
            file: file.into(),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{}", self.file, l),
            (l, c) => write!(f, "{}:{}:{}", self.file, l, c),
        }
    }
}
