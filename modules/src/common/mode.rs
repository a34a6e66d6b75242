//! The `mode` parameter as Ansible reads it: an integer is used as-is (YAML `0644` is already the
//! number 420), a string of octal digits is octal (`"644"`, `"0644"`, `"0o644"`), anything else
//! is chmod-style symbolic (`u+rwx,g-w,o=r`, `a+X`) resolved against the current mode.

use kplay_engine::value::Value;

/// Permission bits chmod can set (rwx for three classes plus setuid/setgid/sticky).
pub const PERM_BITS: u32 = 0o7777;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("mode must be in octal or symbolic form")]
    NotOctalOrSymbolic,
    #[error("bad symbolic permission for mode: {0}")]
    BadSymbolic(String),
}

/// One `who op perms` clause of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// Subset of `ugo`; empty means "all, filtered by the umask" as chmod does.
    who: String,
    op: char,
    perms: String,
}

/// A parsed `mode` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(Vec<SymbolicClause>),
    /// `mode: preserve` (copy/template): take the source file's mode.
    Preserve,
}

/// Opaque clause type so callers cannot build invalid symbolic modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicClause(Clause);

impl std::fmt::Display for SymbolicClause {
    /// chmod's spelling of the clause (`ugo+rX`), for running chmod itself (`recurse`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.0.who, self.0.op, self.0.perms)
    }
}

impl ModeSpec {
    /// Parse a `mode` argument; `allow_preserve` for the modules that accept `preserve`.
    pub fn parse(v: &Value, allow_preserve: bool) -> Result<ModeSpec, ModeError> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .map(|m| ModeSpec::Octal(m as u32 & PERM_BITS))
                .ok_or(ModeError::NotOctalOrSymbolic),
            Value::String(s) => Self::parse_str(s.trim(), allow_preserve),
            _ => Err(ModeError::NotOctalOrSymbolic),
        }
    }

    fn parse_str(s: &str, allow_preserve: bool) -> Result<ModeSpec, ModeError> {
        if s == "preserve" && allow_preserve {
            return Ok(ModeSpec::Preserve);
        }
        let digits = s
            .strip_prefix("0o")
            .or_else(|| s.strip_prefix("0O"))
            .unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return u32::from_str_radix(digits, 8)
                .map(|m| ModeSpec::Octal(m & PERM_BITS))
                .map_err(|_| ModeError::NotOctalOrSymbolic);
        }
        if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ModeError::NotOctalOrSymbolic);
        }
        let mut clauses = Vec::new();
        for part in s.split(',') {
            clauses.push(SymbolicClause(
                parse_clause(part).ok_or_else(|| ModeError::BadSymbolic(s.to_string()))?,
            ));
        }
        Ok(ModeSpec::Symbolic(clauses))
    }

    /// The permission bits this spec asks for, given the path's current permission bits (or
    /// those a new path would get), whether it is a directory, and the host's umask.
    /// `Preserve` keeps `current` (callers substitute the source mode first).
    pub fn resolve(&self, current: u32, is_dir: bool, umask: u32) -> u32 {
        match self {
            ModeSpec::Octal(m) => *m,
            ModeSpec::Preserve => current & PERM_BITS,
            ModeSpec::Symbolic(clauses) => {
                let mut mode = current & PERM_BITS;
                for SymbolicClause(c) in clauses {
                    mode = apply_clause(mode, current & PERM_BITS, is_dir, umask, c);
                }
                mode
            }
        }
    }
}

fn parse_clause(part: &str) -> Option<Clause> {
    let pos = part.find(['+', '-', '='])?;
    let (who, rest) = part.split_at(pos);
    if !who.bytes().all(|b| b"ugoa".contains(&b)) {
        return None;
    }
    let mut chars = rest.chars();
    let op = chars.next()?;
    let perms: String = chars.collect();
    let copy_from = perms.len() == 1 && "ugo".contains(perms.as_str());
    if !copy_from && !perms.bytes().all(|b| b"rwxXst".contains(&b)) {
        return None;
    }
    let who = if who.contains('a') {
        "ugo".to_string()
    } else {
        who.to_string()
    };
    Some(Clause { who, op, perms })
}

