//! Ansible host patterns (`hosts:` of a play, `--limit`, the ad-hoc pattern).
//!
//! A pattern is a list of terms split on `,` (or on `:` when there is no comma and the text is
//! not one address). Plain terms are unions, `&term` intersections, `!term` exclusions, applied
//! in that order whatever the written order (no plain term means `all`). A term is a group or
//! host name, a glob (`web*`), a regex (`~web\d+`, matched at the start of the name), optionally
//! with a subscript (`web[0]`, `web[-1]`, `web[1:]`, `web[0:2]` — inclusive end, as ansible-core).
//! Hosts keep the order of the terms that brought them in, each once.

use super::{Inventory, LOCALHOST_NAMES};
use indexmap::IndexSet;

#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[error("{msg}")]
pub struct PatternError {
    pub msg: String,
}

fn perr(msg: impl Into<String>) -> PatternError {
    PatternError { msg: msg.into() }
}

pub(crate) fn select(inv: &Inventory, pattern: &str) -> Result<Vec<String>, PatternError> {
    let terms = split_pattern(pattern);
    let mut plain: Vec<&str> = terms
        .iter()
        .map(String::as_str)
        .filter(|t| !t.starts_with(['&', '!']))
        .collect();
    if plain.is_empty() {
        plain.push("all");
    }
    let intersect: Vec<&str> = terms.iter().filter_map(|t| t.strip_prefix('&')).collect();
    let exclude: Vec<&str> = terms.iter().filter_map(|t| t.strip_prefix('!')).collect();

    let mut hosts: IndexSet<String> = IndexSet::new();
    for t in plain {
        hosts.extend(match_term(inv, t)?);
    }
    for t in intersect {
        let keep: IndexSet<String> = match_term(inv, t)?.into_iter().collect();
        hosts.retain(|h| keep.contains(h));
    }
    for t in exclude {
        let drop: IndexSet<String> = match_term(inv, t)?.into_iter().collect();
        hosts.retain(|h| !drop.contains(h));
    }
    Ok(hosts.into_iter().collect())
}

