//! Host names as written in inventories: `name:port`, `[ipv6]:port`, and ranges such as
//! `node[01:10]`, `db-[a:c]` or `web[1:10:2]` that stand for many hosts.

/// Split a trailing `:port` off a host entry. Bare IPv6 addresses (several colons) keep their
/// colons; `[addr]:port` loses its brackets. Colons inside `[x:y]` ranges are not separators.
pub(crate) fn split_port(entry: &str) -> (String, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, port)) = rest.split_once("]:") {
            if let Ok(p) = port.parse::<u16>() {
                if !addr.contains('[') {
                    return (addr.to_string(), Some(p));
                }
            }
        }
    }
    let outside: Vec<usize> = colons_outside_brackets(entry);
    if outside.len() == 1 {
        let idx = outside[0];
        if let Ok(p) = entry[idx + 1..].parse::<u16>() {
            return (entry[..idx].to_string(), Some(p));
        }
    }
    (entry.to_string(), None)
}

fn colons_outside_brackets(s: &str) -> Vec<usize> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => out.push(i),
            _ => {}
        }
    }
    out
}

/// Whether a name contains a `[x:y]` range to expand.
pub(crate) fn has_range(name: &str) -> bool {
    match (name.find('['), name.find(']')) {
        (Some(open), Some(close)) if open < close => name[open..close].contains(':'),
        _ => false,
    }
}

/// Expand every `[beg:end]` / `[beg:end:step]` range in a host name (numeric ranges keep the
/// zero padding of `beg`; alphabetic ranges take single letters). Names without ranges return as is.
pub(crate) fn expand(name: &str) -> Result<Vec<String>, String> {
    if !has_range(name) {
        return Ok(vec![name.to_string()]);
    }
    let open = name.find('[').unwrap_or(0);
    let close = name[open..]
        .find(']')
        .map(|i| i + open)
        .ok_or_else(|| format!("unterminated host range in {name}"))?;
    let head = &name[..open];
    let spec = &name[open + 1..close];
    let tail = &name[close + 1..];
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() != 2 && parts.len() != 3 {
        return Err(format!(
            "host range must be begin:end or begin:end:step, got [{spec}]"
        ));
    }
    let beg = if parts[0].is_empty() { "0" } else { parts[0] };
    let end = parts[1];
    if end.is_empty() {
        return Err(format!("host range must specify end value, got [{spec}]"));
    }
    let step: usize = match parts.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "host range step must be a positive integer, got [{spec}]"
                ))
            }
        },
    };
    let items = range_items(beg, end, step).map_err(|e| format!("{e}, got [{spec}]"))?;
    let mut out = Vec::new();
    for item in items {
        for rest in expand(tail)? {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}

fn range_items(beg: &str, end: &str, step: usize) -> Result<Vec<String>, String> {
    if let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) {
        let width = if beg.len() > 1 && beg.starts_with('0') {
            if beg.len() != end.len() {
                return Err("host range must specify equal-length begin and end formats".into());
            }
            beg.len()
        } else {
            0
        };
        if b > e {
            return Err("host range begin is greater than end".into());
        }
        return Ok((b..=e)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect());
    }
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let (Some(b), Some(e)) = (
        single_letter_index(LETTERS, beg),
        single_letter_index(LETTERS, end),
    ) else {
        return Err("host range must be numeric or single letters".into());
    };
    if b > e {
        return Err("host range begin is greater than end".into());
    }
    Ok(LETTERS[b..=e]
        .chars()
        .step_by(step)
        .map(String::from)
        .collect())
}

fn single_letter_index(letters: &str, s: &str) -> Option<usize> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    letters.find(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_split_from_host() {
        assert_eq!(split_port("web1:2222"), ("web1".to_string(), Some(2222)));
        assert_eq!(split_port("web1"), ("web1".to_string(), None));
    }

    #[test]
    fn bare_ipv6_keeps_its_colons_and_bracketed_ipv6_takes_a_port() {
        assert_eq!(split_port("fe80::1"), ("fe80::1".to_string(), None));
        assert_eq!(
            split_port("[fe80::1]:22"),
            ("fe80::1".to_string(), Some(22))
        );
    }

    #[test]
    fn range_with_port_splits_after_the_range() {
        assert_eq!(
            split_port("web[1:3]:22"),
            ("web[1:3]".to_string(), Some(22))
        );
    }

    #[test]
    fn numeric_range_keeps_zero_padding() {
        assert_eq!(
            expand("node[01:03]").unwrap(),
            ["node01", "node02", "node03"]
        );
    }

    #[test]
    fn alphabetic_range_expands_letters() {
        assert_eq!(
            expand("db-[a:c].x").unwrap(),
            ["db-a.x", "db-b.x", "db-c.x"]
        );
    }

    #[test]
    fn stride_skips_items() {
        assert_eq!(expand("h[1:10:4]").unwrap(), ["h1", "h5", "h9"]);
    }

    #[test]
    fn several_ranges_multiply() {
        assert_eq!(
            expand("r[1:2]n[a:b]").unwrap(),
            ["r1na", "r1nb", "r2na", "r2nb"]
        );
    }

    #[test]
    fn unequal_padding_is_an_error() {
        assert!(expand("n[01:100]").unwrap_err().contains("equal-length"));
    }

    #[test]
    fn range_without_end_is_an_error() {
        assert!(expand("n[1:]").unwrap_err().contains("end value"));
    }

    #[test]
    fn mixed_range_is_an_error() {
        assert!(expand("n[1:c]").is_err());
    }
}
