//! `mode`/`owner`/`group` as the editing modules take them. The desired mode is computed here in
//! Rust (octal or symbolic `u+rwx,g-w`) so check mode can tell whether it would change.
//! (When `modules/src/common/` offers the same, these can switch to it; the API is small.)

use kplay_engine::value::Value;

/// A `mode:` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(String),
}

impl ModeSpec {
    /// Ansible's reading of `mode`: an integer is the mode itself (YAML `0644` is 420), a string
    /// of octal digits is octal, anything else is symbolic.
    pub fn parse(v: &Value) -> Result<ModeSpec, String> {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(m) if m <= 0o7777 => Ok(ModeSpec::Octal(m as u32)),
                _ => Err(format!("mode must be in octal or symbolic form: {n}")),
            },
            Value::String(s) => {
                let s = s.trim();
                if !s.is_empty() && s.chars().all(|c| ('0'..='7').contains(&c)) {
                    let m = u32::from_str_radix(s, 8)
                        .map_err(|_| format!("mode must be in octal or symbolic form: {s}"))?;
                    if m > 0o7777 {
                        return Err(format!("mode must be in octal or symbolic form: {s}"));
                    }
                    Ok(ModeSpec::Octal(m))
                } else {
                    // Validate now so a bad mode fails before touching the host.
                    symbolic(s, 0, false)?;
                    Ok(ModeSpec::Symbolic(s.to_string()))
                }
            }
            other => Err(format!("mode must be in octal or symbolic form: {other}")),
        }
    }

    /// The mode bits this spec gives a file whose mode is `current`.
    pub fn resolve(&self, current: u32, is_dir: bool) -> Result<u32, String> {
        match self {
            ModeSpec::Octal(m) => Ok(*m),
            ModeSpec::Symbolic(s) => symbolic(s, current, is_dir),
        }
    }
}

/// Apply a chmod-style symbolic mode (`u=rw,g+r,o-rwx`, `a+X`, `u+s`) to `current`.
/// An empty "who" means `a`, as Ansible applies it (without umask).
fn symbolic(spec: &str, current: u32, is_dir: bool) -> Result<u32, String> {
    let bad = || format!("bad symbolic permission for mode: {spec}");
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let who_end = clause
            .find(|c: char| !"ugoa".contains(c))
            .unwrap_or(clause.len());
        let who = if who_end == 0 {
            "a"
        } else {
            &clause[..who_end]
        };
        let mut rest = &clause[who_end..];
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let op = rest.chars().next().ok_or_else(bad)?;
            if !"+-=".contains(op) {
                return Err(bad());
            }
            rest = &rest[1..];
            let perm_end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let perms = &rest[..perm_end];
            rest = &rest[perm_end..];
            let mut bits = 0u32;
            let mut clear_mask = 0u32;
            for w in who.chars() {
                let (shift, special, sticky) = match w {
                    'u' => (6, 0o4000, 0),
                    'g' => (3, 0o2000, 0),
                    'o' => (0, 0, 0o1000),
                    _ => {
                        bits |= perm_bits(perms, mode, is_dir, 6, 0o4000, 0, spec)?;
                        bits |= perm_bits(perms, mode, is_dir, 3, 0o2000, 0, spec)?;
                        bits |= perm_bits(perms, mode, is_dir, 0, 0, 0o1000, spec)?;
                        clear_mask |= 0o7777;
                        continue;
                    }
                };
                bits |= perm_bits(perms, mode, is_dir, shift, special, sticky, spec)?;
                clear_mask |= (0o7 << shift) | special | sticky;
            }
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !clear_mask) | bits,
            };
        }
    }
    Ok(mode)
}

/// The bits `perms` (`rwxXst` or a copy source `u`/`g`/`o`) stand for in one "who" class.
fn perm_bits(
    perms: &str,
    mode: u32,
    is_dir: bool,
    shift: u32,
    special: u32,
    sticky: u32,
    spec: &str,
) -> Result<u32, String> {
    let mut b = 0u32;
    for c in perms.chars() {
        b |= match c {
            'r' => 0o4 << shift,
            'w' => 0o2 << shift,
            'x' => 0o1 << shift,
            'X' if is_dir || mode & 0o111 != 0 => 0o1 << shift,
            'X' => 0,
            's' => special,
            't' => sticky,
            'u' => ((mode >> 6) & 0o7) << shift,
            'g' => ((mode >> 3) & 0o7) << shift,
            'o' => (mode & 0o7) << shift,
            _ => return Err(format!("bad symbolic permission for mode: {spec}")),
        };
    }
    Ok(b)
}

/// The file attributes a task asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrSpec {
    pub mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl AttrSpec {
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integer_mode_is_taken_as_bits() {
        assert_eq!(ModeSpec::parse(&json!(420)), Ok(ModeSpec::Octal(0o644)));
    }

    #[test]
    fn octal_string_mode_is_parsed_as_octal() {
        assert_eq!(ModeSpec::parse(&json!("0600")), Ok(ModeSpec::Octal(0o600)));
    }

    #[test]
    fn symbolic_mode_adds_and_removes_bits() {
        let m = ModeSpec::parse(&json!("u+x,g-r,o=")).expect("mode");
        assert_eq!(m.resolve(0o644, false), Ok(0o700));
    }

    #[test]
    fn symbolic_equals_replaces_only_named_class() {
        let m = ModeSpec::parse(&json!("g=rw")).expect("mode");
        assert_eq!(m.resolve(0o754, false), Ok(0o764));
    }

    #[test]
    fn capital_x_only_adds_execute_when_some_execute_bit_is_set() {
        let m = ModeSpec::parse(&json!("a+X")).expect("mode");
        assert_eq!(m.resolve(0o644, false), Ok(0o644));
        assert_eq!(m.resolve(0o744, false), Ok(0o755));
    }

    #[test]
    fn bad_symbolic_mode_is_rejected() {
        assert!(ModeSpec::parse(&json!("u+q")).is_err());
        assert!(ModeSpec::parse(&json!("rwx")).is_err());
    }
}
