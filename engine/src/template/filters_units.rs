//! Size and identifier filters: `human_readable`, `human_to_bytes` (Ansible's binary units,
//! K = 1024) and `to_uuid` (a name-based UUID, version 5, in Ansible's own namespace).

use super::filters_strings::text;
use super::{defined, op_err};
use minijinja::value::{Kwargs, Rest, Value as MjValue, ValueKind};
use minijinja::{Environment, Error};
use sha1::{Digest, Sha1};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("human_readable", human_readable);
    env.add_filter("human_to_bytes", human_to_bytes);
    env.add_filter("to_uuid", to_uuid);
}

/// Unit letters from the largest down, with their size in bytes (or bits).
const RANGES: [(char, u32); 9] = [
    ('Y', 80),
    ('Z', 70),
    ('E', 60),
    ('P', 50),
    ('T', 40),
    ('G', 30),
    ('M', 20),
    ('K', 10),
    ('B', 0),
];

/// The long names a unit may also be spelt as, bytes then bits.
fn long_names(letter: char) -> (&'static str, &'static str) {
    match letter {
        'B' => ("byte", "bit"),
        'K' => ("kilobyte", "kilobit"),
        'M' => ("megabyte", "megabit"),
        'G' => ("gigabyte", "gigabit"),
        'T' => ("terabyte", "terabit"),
        'P' => ("petabyte", "petabit"),
        'E' => ("exabyte", "exabit"),
        'Z' => ("zetabyte", "zetabit"),
        _ => ("yottabyte", "yottabit"),
    }
}

/// `human_readable(size, isbits=False, unit=None)`: `1048576` → `1.00 MB`, `10` → `10.00 Bytes`.
fn human_readable(v: &MjValue, args: Rest<MjValue>, kwargs: Kwargs) -> Result<String, Error> {
    defined(v)?;
    let isbits = match args.first() {
        Some(b) => b.is_true(),
        None => kwargs.get::<Option<bool>>("isbits")?.unwrap_or(false),
    };
    let unit = match args.get(1) {
        Some(u) if !u.is_none() => Some(text(u)?),
        Some(_) => None,
        None => kwargs.get::<Option<String>>("unit")?,
    };
    kwargs.assert_all_used()?;
    if v.kind() != ValueKind::Number {
        return Err(op_err(format!(
            "human_readable() failed on bad input: '{}' is not a number",
            text(v)?
        )));
    }
    let size = f64::try_from(v.clone()).map_err(|e| op_err(e.to_string()))?;
    let (letter, shift) = RANGES
        .iter()
        .copied()
        .find(|(letter, shift)| match &unit {
            None => size >= (2f64).powi(*shift as i32),
            Some(u) => u.to_uppercase().starts_with(*letter),
        })
        .unwrap_or(('B', 0));
    let base = if isbits { "bits" } else { "Bytes" };
    let suffix = if shift == 0 {
        base.to_string()
    } else {
        format!("{letter}{}", &base[..1])
    };
    Ok(format!("{:.2} {suffix}", size / (2f64).powi(shift as i32)))
}

/// `human_to_bytes(size, default_unit=None, isbits=False)`: `'10M'` → `10485760`; `MB`/`Mb`
/// must match `isbits` as in Ansible.
fn human_to_bytes(v: &MjValue, args: Rest<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let input = text(v)?;
    let default_unit = match args.first() {
        Some(u) if !u.is_none() => Some(text(u)?),
        Some(_) => None,
        None => kwargs.get::<Option<String>>("default_unit")?,
    };
    let isbits = match args.get(1) {
        Some(b) => b.is_true(),
        None => kwargs.get::<Option<bool>>("isbits")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let bad = || {
        op_err(format!(
            "human_to_bytes() can't interpret following string: {input}"
        ))
    };
    let re = regex::Regex::new(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$").map_err(|_| bad())?;
    let caps = re.captures(&input).ok_or_else(bad)?;
    let num: f64 = caps[1].parse().map_err(|_| bad())?;
    let Some(unit) = caps.get(2).map(|m| m.as_str().to_string()).or(default_unit) else {
        return Ok(MjValue::from(num.round_ties_even() as i128));
    };
    let letter = unit.chars().next().ok_or_else(bad)?.to_ascii_uppercase();
    let (_, shift) = RANGES.iter().find(|(l, _)| *l == letter).ok_or_else(bad)?;
    if unit.chars().count() > 1 {
        let (bytes_name, bits_name) = long_names(letter);
        let (long, short) = if isbits {
            (bits_name, format!("{letter}b"))
        } else {
            (bytes_name, format!("{letter}B"))
        };
        if unit.to_lowercase() != long && unit != short {
            return Err(bad());
        }
    }
    let bytes = (num * (2f64).powi(*shift as i32)).round_ties_even();
    Ok(MjValue::from(bytes as i128))
}

/// Ansible's namespace for `to_uuid`.
const ANSIBLE_NAMESPACE: &str = "361E6D51-FAEC-444A-9079-341386DA8E2E";

/// `to_uuid(name, namespace=…)`: UUID version 5 (SHA-1 of namespace and name), lower case.
fn to_uuid(v: &MjValue, args: Rest<MjValue>, kwargs: Kwargs) -> Result<String, Error> {
    let name = text(v)?;
    let namespace = match args.first() {
        Some(n) => Some(text(n)?),
        None => kwargs.get::<Option<String>>("namespace")?,
    };
    kwargs.assert_all_used()?;
    let ns_text = namespace.unwrap_or_else(|| ANSIBLE_NAMESPACE.to_string());
    let ns = parse_uuid(&ns_text).ok_or_else(|| {
        op_err(format!(
            "Invalid value '{ns_text}' for 'namespace': badly formed hexadecimal UUID string"
        ))
    })?;
    let mut h = Sha1::new();
    h.update(ns);
    h.update(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.finalize()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    ))
}

/// A UUID in any of Python's accepted spellings (hyphens, braces, `urn:uuid:`).
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s.strip_prefix("urn:").unwrap_or(s);
    let s = s.strip_prefix("uuid:").unwrap_or(s);
    let hexits: String = s
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let bytes = hex::decode(hexits).ok()?;
    bytes.try_into().ok()
}
