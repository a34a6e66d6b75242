//! Finding the Debian mirror this machine's apt already uses, so debootstrap fetches from the one
//! registry the machine can reach instead of a hard-coded host.

use std::path::Path;

/// The first `deb` URI serving Debian's main archive (not the security archive, which debootstrap
/// cannot bootstrap from), looked up in /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources}.
pub fn find() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(("list", t));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let (Some(kind), Ok(t)) = (kind_of(&p), std::fs::read_to_string(&p)) {
                texts.push((kind, t));
            }
        }
    }
    texts.iter().find_map(|(kind, t)| {
        if *kind == "list" {
            from_one_line(t)
        } else {
            from_deb822(t)
        }
    })
}

fn kind_of(p: &Path) -> Option<&'static str> {
    match p.extension()?.to_str()? {
        "list" => Some("list"),
        "sources" => Some("sources"),
        _ => None,
    }
}

/// A mirror is usable when it carries the main archive: not a security or other add-on archive.
fn is_main_archive(uri: &str, suites: &[&str]) -> bool {
    uri.starts_with("http")
        && !uri.contains("security")
        && suites.iter().any(|s| !s.contains('-') && !s.contains('/'))
}

/// One-line format: `deb [opts] URI SUITE COMPONENT…`.
pub fn from_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if words.next()? != "deb" {
            return None;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let close = rest.iter().position(|w| w.ends_with(']'))?;
            rest.drain(..=close);
        }
        let uri = *rest.first()?;
        is_main_archive(uri, &rest[1..2.min(rest.len())]).then(|| uri.to_string())
    })
}

/// deb822 format: stanzas of `Field: value` separated by blank lines.
pub fn from_deb822(text: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let l = l.trim_start();
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let types = field("Types")?;
        if !types.split_whitespace().any(|t| t == "deb") {
            return None;
        }
        if field("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            return None;
        }
        let uris = field("URIs")?;
        let suites = field("Suites").unwrap_or_default();
        let suites: Vec<&str> = suites.split_whitespace().collect();
        uris.split_whitespace()
            .find(|u| is_main_archive(u, &suites))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_main_archive_is_found_and_security_skipped() {
        let t = "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\n\
                 Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n";
        assert_eq!(
            from_deb822(t).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn one_line_format_with_options_is_parsed() {
        let t = "# deb http://old.example/debian bookworm main\n\
                 deb [signed-by=/k.gpg arch=amd64] http://mirror.example/debian bookworm main\n";
        assert_eq!(
            from_one_line(t).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn deb_src_only_gives_no_mirror() {
        assert_eq!(
            from_one_line("deb-src http://m.example/debian bookworm main\n"),
            None
        );
        assert_eq!(
            from_deb822("Types: deb-src\nURIs: http://m.example/debian\nSuites: bookworm\n"),
            None
        );
    }
}
