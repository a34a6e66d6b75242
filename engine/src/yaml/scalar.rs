//! YAML 1.1 scalar resolution, as PyYAML's `SafeLoader` applies it (Ansible reads YAML with PyYAML).
//!
//! Only plain (unquoted) scalars are resolved; everything quoted or block-styled is a string.
//! The patterns below follow the YAML 1.1 type definitions PyYAML implements, quirks included:
//! `yes/on` are booleans, `0644` is octal, `1:30` is sexagesimal, and a float needs a dot
//! (`1e3` stays a string, and an exponent needs its sign: `1.0e3` is a string, `1.0e+3` a float).

use super::NodeKind;
use regex::Regex;
use std::num::IntErrorKind;
use std::sync::LazyLock;

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("constant regex")
});

static NULL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:~|null|Null|NULL|)$").expect("constant regex"));

static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?0b[0-1_]+",
        r"|[-+]?0[0-7_]+",
        r"|[-+]?(?:0|[1-9][0-9_]*)",
        r"|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    ))
    .expect("constant regex")
});

static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
        r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)",
        r"|\.(?:nan|NaN|NAN))$",
    ))
    .expect("constant regex")
});

/// The value of a plain scalar. Timestamps (which PyYAML turns into dates) and `=` stay strings:
/// Ansible users see dates as their text once templated, and a string is the useful reading.
pub(crate) fn resolve_plain(text: &str) -> NodeKind {
    // Like PyYAML, only consult the patterns that can start with this character: most scalars
    // are words and skip every regex.
    let first = text.chars().next();
    let could_be = |starts: &str| !matches!(first, Some(c) if !starts.contains(c));
    if !could_be("~nNyYtTfFoO-+0123456789.") {
        return NodeKind::Str(text.to_string());
    }
    if NULL.is_match(text) {
        return NodeKind::Null;
    }
    if BOOL.is_match(text) {
        return NodeKind::Bool(
            matches!(text.as_bytes()[0], b'y' | b'Y' | b't' | b'T')
                || text.eq_ignore_ascii_case("on"),
        );
    }
    if FLOAT.is_match(text) {
        if let Some(f) = construct_float(text) {
            return NodeKind::Float(f);
        }
    }
    if INT.is_match(text) {
        if let Some(kind) = construct_int(text) {
            return kind;
        }
    }
    NodeKind::Str(text.to_string())
}

/// `!!bool`: PyYAML accepts the six words in any case.
pub(crate) fn construct_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// An integer in any YAML 1.1 notation. `None` when the text is not a number at all.
/// Integers wider than i64 keep their text (as `NodeKind::Str`) rather than losing digits.
pub(crate) fn construct_int(text: &str) -> Option<NodeKind> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = split_sign(&cleaned);
    if digits.is_empty() {
        return None;
    }
    let parsed = if digits == "0" {
        Ok(0)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        u128::from_str_radix(bin, 2)
    } else if let Some(hex) = digits.strip_prefix("0x") {
        u128::from_str_radix(hex, 16)
    } else if let Some(oct) = digits.strip_prefix('0') {
        u128::from_str_radix(oct, 8)
    } else if digits.contains(':') {
        return sexagesimal_int(digits).map(|m| signed_int(negative, m, text));
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u128>()
    } else {
        return None;
    };
    match parsed {
        Ok(m) => Some(signed_int(negative, m, text)),
        // A number too wide even for u128 is still a number: keep its text.
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Some(NodeKind::Str(text.to_string())),
        Err(_) => None,
    }
}

/// `Int` when the value fits i64, otherwise the original text.
fn signed_int(negative: bool, magnitude: u128, text: &str) -> NodeKind {
    let limit = i64::MAX as u128 + u128::from(negative);
    if magnitude > limit {
        return NodeKind::Str(text.to_string());
    }
    let signed = if negative {
        -(magnitude as i128)
    } else {
        magnitude as i128
    };
    i64::try_from(signed)
        .map(NodeKind::Int)
        .unwrap_or_else(|_| NodeKind::Str(text.to_string()))
}

/// A float as PyYAML constructs it: `_` ignored, `.inf`/`.nan`, sexagesimal `1:30.5`.
pub(crate) fn construct_float(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let (negative, body) = split_sign(&cleaned);
    let sign = if negative { -1.0 } else { 1.0 };
    let magnitude = match body {
        ".inf" => f64::INFINITY,
        ".nan" => return Some(f64::NAN),
        b if b.contains(':') => {
            let mut value = 0.0_f64;
            for part in b.split(':') {
                value = value * 60.0 + part.parse::<f64>().ok()?;
            }
            value
        }
        b if b.is_empty() || b.contains("inf") || b.contains("nan") => return None,
        b => b.parse::<f64>().ok()?,
    };
    Some(sign * magnitude)
}

fn split_sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = s.strip_prefix('+') {
        (false, rest)
    } else {
        (false, s)
    }
}

