//! Shared machinery of the text-editing modules (lineinfile, blockinfile, replace): read the file
//! once ([`probe`]), compute the new text in Rust, write it back once ([`commit`]).

pub mod attrs;
pub mod commit;
pub mod probe;
pub mod pyre;
#[cfg(test)]
pub(crate) mod testkit;

use kplay_engine::module::{ModuleContext, ModuleResult};

/// Python's `bytes.readlines()`: split after each `\n`, keeping it.
pub fn split_lines_lf(s: &str) -> Vec<String> {
    s.split_inclusive('\n').map(str::to_string).collect()
}

/// Python's `bytes.splitlines(True)`: split after `\n`, `\r\n` or `\r`, keeping them.
pub fn split_lines_universal(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\n' => Some(i + 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => Some(i + 2),
            b'\r' => Some(i + 1),
            _ => None,
        };
        if let Some(e) = end {
            out.push(s[start..e].to_string());
            start = e;
            i = e;
        } else {
            i += 1;
        }
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

/// `line.rstrip('\r\n')`.
pub fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Add the content diff when `--diff` is on.
pub fn with_diff(
    ctx: &ModuleContext<'_>,
    r: ModuleResult,
    header: &str,
    before: &str,
    after: &str,
) -> ModuleResult {
    if ctx.diff {
        r.with_diff(header, header, before, after)
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readlines_keeps_newlines_and_unterminated_last_line() {
        assert_eq!(split_lines_lf("a\nb\r\nc"), vec!["a\n", "b\r\n", "c"]);
        assert!(split_lines_lf("").is_empty());
    }

    #[test]
    fn splitlines_true_splits_on_carriage_returns_too() {
        assert_eq!(
            split_lines_universal("a\rb\r\nc\n"),
            vec!["a\r", "b\r\n", "c\n"]
        );
    }
}
