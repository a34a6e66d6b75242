//! The deb822 stanza ansible-core writes: the file's slug, fields in its order and spelling,
//! booleans as `yes`/`no`, lists joined with spaces, multi-line values continued with a space
//! (an empty line as ` .`).

use crate::common::args::Args;
use kplay_engine::value::{to_display_string, Value};

/// ansible-core's file name slug for a repository name: lower case, runs of `_` and blanks
/// made one `-`, everything but `a-z0-9-` dropped.
pub fn slug(name: &str) -> String {
    let mut dashed = String::new();
    let mut in_sep = false;
    for c in name.to_lowercase().chars() {
        if c == '_' || c.is_whitespace() {
            if !in_sep {
                dashed.push('-');
            }
            in_sep = true;
        } else {
            dashed.push(c);
            in_sep = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// A deb822 field value over several lines: continuation lines start with a space, empty
/// lines become ` .`.
fn multiline(v: &str) -> String {
    v.trim_end_matches('\n')
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.trim().is_empty()) {
            (0, _) => l.to_string(),
            (_, true) => " .".to_string(),
            _ => format!(" {l}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parameters and their field names, in ansible-core's (sorted parameter) order.
const FIELDS: &[(&str, &str)] = &[
    ("allow_downgrade_to_insecure", "Allow-Downgrade-To-Insecure"),
    ("allow_insecure", "Allow-Insecure"),
    ("allow_weak", "Allow-Weak"),
    ("architectures", "Architectures"),
    ("by_hash", "By-Hash"),
    ("check_date", "Check-Date"),
    ("check_valid_until", "Check-Valid-Until"),
    ("components", "Components"),
    ("date_max_future", "Date-Max-Future"),
    ("enabled", "Enabled"),
    ("inrelease_path", "InRelease-Path"),
    ("languages", "Languages"),
    ("name", "X-Repolib-Name"),
    ("pdiffs", "PDiffs"),
    ("signed_by", "Signed-By"),
    ("suites", "Suites"),
    ("targets", "Targets"),
    ("trusted", "Trusted"),
    ("types", "Types"),
    ("uris", "URIs"),
];

/// The stanza's text, `signed_by` already resolved (a key file path or the key itself).
pub fn stanza(a: &Args, signed_by: Option<&str>) -> String {
    let mut out = String::new();
    for (key, label) in FIELDS {
        let text = if *key == "signed_by" {
            match signed_by {
                Some(s) => s.to_string(),
                None => continue,
            }
        } else {
            match a.raw(key) {
                None => continue,
                Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_string(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(to_display_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                Some(other) => to_display_string(other),
            }
        };
        out.push_str(&format!("{label}: {}\n", multiline(&text)));
    }
    out
}
