//! OpenSSH command-line arguments and `ssh_config` files, reduced to the options kplay acts on.
//!
//! Inventories carry SSH settings the way Ansible passes them to `ssh`: as
//! `ansible_ssh_common_args` / `ansible_ssh_extra_args` strings (`-o ProxyJump=bastion`,
//! `-F ./ssh_config`, ...). Like OpenSSH, the first value seen for an option wins, the command
//! line beats the config file, and `IdentityFile` accumulates. Options kplay has no use for are
//! skipped silently, as the brief for kubespray-style inventories asks.

use std::collections::HashMap;

/// Options gathered from arguments or a config file. Keys are lower-case OpenSSH keywords.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshOptions {
    values: HashMap<String, String>,
    /// `IdentityFile` / `-i`, in the order given (every one is tried).
    pub identity_files: Vec<String>,
    /// `-F file`.
    pub config_file: Option<String>,
}

impl SshOptions {
    /// The first value given for `key` (case-insensitive keyword).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Record `key value` unless the key already has a value (OpenSSH: first one wins).
    pub fn set_first(&mut self, key: &str, value: &str) {
        let key = key.to_ascii_lowercase();
        if key == "identityfile" {
            self.identity_files.push(value.to_string());
            return;
        }
        self.values.entry(key).or_insert_with(|| value.to_string());
    }

    /// Fill in what `self` lacks from `lower` (a lower-priority source such as a config file).
    pub fn merge_lower(&mut self, lower: &SshOptions) {
        for (k, v) in &lower.values {
            self.values.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self.identity_files
            .extend(lower.identity_files.iter().cloned());
        if self.config_file.is_none() {
            self.config_file.clone_from(&lower.config_file);
        }
    }
}

/// `ssh` flags that take an argument; those kplay does not use are skipped with it.
const FLAGS_WITH_ARG: &str = "BbcDEeFIiJLlmOopQRSWw";

/// Parse one `ansible_ssh_*_args` string into `opts` (values already there win).
pub fn parse_args(args: &str, opts: &mut SshOptions) -> Result<(), String> {
    let words = shell_words::split(args)
        .map_err(|e| format!("cannot parse SSH arguments {args:?}: {e}"))?;
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let Some(flags) = w.strip_prefix('-') else {
            continue; // a stray word (e.g. a host name): ssh would treat it as the destination
        };
        let Some(flag) = flags.chars().next() else {
            continue;
        };
        if !FLAGS_WITH_ARG.contains(flag) {
            continue; // boolean flags such as -v, -A, -tt
        }
        let inline = &flags[flag.len_utf8()..];
        let value = if inline.is_empty() {
            match it.next() {
                Some(v) => v,
                None => return Err(format!("SSH argument -{flag} needs a value in {args:?}")),
            }
        } else {
            inline.to_string()
        };
        match flag {
            'o' => {
                let (k, v) = split_option(&value)
                    .ok_or_else(|| format!("malformed SSH option -o {value:?}"))?;
                opts.set_first(k, v);
            }
            'i' => opts.identity_files.push(value),
            'p' => opts.set_first("port", &value),
            'l' => opts.set_first("user", &value),
            'J' => opts.set_first("proxyjump", &value),
            'F' if opts.config_file.is_none() => opts.config_file = Some(value),
            _ => {}
        }
    }
    Ok(())
}

