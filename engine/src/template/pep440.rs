//! PEP 440 version ordering (`version_type='pep440'` of the `version` test, which ansible-core
//! answers with `packaging.version.Version`): epoch, release (trailing zeros ignored),
//! pre-release (`a`/`b`/`rc` and their spellings), post-release, dev-release, local label.

use std::cmp::Ordering;

/// A missing part sorts below (`Low`) or above (`High`) every present one, as packaging's
/// comparison key does with infinities.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot<T: Ord> {
    Low,
    Some(T),
    High,
}

/// A local-version segment: words sort before numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    Word(String),
    Num(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    epoch: u64,
    release: Vec<u64>,
    pre: Slot<(u8, u64)>,
    post: Slot<u64>,
    dev: Slot<u64>,
    local: Slot<Vec<Local>>,
}

pub fn cmp(a: &str, b: &str) -> Result<Ordering, String> {
    Ok(key(a)?.cmp(&key(b)?))
}

fn invalid(s: &str) -> String {
    format!("Invalid version: '{s}'")
}

/// Digits at the front of `s`: the number and the rest.
fn number(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

fn skip_sep(s: &str) -> &str {
    s.strip_prefix(['-', '_', '.']).unwrap_or(s)
}

/// A labelled part such as `rc1`, `.post2`, `-dev`: (label index, number, rest).
fn labelled<'a>(s: &'a str, labels: &[(&str, u8)]) -> Option<(u8, u64, &'a str)> {
    let t = skip_sep(s);
    let (tag, rest) = labels
        .iter()
        .find_map(|(l, n)| t.strip_prefix(l).map(|r| (*n, r)))?;
    let after = skip_sep(rest);
    match number(after) {
        Some((n, r)) => Some((tag, n, r)),
        None => Some((tag, 0, rest)),
    }
}

fn key(raw: &str) -> Result<Key, String> {
    let lower = raw.trim().to_ascii_lowercase();
    let mut s = lower.strip_prefix('v').unwrap_or(&lower);
    let mut epoch = 0;
    if let Some((n, rest)) = number(s) {
        if let Some(r) = rest.strip_prefix('!') {
            epoch = n;
            s = r;
        }
    }
    let mut release = Vec::new();
    loop {
        let (n, rest) = number(s).ok_or_else(|| invalid(raw))?;
        release.push(n);
        s = rest;
        match s.strip_prefix('.') {
            Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => s = r,
            _ => break,
        }
    }
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    // Longer spellings first so `alpha` is not read as `a` + garbage.
    const PRE: [(&str, u8); 7] = [
        ("alpha", 0),
        ("beta", 1),
        ("preview", 2),
        ("pre", 2),
        ("rc", 2),
        ("a", 0),
        ("b", 1),
    ];
    let mut pre = None;
    if let Some((tag, n, rest)) = labelled(s, &PRE).or_else(|| labelled(s, &[("c", 2)])) {
        pre = Some((tag, n));
        s = rest;
    }
    let mut post = None;
    if let Some(r) = s.strip_prefix('-') {
        if let Some((n, rest)) = number(r) {
            post = Some(n);
            s = rest;
        }
    }
    if post.is_none() {
        if let Some((_, n, rest)) = labelled(s, &[("post", 0), ("rev", 0), ("r", 0)]) {
            post = Some(n);
            s = rest;
        }
    }
    let mut dev = None;
    if let Some((_, n, rest)) = labelled(s, &[("dev", 0)]) {
        dev = Some(n);
        s = rest;
    }
    let mut local = None;
    if let Some(l) = s.strip_prefix('+') {
        let parts: Vec<&str> = l.split(['-', '_', '.']).collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(invalid(raw));
        }
        local = Some(
            parts
                .iter()
                .map(|p| {
                    p.parse()
                        .map(Local::Num)
                        .unwrap_or_else(|_| Local::Word(p.to_string()))
                })
                .collect(),
        );
        s = "";
    }
    if !s.is_empty() {
        return Err(invalid(raw));
    }
    Ok(Key {
        epoch,
        release,
        pre: match (pre, post, dev) {
            (None, None, Some(_)) => Slot::Low,
            (None, _, _) => Slot::High,
            (Some(p), _, _) => Slot::Some(p),
        },
        post: post.map_or(Slot::Low, Slot::Some),
        dev: dev.map_or(Slot::High, Slot::Some),
        local: local.map_or(Slot::Low, Slot::Some),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders from PEP 440's examples, as `packaging.version.Version` sorts them.
    #[test]
    fn pep440_ordering() {
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
            "1!0.5",
        ];
        for w in ordered.windows(2) {
            assert_eq!(cmp(w[0], w[1]), Ok(Ordering::Less), "{} < {}", w[0], w[1]);
        }
        assert_eq!(cmp("1.0", "1.0.0"), Ok(Ordering::Equal));
        assert_eq!(cmp("1.0-1", "1.0.post1"), Ok(Ordering::Equal));
        assert_eq!(cmp("1.0ALPHA1", "1.0a1"), Ok(Ordering::Equal));
        assert_eq!(cmp("v2.0c1", "2.0rc1"), Ok(Ordering::Equal));
        assert!(cmp("1.0-foo", "1.0").is_err());
        assert!(cmp("abc", "1.0").is_err());
    }
}