/// `1:30:05` → 5405; each part is base 60.
fn sexagesimal_int(digits: &str) -> Option<u128> {
    let mut value: u128 = 0;
    for part in digits.split(':') {
        let p: u128 = part.parse().ok()?;
        // Overflow saturates so an absurdly long value ends up as its text, not a wrong number.
        value = value.saturating_mul(60).saturating_add(p);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> NodeKind {
        resolve_plain(s)
    }

    #[test]
    fn all_yaml11_boolean_words_resolve() {
        for t in [
            "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
        ] {
            assert_eq!(r(t), NodeKind::Bool(true), "{t}");
        }
        for f in [
            "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
        ] {
            assert_eq!(r(f), NodeKind::Bool(false), "{f}");
        }
    }

    #[test]
    fn mixed_case_and_single_letter_booleans_stay_strings() {
        for s in ["yEs", "y", "n", "Y", "tRUE", "oN"] {
            assert_eq!(r(s), NodeKind::Str(s.into()), "{s}");
        }
    }

    #[test]
    fn null_spellings_resolve() {
        for s in ["~", "null", "Null", "NULL", ""] {
            assert_eq!(r(s), NodeKind::Null, "{s:?}");
        }
        assert_eq!(r("nULL"), NodeKind::Str("nULL".into()));
    }

    #[test]
    fn decimal_ints_with_sign_and_underscores() {
        assert_eq!(r("42"), NodeKind::Int(42));
        assert_eq!(r("-17"), NodeKind::Int(-17));
        assert_eq!(r("+5"), NodeKind::Int(5));
        assert_eq!(r("1_000"), NodeKind::Int(1000));
        assert_eq!(r("0"), NodeKind::Int(0));
    }

    #[test]
    fn binary_and_hex_ints() {
        assert_eq!(r("0b1010"), NodeKind::Int(10));
        assert_eq!(r("-0b11"), NodeKind::Int(-3));
        assert_eq!(r("0x1F"), NodeKind::Int(31));
        assert_eq!(r("0xff_ff"), NodeKind::Int(65535));
    }

    #[test]
    fn leading_zero_is_octal_but_0o_is_not() {
        assert_eq!(r("0644"), NodeKind::Int(420));
        assert_eq!(r("0o644"), NodeKind::Str("0o644".into()));
        // 8 and 9 are not octal digits and not a decimal either (leading zero): a string.
        assert_eq!(r("08"), NodeKind::Str("08".into()));
    }

    #[test]
    fn sexagesimal_ints_and_floats() {
        assert_eq!(r("1:30"), NodeKind::Int(90));
        assert_eq!(r("1:00:05"), NodeKind::Int(3605));
        assert_eq!(r("1:30.5"), NodeKind::Float(90.5));
        // A leading zero or a 60+ part is not sexagesimal.
        assert_eq!(r("09:30"), NodeKind::Str("09:30".into()));
        assert_eq!(r("1:60"), NodeKind::Str("1:60".into()));
    }

    #[test]
    fn floats_need_a_dot() {
        assert_eq!(r("1.5"), NodeKind::Float(1.5));
        assert_eq!(r("1."), NodeKind::Float(1.0));
        assert_eq!(r(".5"), NodeKind::Float(0.5));
        assert_eq!(r("-2.5"), NodeKind::Float(-2.5));
        assert_eq!(r("1_0.5"), NodeKind::Float(10.5));
        assert_eq!(r("1e3"), NodeKind::Str("1e3".into()));
    }

    #[test]
    fn float_exponent_needs_a_sign() {
        assert_eq!(r("1.0e+3"), NodeKind::Float(1000.0));
        assert_eq!(r("1.0E-1"), NodeKind::Float(0.1));
        assert_eq!(r("1.0e3"), NodeKind::Str("1.0e3".into()));
    }

    #[test]
    fn signed_leading_dot_is_a_string() {
        // PyYAML's second float alternative has no sign.
        assert_eq!(r("-.5"), NodeKind::Str("-.5".into()));
    }

    #[test]
    fn infinities_and_nan() {
        assert_eq!(r(".inf"), NodeKind::Float(f64::INFINITY));
        assert_eq!(r("-.Inf"), NodeKind::Float(f64::NEG_INFINITY));
        assert_eq!(r("+.INF"), NodeKind::Float(f64::INFINITY));
        assert!(matches!(r(".nan"), NodeKind::Float(f) if f.is_nan()));
        assert!(matches!(r(".NaN"), NodeKind::Float(f) if f.is_nan()));
        assert_eq!(r("inf"), NodeKind::Str("inf".into()));
    }

    #[test]
    fn ints_beyond_i64_keep_their_text() {
        assert_eq!(r("9223372036854775807"), NodeKind::Int(i64::MAX));
        assert_eq!(r("-9223372036854775808"), NodeKind::Int(i64::MIN));
        let big = "9223372036854775808";
        assert_eq!(r(big), NodeKind::Str(big.into()));
        let huge = "123456789012345678901234567890123456789012345678901234567890";
        assert_eq!(r(huge), NodeKind::Str(huge.into()));
        assert_eq!(
            r("0x1_0000_0000_0000_0000_0000_0000_0000_0000_0000"),
            NodeKind::Str("0x1_0000_0000_0000_0000_0000_0000_0000_0000_0000".into())
        );
    }

    #[test]
    fn other_words_and_dates_stay_strings() {
        assert_eq!(r("hello"), NodeKind::Str("hello".into()));
        assert_eq!(r("2024-01-31"), NodeKind::Str("2024-01-31".into()));
        assert_eq!(r("1.2.3"), NodeKind::Str("1.2.3".into()));
        assert_eq!(r("0b"), NodeKind::Str("0b".into()));
        assert_eq!(r("0b_"), NodeKind::Str("0b_".into()));
    }

    #[test]
    fn explicit_bool_accepts_any_case() {
        assert_eq!(construct_bool("yEs"), Some(true));
        assert_eq!(construct_bool("OFF"), Some(false));
        assert_eq!(construct_bool("y"), None);
    }
}