/// Ansible's split: commas always separate; without commas, a single address (host, IPv6,
/// `host:port`, `name[1:3]`) is one term, anything else splits on `:` outside brackets.
pub(crate) fn split_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if is_address(pattern.trim()) {
        vec![pattern.to_string()]
    } else {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut depth = 0usize;
        for c in pattern.chars() {
            match c {
                '[' => {
                    depth += 1;
                    cur.push(c);
                }
                ']' => {
                    depth = depth.saturating_sub(1);
                    cur.push(c);
                }
                ':' if depth == 0 => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        out.push(cur);
        out
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether the text reads as one host address (so its colons are not term separators).
fn is_address(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    // Bare IPv6: hex digits, colons and dots only, with at least two colons.
    if s.matches(':').count() >= 2
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    {
        return true;
    }
    let (host, port) = super::range::split_port(s);
    if port.is_none() && s.contains(':') && !s.starts_with('[') {
        // A colon that is neither a port nor inside a range: a term separator.
        let outside_ranges = strip_ranges(s);
        if outside_ranges.contains(':') {
            return false;
        }
    }
    let name = strip_ranges(&host);
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

fn strip_ranges(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Hosts matched by one term (without its `&`/`!` prefix), subscript applied.
fn match_term(inv: &Inventory, term: &str) -> Result<Vec<String>, PatternError> {
    if inv.hosts.contains_key(term) {
        return Ok(vec![term.to_string()]);
    }
    let (expr, sub) = split_subscript(term);
    let hosts = enumerate(inv, expr)?;
    match sub {
        None => Ok(hosts),
        // An empty group stays empty whatever the subscript (ansible-core: no error, the play
        // matches no host).
        Some(_) if hosts.is_empty() => Ok(hosts),
        Some(sub) => apply_subscript(&hosts, sub)
            .ok_or_else(|| perr(format!("No hosts matched the subscripted pattern '{term}'"))),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Subscript {
    Index(i64),
    /// Inclusive range; `None` end means "to the last host".
    Range(usize, Option<usize>),
}

/// `expr[3]`, `expr[-1]`, `expr[1:]`, `expr[0:2]`; regex terms never take a subscript.
fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    if term.starts_with('~') || !term.ends_with(']') {
        return (term, None);
    }
    let Some(open) = term.rfind('[') else {
        return (term, None);
    };
    if open == 0 {
        return (term, None);
    }
    let inner = &term[open + 1..term.len() - 1];
    let expr = &term[..open];
    if let Ok(i) = inner.parse::<i64>() {
        if !inner.starts_with('+') {
            return (expr, Some(Subscript::Index(i)));
        }
    }
    if let Some((a, b)) = inner.split_once([':', '-']) {
        let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        if !a.is_empty() && digits(a) && digits(b) {
            if let Ok(start) = a.parse::<usize>() {
                let end = if b.is_empty() {
                    None
                } else {
                    b.parse::<usize>().ok()
                };
                if b.is_empty() || end.is_some() {
                    return (expr, Some(Subscript::Range(start, end)));
                }
            }
        }
    }
    (term, None)
}

fn apply_subscript(hosts: &[String], sub: Subscript) -> Option<Vec<String>> {
    match sub {
        Subscript::Index(i) => {
            let idx = if i < 0 {
                hosts.len().checked_sub(i.unsigned_abs() as usize)?
            } else {
                i as usize
            };
            hosts.get(idx).map(|h| vec![h.clone()])
        }
        // ansible-core treats `[n:0]` like `[n]` (a zero end is "no end given").
        Subscript::Range(start, Some(0)) => hosts.get(start).map(|h| vec![h.clone()]),
        Subscript::Range(start, end) => {
            let last = end.unwrap_or(usize::MAX).min(hosts.len().saturating_sub(1));
            if start > last || hosts.is_empty() {
                return Some(Vec::new());
            }
            Some(hosts[start..=last].to_vec())
        }
    }
}

/// Groups matching the expression contribute their hosts; hosts are matched by name when no group
/// matched or the expression is a glob/regex; the implicit localhost answers to its names last.
fn enumerate(inv: &Inventory, expr: &str) -> Result<Vec<String>, PatternError> {
    let matcher = Matcher::new(expr)?;
    let mut out: IndexSet<String> = IndexSet::new();
    let mut any_group = false;
    for g in inv.groups.keys().filter(|g| matcher.is_match(g)) {
        any_group = true;
        out.extend(inv.group_hosts(g));
    }
    let special = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
    if !any_group || special {
        out.extend(inv.hosts.keys().filter(|h| matcher.is_match(h)).cloned());
    }
    if out.is_empty() && LOCALHOST_NAMES.contains(&expr) {
        out.insert(expr.to_string());
    }
    Ok(out.into_iter().collect())
}

enum Matcher {
    Exact(String),
    Regex(fancy_regex::Regex),
}

impl Matcher {
    fn new(expr: &str) -> Result<Matcher, PatternError> {
        if let Some(re) = expr.strip_prefix('~') {
            // Python's re.match: anchored at the start only.
            let r = fancy_regex::Regex::new(&format!("^(?:{re})"))
                .map_err(|e| perr(format!("Invalid host list pattern: {expr}: {e}")))?;
            return Ok(Matcher::Regex(r));
        }
        if !expr.contains(['*', '?', '[']) {
            return Ok(Matcher::Exact(expr.to_string()));
        }
        let r = fancy_regex::Regex::new(&glob_to_regex(expr))
            .map_err(|e| perr(format!("Invalid host list pattern: {expr}: {e}")))?;
        Ok(Matcher::Regex(r))
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == name,
            Matcher::Regex(r) => r.is_match(name).unwrap_or(false),
        }
    }
}

/// fnmatch: `*`, `?`, `[seq]`, `[!seq]`, matched against the whole name (also used by the
/// `find` module's `patterns`).
pub fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^(?s:");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                // As fnmatch: a `!` negates, and a `]` right after the opening (or `!`) is literal.
                let mut j = i + 1;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                match chars[j.min(chars.len())..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + j)
                {
                    Some(close) => {
                        let mut body = &chars[i + 1..close];
                        out.push('[');
                        if body.first() == Some(&'!') {
                            out.push('^');
                            body = &body[1..];
                        }
                        for c in body {
                            if matches!(c, '\\' | '[' | ']' | '&' | '~' | '^') {
                                out.push('\\');
                            }
                            out.push(*c);
                        }
                        out.push(']');
                        i = close;
                    }
                    None => out.push_str("\\["),
                }
            }
            c => out.push_str(&fancy_regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out.push_str(")$");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let mut inv = Inventory::empty();
        super::super::ini::parse(
            &mut inv,
            "u1\n[web]\nweb1\nweb2\nweb3\n[db]\ndb1\nweb2\n[staging]\nweb1\ndb1\n[prod:children]\nweb\n[ip]\n10.0.0.1\n",
            "t",
        )
        .unwrap();
        inv.reconcile();
        inv
    }

    fn sel(p: &str) -> Vec<String> {
        inv().select(p).unwrap()
    }

    #[test]
    fn all_and_star_match_every_host_in_group_tree_order() {
        // Breadth first through the group tree, as ansible-core: ungrouped, then top-level groups
        // in definition order, then their children.
        let every = ["u1", "db1", "web2", "web1", "10.0.0.1", "web3"];
        assert_eq!(sel("all"), every);
        assert_eq!(sel("*"), every);
    }

    #[test]
    fn group_and_host_names() {
        assert_eq!(sel("db"), ["db1", "web2"]);
        assert_eq!(sel("web3"), ["web3"]);
        assert_eq!(sel("prod"), ["web1", "web2", "web3"]);
    }

    #[test]
    fn union_with_colon_or_comma_keeps_term_order() {
        assert_eq!(sel("db:web"), ["db1", "web2", "web1", "web3"]);
        assert_eq!(sel("db, web3"), ["db1", "web2", "web3"]);
    }

    #[test]
    fn intersection() {
        assert_eq!(sel("web:&staging"), ["web1"]);
    }

    #[test]
    fn exclusion_applies_after_unions_whatever_the_order() {
        assert_eq!(sel("!db:web"), ["web1", "web3"]);
    }

    #[test]
    fn only_exclusions_start_from_all() {
        assert_eq!(sel("!web"), ["u1", "db1", "10.0.0.1"]);
    }

    #[test]
    fn glob_matches_groups_and_hosts() {
        assert_eq!(sel("web*"), ["web1", "web2", "web3"]);
        assert_eq!(sel("db?"), ["db1"]);
        assert_eq!(sel("10.0.0.*"), ["10.0.0.1"]);
    }

    #[test]
    fn regex_matches_from_the_start() {
        assert_eq!(sel("~web[13]"), ["web1", "web3"]);
        assert_eq!(sel("~eb"), Vec::<String>::new());
    }

    #[test]
    fn subscripts_index_and_inclusive_slices() {
        assert_eq!(sel("web[0]"), ["web1"]);
        assert_eq!(sel("web[-1]"), ["web3"]);
        assert_eq!(sel("web[1:]"), ["web2", "web3"]);
        assert_eq!(sel("web[0:1]"), ["web1", "web2"]);
    }

    #[test]
    fn subscript_out_of_range_is_an_error() {
        assert!(inv().select("web[7]").unwrap_err().msg.contains("web[7]"));
    }

    #[test]
    fn subscript_of_an_empty_group_matches_nothing_without_error() {
        let mut i = inv();
        super::super::ini::parse(&mut i, "[bastion]\n", "t2").unwrap();
        i.reconcile();
        assert!(i.select("bastion[0]").unwrap().is_empty());
        assert!(sel("nope[0]").is_empty());
    }

    #[test]
    fn unknown_name_matches_nothing() {
        assert!(sel("nope").is_empty());
    }

    #[test]
    fn ip_address_host_is_one_term() {
        assert_eq!(sel("10.0.0.1"), ["10.0.0.1"]);
    }

    #[test]
    fn localhost_resolves_to_implicit_host_when_not_in_inventory() {
        assert_eq!(sel("localhost"), ["localhost"]);
        assert!(!sel("all").contains(&"localhost".to_string()));
    }

    #[test]
    fn invalid_regex_is_an_error() {
        assert!(inv().select("~web(").is_err());
    }

    #[test]
    fn split_keeps_ipv6_and_ranges_whole() {
        assert_eq!(split_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_pattern("web[1:2]:db"), ["web[1:2]", "db"]);
        assert_eq!(split_pattern("host:22"), ["host:22"]);
        assert_eq!(split_pattern("a:!b:&c"), ["a", "!b", "&c"]);
    }

    #[test]
    fn glob_character_class() {
        assert_eq!(sel("[dw]*1"), ["web1", "db1"]);
        assert_eq!(sel("web[!12]"), ["web3"]);
    }

    #[test]
    fn numeric_brackets_are_a_subscript_not_a_glob_class() {
        assert!(inv().select("web[12]").is_err());
    }
}
