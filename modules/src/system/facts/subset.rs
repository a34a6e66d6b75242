//! `gather_subset` and `filter`: which parts of the script run and which facts are returned.

/// Subset names Ansible accepts (the collectors kplay maps onto its own groups). Names of
/// collectors inside `min` select nothing extra (min always runs unless `!min`) but are valid.
const GROUPS: &[&str] = &[
    "all", "min", "hardware", "network", "virtual", "ohai", "facter",
];
const MIN_COLLECTORS: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// The parts of the gather script to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsets {
    pub min: bool,
    pub hardware: bool,
    pub network: bool,
    pub virtual_: bool,
}

/// Resolve `gather_subset` with Ansible's rules: `all` when nothing is included, `!x` excludes,
/// `!all` leaves only `min`, and `min` is always gathered unless `!min` is given.
pub fn resolve(tokens: &[String]) -> Result<Subsets, String> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for t in tokens {
        let t = t.trim();
        let (neg, name) = match t.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, t),
        };
        if !GROUPS.contains(&name) && !MIN_COLLECTORS.contains(&name) {
            let mut allowed: Vec<&str> = GROUPS.iter().chain(MIN_COLLECTORS).copied().collect();
            allowed.sort_unstable();
            return Err(format!(
                "Bad subset '{name}' given to Ansible. gather_subset options allowed: {}",
                allowed.join(", ")
            ));
        }
        if neg {
            exclude.push(name);
        } else {
            include.push(name);
        }
    }
    if include.is_empty() {
        include.push("all");
    }
    let all = include.contains(&"all") && !exclude.contains(&"all");
    let want = |n: &str| (all || include.contains(&n)) && !exclude.contains(&n);
    Ok(Subsets {
        min: !exclude.contains(&"min"),
        hardware: want("hardware"),
        network: want("network"),
        virtual_: want("virtual"),
    })
}

/// Python's `fnmatch.fnmatch` on a fact name: `*`, `?`, `[seq]`, `[!seq]`.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| match_from(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => match (class_end(p), n.first()) {
            (Some(end), Some(c)) => {
                class_matches(&p[1..end], *c) && match_from(&p[end + 1..], &n[1..])
            }
            (Some(_), None) => false,
            (None, _) => n.first() == Some(&'[') && match_from(&p[1..], &n[1..]),
        },
        Some(c) => n.first() == Some(c) && match_from(&p[1..], &n[1..]),
    }
}

/// Index of the `]` closing the class that starts at `p[0]`, if any.
fn class_end(p: &[char]) -> Option<usize> {
    let mut i = 1;
    if p.get(i) == Some(&'!') {
        i += 1;
    }
    if p.get(i) == Some(&']') {
        i += 1;
    }
    (i..p.len()).find(|&j| p[j] == ']')
}

fn class_matches(class: &[char], c: char) -> bool {
    let (neg, body) = match class.first() {
        Some('!') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    hit != neg
}

/// Whether a fact passes `filter`: no patterns keeps all; a pattern may be written with or
/// without the `ansible_` prefix.
pub fn keep(filters: &[String], fact: &str) -> bool {
    if filters.is_empty() {
        return true;
    }
    let bare = fact.strip_prefix("ansible_").unwrap_or(fact);
    filters.iter().any(|f| fnmatch(f, fact) || fnmatch(f, bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_is_everything() {
        assert_eq!(
            resolve(&[]).unwrap(),
            Subsets {
                min: true,
                hardware: true,
                network: true,
                virtual_: true
            }
        );
    }

    #[test]
    fn not_all_leaves_min() {
        assert_eq!(
            resolve(&v(&["!all"])).unwrap(),
            Subsets {
                min: true,
                hardware: false,
                network: false,
                virtual_: false
            }
        );
    }

    #[test]
    fn exclusion_removes_one_group() {
        let s = resolve(&v(&["all", "!hardware"])).unwrap();
        assert!(!s.hardware && s.network && s.virtual_);
    }

    #[test]
    fn named_group_adds_to_min() {
        assert_eq!(
            resolve(&v(&["network"])).unwrap(),
            Subsets {
                min: true,
                hardware: false,
                network: true,
                virtual_: false
            }
        );
    }

    #[test]
    fn not_min_drops_min_facts() {
        assert!(!resolve(&v(&["!all", "!min", "network"])).unwrap().min);
    }

    #[test]
    fn unknown_subset_is_rejected() {
        assert!(resolve(&v(&["bogus"]))
            .unwrap_err()
            .starts_with("Bad subset 'bogus' given to Ansible."));
    }

    #[test]
    fn fnmatch_handles_star_question_and_classes() {
        assert!(fnmatch("ansible_*_mb", "ansible_memtotal_mb"));
        assert!(fnmatch("ansible_eth?", "ansible_eth0"));
        assert!(fnmatch("ansible_[a-e]*", "ansible_env"));
        assert!(!fnmatch("ansible_[!a-e]*", "ansible_env"));
        assert!(!fnmatch("ansible_eth", "ansible_eth0"));
    }

    #[test]
    fn filter_accepts_prefixed_and_bare_patterns() {
        assert!(keep(&v(&["ansible_hostname"]), "ansible_hostname"));
        assert!(keep(&v(&["host*"]), "ansible_hostname"));
        assert!(!keep(&v(&["kernel"]), "ansible_hostname"));
        assert!(keep(&[], "anything"));
    }
}