/// `Key=Value`, `Key Value` or `Key = Value`.
fn split_option(s: &str) -> Option<(&str, &str)> {
    let s = s.trim();
    let end = s.find(|c: char| c == '=' || c.is_whitespace())?;
    let key = &s[..end];
    let rest = s[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    if key.is_empty() {
        return None;
    }
    Some((key, unquote(rest)))
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// The options an `ssh_config` text gives for `host`: every `Host` block whose patterns match
/// contributes, first value wins per keyword. `Match` blocks are not evaluated (they are
/// skipped), and `Include` is not followed.
pub fn config_for_host(text: &str, host: &str) -> SshOptions {
    let mut opts = SshOptions::default();
    let mut active = true; // options before the first Host block apply to every host
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = split_option(line) else {
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "host" => active = host_matches(value, host),
            "match" => active = false,
            "include" => {}
            _ if active => {
                let value = value.replace("%h", host);
                opts.set_first(key, &value);
            }
            _ => {}
        }
    }
    opts
}

/// OpenSSH `Host` pattern lists: whitespace-separated globs (`*`, `?`); a `!pattern` that
/// matches excludes the host whatever else matches.
pub fn host_matches(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for p in patterns
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
    {
        let p = unquote(p);
        if let Some(neg) = p.strip_prefix('!') {
            if glob_match(neg, host) {
                return false;
            }
        } else if glob_match(p, host) {
            matched = true;
        }
    }
    matched
}

/// Case-insensitive glob with `*` and `?`, as OpenSSH matches host names.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> SshOptions {
        let mut o = SshOptions::default();
        parse_args(s, &mut o).unwrap_or_else(|e| panic!("{e}"));
        o
    }

    #[test]
    fn dash_o_with_equals_and_space_forms() {
        let o = parsed("-o ProxyJump=bastion -o 'StrictHostKeyChecking no' -oPort=2222");
        assert_eq!(o.get("proxyjump"), Some("bastion"));
        assert_eq!(o.get("StrictHostKeyChecking"), Some("no"));
        assert_eq!(o.get("port"), Some("2222"));
    }

    #[test]
    fn first_value_wins_like_openssh() {
        let o = parsed("-o User=a -l b -o User=c");
        assert_eq!(o.get("user"), Some("a"));
    }

    #[test]
    fn identity_files_accumulate() {
        let o = parsed("-i k1 -o IdentityFile=k2");
        assert_eq!(o.identity_files, vec!["k1", "k2"]);
    }

    #[test]
    fn proxy_command_keeps_its_spaces() {
        let o = parsed(r#"-o ProxyCommand="ssh -W %h:%p -q bastion""#);
        assert_eq!(o.get("proxycommand"), Some("ssh -W %h:%p -q bastion"));
    }

    #[test]
    fn unknown_flags_and_their_values_are_skipped() {
        let o = parsed("-vvv -C -c aes128-ctr -o ControlPersist=60s -p 2200");
        assert_eq!(o.get("port"), Some("2200"));
        assert_eq!(o.get("controlpersist"), Some("60s"));
    }

    #[test]
    fn dash_f_names_config_file() {
        assert_eq!(
            parsed("-F /tmp/cfg").config_file.as_deref(),
            Some("/tmp/cfg")
        );
    }

    #[test]
    fn missing_value_is_an_error() {
        assert!(parse_args("-o", &mut SshOptions::default()).is_err());
    }

    #[test]
    fn config_first_matching_block_wins_per_key() {
        let cfg =
            "Host web*\n  User deploy\n  Port 2222\nHost *\n  User root\n  IdentityFile ~/.ssh/k\n";
        let o = config_for_host(cfg, "web1");
        assert_eq!(o.get("user"), Some("deploy"));
        assert_eq!(o.get("port"), Some("2222"));
        assert_eq!(o.identity_files, vec!["~/.ssh/k"]);
        assert_eq!(config_for_host(cfg, "db1").get("user"), Some("root"));
    }

    #[test]
    fn config_hostname_expands_percent_h() {
        let o = config_for_host("Host n*\n HostName %h.example.net\n", "n1");
        assert_eq!(o.get("hostname"), Some("n1.example.net"));
    }

    #[test]
    fn negated_pattern_excludes_host() {
        assert!(!host_matches("* !bastion", "bastion"));
        assert!(host_matches("* !bastion", "node1"));
    }

    #[test]
    fn glob_question_mark_and_star() {
        assert!(glob_match("10.0.?.*", "10.0.1.25"));
        assert!(!glob_match("10.0.?.*", "10.0.12.5"));
    }
}
