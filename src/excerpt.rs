//! The offending line of a load error, with a caret under the column, as Ansible shows it:
//!
//! ```text
//! The offending line appears to be:
//!
//!       debug: msg=hi
//!      bad: 1
//!      ^ here
//! ```

use std::path::Path;

/// For an error text starting `FILE:LINE[:COL]: …` naming a readable file: the excerpt.
pub fn offending_line(error: &str) -> Option<String> {
    let (loc, _) = error.split_once(": ")?;
    let mut parts = loc.rsplitn(3, ':');
    let (a, b) = (parts.next()?, parts.next()?);
    let (file, line, col) = match (a.parse::<usize>(), b.parse::<usize>(), parts.next()) {
        (Ok(col), Ok(line), Some(file)) => (file, line, col),
        (Ok(line), Err(_), _) => (loc.rsplit_once(':')?.0, line, 0),
        _ => return None,
    };
    if line == 0 || file.starts_with('<') || file.starts_with('$') {
        return None;
    }
    let text = std::fs::read_to_string(Path::new(file)).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let offending = lines.get(line - 1)?;
    let mut out = String::from("\nThe offending line appears to be:\n\n");
    if line >= 2 {
        if let Some(prev) = lines.get(line - 2) {
            out.push_str(prev);
            out.push('\n');
        }
    }
    out.push_str(offending);
    out.push('\n');
    if col > 0 {
        out.push_str(&" ".repeat(col - 1));
        out.push_str("^ here\n");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_line_and_a_caret() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.yml");
        std::fs::write(&f, "- hosts: all\n  tasks:\n     bad: 1\n").unwrap();
        let e = format!("{}:3:6: invalid YAML: boom", f.display());
        assert_eq!(
            offending_line(&e).unwrap(),
            "\nThe offending line appears to be:\n\n  tasks:\n     bad: 1\n     ^ here\n"
        );
        assert_eq!(offending_line("no location here"), None);
    }
}