/// Bits of class `c` (`u`, `g`, `o`) for one permission letter.
fn class_bits(c: char, perm: char, original: u32, is_dir: bool) -> u32 {
    let shift = match c {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    match perm {
        'r' => 0o4 << shift,
        'w' => 0o2 << shift,
        'x' => 0o1 << shift,
        // X: execute only for directories or when someone already has execute.
        'X' if is_dir || original & 0o111 != 0 => 0o1 << shift,
        's' if c == 'u' => 0o4000,
        's' if c == 'g' => 0o2000,
        't' if c == 'o' => 0o1000,
        // Copy another class's bits (`g=u`).
        'u' => ((original >> 6) & 0o7) << shift,
        'g' => ((original >> 3) & 0o7) << shift,
        'o' => (original & 0o7) << shift,
        _ => 0,
    }
}

fn apply_clause(mode: u32, original: u32, is_dir: bool, umask: u32, c: &Clause) -> u32 {
    let (who, mask) = if c.who.is_empty() {
        ("ugo", umask)
    } else {
        (c.who.as_str(), 0)
    };
    let mut bits = 0;
    let mut class_mask = 0;
    for class in who.chars() {
        for perm in c.perms.chars() {
            bits |= class_bits(class, perm, original, is_dir);
        }
        class_mask |= match class {
            'u' => 0o4700,
            'g' => 0o2070,
            _ => 0o1007,
        };
    }
    bits &= !mask;
    match c.op {
        '+' => mode | bits,
        '-' => mode & !bits,
        _ => (mode & !class_mask) | bits,
    }
}

/// Ansible's rendering of a mode in results and diffs: `'0%03o'`, e.g. `0644`, `01777`.
pub fn format_mode(m: u32) -> String {
    format!("0{:03o}", m & PERM_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sym(s: &str, current: u32, is_dir: bool) -> u32 {
        ModeSpec::parse(&json!(s), false)
            .unwrap()
            .resolve(current, is_dir, 0o022)
    }

    #[test]
    fn integer_mode_is_used_as_is() {
        assert_eq!(
            ModeSpec::parse(&json!(420), false).unwrap(),
            ModeSpec::Octal(0o644)
        );
    }

    #[test]
    fn octal_strings_parse_with_or_without_prefix() {
        for s in ["644", "0644", "0o644"] {
            assert_eq!(
                ModeSpec::parse(&json!(s), false).unwrap(),
                ModeSpec::Octal(0o644),
                "{s}"
            );
        }
    }

    #[test]
    fn symbolic_mode_applies_each_clause() {
        assert_eq!(sym("u+rwx,g-w,o=r", 0o666, false), 0o744);
    }

    #[test]
    fn symbolic_capital_x_only_for_directories_or_executables() {
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
    }

    #[test]
    fn symbolic_equals_with_nothing_clears_the_class() {
        assert_eq!(sym("o=", 0o777, false), 0o770);
    }

    #[test]
    fn symbolic_copy_from_other_class() {
        assert_eq!(sym("g=u", 0o640, false), 0o660);
    }

    #[test]
    fn symbolic_without_who_honours_umask() {
        assert_eq!(sym("+w", 0o444, false), 0o644);
    }

    #[test]
    fn setuid_and_sticky_bits() {
        assert_eq!(sym("u+s,o+t", 0o755, true), 0o5755);
    }

    #[test]
    fn garbage_mode_is_rejected() {
        assert_eq!(
            ModeSpec::parse(&json!("u+q"), false).unwrap_err(),
            ModeError::BadSymbolic("u+q".into())
        );
        assert_eq!(
            ModeSpec::parse(&json!("899"), false).unwrap_err(),
            ModeError::NotOctalOrSymbolic
        );
        assert_eq!(
            ModeSpec::parse(&json!([1]), false).unwrap_err(),
            ModeError::NotOctalOrSymbolic
        );
    }

    #[test]
    fn preserve_only_where_allowed() {
        assert_eq!(
            ModeSpec::parse(&json!("preserve"), true).unwrap(),
            ModeSpec::Preserve
        );
        assert!(ModeSpec::parse(&json!("preserve"), false).is_err());
    }

    #[test]
    fn format_mode_pads_to_four_digits() {
        assert_eq!(format_mode(0o644), "0644");
        assert_eq!(format_mode(0o1777), "01777");
        assert_eq!(format_mode(0o7), "0007");
    }
}
