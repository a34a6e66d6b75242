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

impl From<ModeError> for kplay_engine::module::ModuleError {
    fn from(e: ModeError) -> Self {
        kplay_engine::module::ModuleError::new(e.to_string())
    }
}

/// One clause of a symbolic mode: who, then one or more `op perms` steps (`u+x-w`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// Subset of `ugo`; empty means "all, filtered by the umask" as chmod does.
    who: String,
    ops: Vec<(char, String)>,
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
        write!(f, "{}", self.0.who)?;
        for (op, perms) in &self.0.ops {
            write!(f, "{op}{perms}")?;
        }
        Ok(())
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
                    mode = apply_clause(mode, is_dir, umask, c);
                }
                mode
            }
        }
    }
}

fn parse_clause(part: &str) -> Option<Clause> {
    let pos = part.find(['+', '-', '='])?;
    let (who, mut rest) = part.split_at(pos);
    if !who.bytes().all(|b| b"ugoa".contains(&b)) {
        return None;
    }
    let mut ops = Vec::new();
    while let Some(op) = rest.chars().next() {
        let perms_end = rest[1..]
            .find(['+', '-', '='])
            .map_or(rest.len(), |i| i + 1);
        let perms = &rest[1..perms_end];
        if !perms.bytes().all(|b| b"rwxXstugo".contains(&b)) {
            return None;
        }
        ops.push((op, perms.to_string()));
        rest = &rest[perms_end..];
    }
    let who = if who.contains('a') {
        "ugo".to_string()
    } else {
        who.to_string()
    };
    Some(Clause { who, ops })
}

/// The bits `perms` stand for in class `class` (`u`, `g`, `o`), as Ansible's
/// `_get_octal_mode_from_symbolic_perms` computes them from the mode so far (`prev`).
fn class_bits(class: char, perms: &str, prev: u32, is_dir: bool, umask: Option<u32>) -> u32 {
    let shift = match class {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    // Without a "who" the umask filters r, w and x (nothing else).
    let keep = umask.map_or(PERM_BITS, |m| m ^ PERM_BITS);
    // Another class's rwx bits, moved into this class's place.
    let copy = |from: u32| ((prev >> from) & 0o7) << shift;
    let mut bits = 0;
    for perm in perms.chars() {
        bits |= match perm {
            'r' => (0o4 << shift) & keep,
            'w' => (0o2 << shift) & keep,
            'x' => (0o1 << shift) & keep,
            // X: execute only for directories or when someone already has execute.
            'X' if is_dir || prev & 0o111 != 0 => 0o1 << shift,
            's' if class == 'u' => 0o4000,
            's' if class == 'g' => 0o2000,
            't' if class == 'o' => 0o1000,
            'u' => copy(6),
            'g' => copy(3),
            'o' => copy(0),
            _ => 0,
        };
    }
    bits
}

/// Ansible's `_symbolic_mode_to_octal` for one clause: each step, class by class.
fn apply_clause(mut mode: u32, is_dir: bool, umask: u32, c: &Clause) -> u32 {
    let (who, umask) = if c.who.is_empty() {
        ("ugo", Some(umask))
    } else {
        (c.who.as_str(), None)
    };
    for (op, perms) in &c.ops {
        for class in who.chars() {
            let bits = class_bits(class, perms, mode, is_dir, umask);
            let class_mask = match class {
                'u' => 0o4700,
                'g' => 0o2070,
                _ => 0o1007,
            };
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !class_mask) | bits,
            };
        }
    }
    mode
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
    fn symbolic_clause_may_chain_operators() {
        assert_eq!(sym("u+x-w", 0o644, false), 0o544);
        assert_eq!(sym("u+x,g-r,o=", 0o644, false), 0o700);
        assert_eq!(sym("g=rw", 0o754, false), 0o764);
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
