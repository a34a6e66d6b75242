//! The PLAY RECAP counts, as both tools print them.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Host → counter (`ok`, `changed`, …) → value.
pub type Recap = BTreeMap<String, BTreeMap<String, u64>>;

const COUNTERS: [&str; 7] = [
    "ok",
    "changed",
    "unreachable",
    "failed",
    "skipped",
    "rescued",
    "ignored",
];

/// Parses the last `PLAY RECAP` block: `host : ok=1 changed=0 …`.
pub fn parse(stdout: &str) -> Recap {
    let mut recap = BTreeMap::new();
    let Some(start) = stdout.rfind("PLAY RECAP") else {
        return recap;
    };
    for line in stdout[start..].lines().skip(1) {
        let Some((host, counts)) = line.split_once(" : ") else {
            continue;
        };
        let mut map = BTreeMap::new();
        for field in counts.split_whitespace() {
            if let Some((k, v)) = field.split_once('=') {
                if let Ok(n) = v.parse() {
                    map.insert(k.to_string(), n);
                }
            }
        }
        if !map.is_empty() {
            recap.insert(host.trim().to_string(), map);
        }
    }
    recap
}

/// One line per recap, for reports.
pub fn format(r: &Recap) -> String {
    let mut s = String::new();
    for (host, counts) in r {
        let _ = write!(s, "{host}:");
        for k in COUNTERS {
            let _ = write!(s, " {k}={}", counts.get(k).copied().unwrap_or(0));
        }
        s.push(' ');
    }
    if s.is_empty() {
        s.push_str("(no recap)");
    }
    s
}

pub fn to_json(r: &Recap) -> Value {
    serde_json::json!(r)
}

pub fn from_json(v: &Value) -> Option<Recap> {
    let mut recap = BTreeMap::new();
    for (host, counts) in v.as_object()? {
        let mut map = BTreeMap::new();
        for (k, n) in counts.as_object()? {
            map.insert(k.clone(), n.as_u64()?);
        }
        recap.insert(host.clone(), map);
    }
    Some(recap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recap_lines_are_parsed_per_host() {
        let text = "PLAY RECAP ****\nlocalhost : ok=3    changed=1    unreachable=0    failed=0    skipped=2    rescued=0    ignored=1\nweb1 : ok=1 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0\n";
        let recap = parse(text);
        assert_eq!(recap.len(), 2);
        assert_eq!(recap["localhost"]["skipped"], 2);
        assert_eq!(recap["web1"]["failed"], 1);
    }

    #[test]
    fn output_without_recap_parses_to_nothing() {
        assert!(parse("ERROR! no play").is_empty());
    }

    #[test]
    fn recap_survives_the_json_round_trip() {
        let recap = parse("PLAY RECAP *\nh : ok=2 changed=1\n");
        assert_eq!(from_json(&to_json(&recap)), Some(recap));
    }
}
