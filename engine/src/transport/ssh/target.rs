//! Where and how to connect to one host, resolved from its (already rendered) variables.
//!
//! Precedence follows what Ansible's ssh plugin produces on the `ssh` command line: the
//! connection variables (`ansible_host`, `ansible_port`, `ansible_user`, key file) come before
//! `ansible_ssh_common_args` and `ansible_ssh_extra_args`, and OpenSSH keeps the first value it
//! sees, so the variables win; a `-F ssh_config` file only fills what is still unset; the
//! command-line defaults (`-u`, `--private-key`) stand in for missing variables.

use super::options::{config_for_host, parse_args, SshOptions};
use crate::Map;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How unknown and changed host keys are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Unknown keys are refused (`--strict-host-keys`, `StrictHostKeyChecking=yes`).
    Strict,
    /// Unknown keys are trusted on first use and recorded in kplay's own known_hosts.
    AcceptNew,
    /// No checking at all (`host_key_checking = False`, `StrictHostKeyChecking=no`).
    Off,
}

/// Run-wide settings from the command line and ansible.cfg.
#[derive(Clone, Debug)]
pub struct SshDefaults {
    /// `-u` / ansible.cfg `remote_user`.
    pub remote_user: Option<String>,
    /// `--private-key`.
    pub private_key_file: Option<String>,
    /// `--ask-pass`.
    pub password: Option<String>,
    /// `--strict-host-keys`: refuse unknown host keys.
    pub strict_host_keys: bool,
    /// ansible.cfg `host_key_checking` (default true).
    pub host_key_checking: bool,
    /// kplay's own trust-on-first-use file, e.g. `~/.kplay/known_hosts`.
    pub kplay_known_hosts: PathBuf,
    /// ansible.cfg `timeout` / `--timeout`: the connect timeout.
    pub timeout: Duration,
}

impl Default for SshDefaults {
    fn default() -> Self {
        SshDefaults {
            remote_user: None,
            private_key_file: None,
            password: None,
            strict_host_keys: false,
            host_key_checking: true,
            kplay_known_hosts: home_dir().join(".kplay").join("known_hosts"),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Everything needed to connect to one host.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// The inventory name, for messages.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files named explicitly; when empty, `~/.ssh/id_{ed25519,ecdsa,rsa}` are tried.
    pub private_key_files: Vec<PathBuf>,
    pub password: Option<String>,
    pub key_passphrase: Option<String>,
    /// The ssh-agent socket: `-o IdentityAgent=` when given (`none` disables the agent),
    /// else `$SSH_AUTH_SOCK`.
    pub identity_agent: Option<PathBuf>,
    /// `UserKnownHostsFile`(s) to check the host key against (default `~/.ssh/known_hosts`).
    pub known_hosts: Vec<PathBuf>,
    /// kplay's own file: also checked, and where trust-on-first-use writes.
    pub kplay_known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    /// ProxyJump chain, outermost first.
    pub jump: Vec<SshTarget>,
    pub proxy_command: Option<String>,
    pub connect_timeout: Duration,
    pub keepalive: Option<Duration>,
    /// Extra connection attempts (with backoff) when connecting fails; never for auth failures.
    pub retries: u32,
    /// Serve file tasks with kplay's agent on the host (`kplay_agent`, default true).
    pub agent: bool,
}

/// Keepalive when nothing asks otherwise: often enough to notice a dead host within a couple
/// of minutes and to keep NAT state alive during long tasks.
const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);
/// Connection retries when `ansible_ssh_retries` is not set: none, as ansible-core's
/// `reconnection_retries` (an unreachable host costs one connect timeout, not three).
const DEFAULT_RETRIES: u32 = 0;

impl SshTarget {
    /// Resolve the target for `inventory_hostname` from its variables.
    pub fn from_vars(
        inventory_hostname: &str,
        vars: &Map,
        d: &SshDefaults,
    ) -> Result<SshTarget, String> {
        let mut cli = SshOptions::default();
        for key in [
            "ansible_ssh_args",
            "ansible_ssh_common_args",
            "ansible_ssh_extra_args",
        ] {
            if let Some(args) = var_str(vars, &[key]) {
                parse_args(&args, &mut cli).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        let name = var_str(vars, &["ansible_host", "ansible_ssh_host"])
            .unwrap_or_else(|| inventory_hostname.to_string());
        let config_text = match &cli.config_file {
            Some(f) if f != "none" && f != "/dev/null" => {
                let path = expand_tilde(f);
                Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read ssh config {}: {e}", path.display()))?,
                )
            }
            _ => None,
        };
        let mut opts = cli.clone();
        if let Some(text) = &config_text {
            opts.merge_lower(&config_for_host(text, &name));
        }

        let host = opts
            .get("hostname")
            .map(str::to_string)
            .unwrap_or_else(|| name.clone());
        let port = match var_str(vars, &["ansible_port", "ansible_ssh_port"])
            .or_else(|| opts.get("port").map(str::to_string))
        {
            Some(p) => parse_port(&p)?,
            None => 22,
        };
        let user = var_str(vars, &["ansible_user", "ansible_ssh_user"])
            .or_else(|| d.remote_user.clone())
            .or_else(|| opts.get("user").map(str::to_string))
            .unwrap_or_else(local_user);

        let mut keys: Vec<PathBuf> = Vec::new();
        if let Some(k) = var_str(
            vars,
            &["ansible_ssh_private_key_file", "ansible_private_key_file"],
        )
        .or_else(|| d.private_key_file.clone())
        {
            keys.push(expand_tilde(&k));
        }
        keys.extend(opts.identity_files.iter().map(|k| expand_tilde(k)));
        keys.dedup();

        let password = var_str(
            vars,
            &[
                "ansible_password",
                "ansible_ssh_pass",
                "ansible_ssh_password",
            ],
        )
        .or_else(|| d.password.clone());
        let key_passphrase = var_str(
            vars,
            &[
                "ansible_ssh_private_key_passphrase",
                "ansible_private_key_passphrase",
            ],
        );

        let identity_agent = match opts.get("identityagent") {
            Some(a) if a.eq_ignore_ascii_case("none") => None,
            Some("SSH_AUTH_SOCK") => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            Some(a) => {
                // `$NAME` reads the socket path from that environment variable.
                let path = match a.strip_prefix('$') {
                    Some(var) => std::env::var(var).unwrap_or_default(),
                    None => a.to_string(),
                };
                Some(path)
                    .filter(|p| !p.is_empty())
                    .map(|p| expand_tilde(&p))
            }
            None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        };
        let known_hosts: Vec<PathBuf> = match opts.get("userknownhostsfile") {
            Some(files) => files.split_whitespace().map(expand_tilde).collect(),
            None => vec![home_dir().join(".ssh").join("known_hosts")],
        };
        let host_key_policy = host_key_policy(vars, &opts, d)?;

        let connect_timeout = match var_str(vars, &["ansible_ssh_timeout", "ansible_timeout"])
            .or_else(|| opts.get("connecttimeout").map(str::to_string))
        {
            Some(t) => Duration::from_secs(parse_u64(&t, "connect timeout")?),
            None => d.timeout,
        };
        let keepalive = match opts.get("serveraliveinterval") {
            Some(v) => match parse_u64(v, "ServerAliveInterval")? {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
            None => Some(DEFAULT_KEEPALIVE),
        };
        let retries = match var_str(vars, &["ansible_ssh_retries"]) {
            Some(r) => parse_u64(&r, "ansible_ssh_retries")?.min(u64::from(u32::MAX)) as u32,
            None => DEFAULT_RETRIES,
        };
        let proxy_command = opts
            .get("proxycommand")
            .filter(|c| !c.eq_ignore_ascii_case("none"))
            .map(str::to_string);

        let agent = super::super::agent_wanted(vars)?;
        let mut target = SshTarget {
            name: inventory_hostname.to_string(),
            host,
            port,
            user,
            private_key_files: keys,
            password,
            key_passphrase,
            identity_agent,
            known_hosts,
            kplay_known_hosts: d.kplay_known_hosts.clone(),
            host_key_policy,
            jump: Vec::new(),
            proxy_command,
            connect_timeout,
            keepalive,
            retries,
            agent,
        };
        if let Some(spec) = opts
            .get("proxyjump")
            .filter(|j| !j.eq_ignore_ascii_case("none"))
        {
            target.jump = parse_jumps(spec, &target, config_text.as_deref())?;
        }
        Ok(target)
    }

    /// `user@host:port`, for messages.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// `-o StrictHostKeyChecking=` beats the per-host variable, which beats ansible.cfg; the
/// run's `--strict-host-keys` beats everything.
fn host_key_policy(
    vars: &Map,
    opts: &SshOptions,
    d: &SshDefaults,
) -> Result<HostKeyPolicy, String> {
    if d.strict_host_keys {
        return Ok(HostKeyPolicy::Strict);
    }
    if let Some(v) = opts.get("stricthostkeychecking") {
        return match v.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(HostKeyPolicy::Strict),
            "accept-new" | "ask" => Ok(HostKeyPolicy::AcceptNew),
            "no" | "off" | "false" => Ok(HostKeyPolicy::Off),
            other => Err(format!("StrictHostKeyChecking: unknown value {other:?}")),
        };
    }
    let checking = match vars
        .get("ansible_ssh_host_key_checking")
        .or_else(|| vars.get("ansible_host_key_checking"))
    {
        Some(v) => {
            as_bool(v).ok_or_else(|| format!("ansible_host_key_checking: not a boolean: {v}"))?
        }
        None => d.host_key_checking,
    };
    Ok(if checking {
        HostKeyPolicy::AcceptNew
    } else {
        HostKeyPolicy::Off
    })
}

/// `ProxyJump=[user@]host[:port][,...]` (also `ssh://user@host:port`). Each jump host takes its
/// own settings from the same ssh_config when it has a block there; otherwise it inherits the
/// target's user, keys and host-key settings.
fn parse_jumps(
    spec: &str,
    target: &SshTarget,
    config: Option<&str>,
) -> Result<Vec<SshTarget>, String> {
    let mut jumps = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let part = part.strip_prefix("ssh://").unwrap_or(part);
        let (user, hostport) = match part.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, part),
        };
        let (name, port) = split_host_port(hostport)?;
        let cfg = config
            .map(|c| config_for_host(c, &name))
            .unwrap_or_default();
        let port = match port.or_else(|| cfg.get("port").map(str::to_string)) {
            Some(p) => parse_port(&p)?,
            None => 22,
        };
        let mut keys: Vec<PathBuf> = cfg.identity_files.iter().map(|k| expand_tilde(k)).collect();
        if keys.is_empty() {
            keys.clone_from(&target.private_key_files);
        }
        jumps.push(SshTarget {
            name: name.clone(),
            host: cfg.get("hostname").map(str::to_string).unwrap_or(name),
            port,
            user: user
                .or_else(|| cfg.get("user").map(str::to_string))
                .unwrap_or_else(|| target.user.clone()),
            private_key_files: keys,
            password: None,
            key_passphrase: target.key_passphrase.clone(),
            identity_agent: target.identity_agent.clone(),
            known_hosts: target.known_hosts.clone(),
            kplay_known_hosts: target.kplay_known_hosts.clone(),
            host_key_policy: target.host_key_policy,
            jump: Vec::new(),
            proxy_command: None,
            connect_timeout: target.connect_timeout,
            keepalive: target.keepalive,
            retries: 0,
            agent: false,
        });
    }
    Ok(jumps)
}

/// `host`, `host:port`, `[v6addr]:port` or a bare IPv6 address.
fn split_host_port(s: &str) -> Result<(String, Option<String>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad jump host {s:?}"))?;
        let port = after.strip_prefix(':').map(str::to_string);
        return Ok((h.to_string(), port));
    }
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => Ok((h.to_string(), Some(p.to_string()))),
        _ => Ok((s.to_string(), None)),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid SSH port {s:?}"))
}

fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("invalid {what} {s:?}"))
}

/// A variable as text: strings as they are, numbers and booleans printed.
fn var_str(vars: &Map, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match vars.get(*n)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// Ansible's boolean coercion (`yes/no/on/off/true/false/1/0`).
pub(crate) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "true" | "1" | "y" | "t" => Some(true),
            "no" | "off" | "false" | "0" | "n" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

pub(crate) fn expand_tilde(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home_dir().join(rest),
        None if p == "~" => home_dir(),
        None => Path::new(p).to_path_buf(),
    }
}

/// The controller's user name, which ssh uses when nothing names a remote user.
fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn defaults() -> SshDefaults {
        SshDefaults {
            kplay_known_hosts: PathBuf::from("/k/known_hosts"),
            ..SshDefaults::default()
        }
    }

    fn target(v: Value) -> SshTarget {
        SshTarget::from_vars("node1", &vars(v), &defaults()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn inventory_name_is_the_host_without_ansible_host() {
        let t = target(json!({}));
        assert_eq!((t.host.as_str(), t.port), ("node1", 22));
    }

    #[test]
    fn connection_variables_are_used() {
        let t = target(
            json!({"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "deploy", "ansible_ssh_private_key_file": "/k/id"}),
        );
        assert_eq!(t.label(), "deploy@10.0.0.5:2222");
        assert_eq!(t.private_key_files, vec![PathBuf::from("/k/id")]);
    }

    #[test]
    fn variables_beat_dash_o_options() {
        let t = target(
            json!({"ansible_port": "2200", "ansible_ssh_common_args": "-o Port=3300 -o User=x"}),
        );
        assert_eq!(t.port, 2200);
        assert_eq!(t.user, "x");
    }

    #[test]
    fn remote_user_default_beats_dash_o_user() {
        let d = SshDefaults {
            remote_user: Some("cliuser".into()),
            ..defaults()
        };
        let t = SshTarget::from_vars(
            "n",
            &vars(json!({"ansible_ssh_extra_args": "-o User=x"})),
            &d,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.user, "cliuser");
    }

    #[test]
    fn proxy_jump_chain_is_parsed() {
        let t = target(
            json!({"ansible_user": "u", "ansible_ssh_common_args": "-o ProxyJump=admin@bastion:2201,hop2"}),
        );
        assert_eq!(t.jump.len(), 2);
        assert_eq!(t.jump[0].label(), "admin@bastion:2201");
        assert_eq!(t.jump[1].label(), "u@hop2:22");
    }

    #[test]
    fn strict_host_key_checking_option_sets_policy() {
        assert_eq!(
            target(json!({"ansible_ssh_common_args": "-o StrictHostKeyChecking=yes"}))
                .host_key_policy,
            HostKeyPolicy::Strict
        );
        assert_eq!(
            target(json!({"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"}))
                .host_key_policy,
            HostKeyPolicy::Off
        );
        assert_eq!(target(json!({})).host_key_policy, HostKeyPolicy::AcceptNew);
    }

    #[test]
    fn host_key_checking_variable_turns_checks_off() {
        assert_eq!(
            target(json!({"ansible_host_key_checking": "no"})).host_key_policy,
            HostKeyPolicy::Off
        );
    }

    #[test]
    fn strict_flag_beats_everything() {
        let d = SshDefaults {
            strict_host_keys: true,
            ..defaults()
        };
        let t = SshTarget::from_vars(
            "n",
            &vars(json!({"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"})),
            &d,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.host_key_policy, HostKeyPolicy::Strict);
    }

    #[test]
    fn user_known_hosts_file_may_name_several_files() {
        let t = target(json!({"ansible_ssh_common_args": "-o 'UserKnownHostsFile=/a /b'"}));
        assert_eq!(
            t.known_hosts,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }

    #[test]
    fn ssh_config_file_fills_unset_values() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cfg = dir.path().join("cfg");
        std::fs::write(
            &cfg,
            "Host node1\n  HostName 10.1.1.1\n  User cfguser\n  Port 2022\n  ProxyJump bastion\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = target(json!({"ansible_ssh_common_args": format!("-F {}", cfg.display())}));
        assert_eq!(t.label(), "cfguser@10.1.1.1:2022");
        assert_eq!(t.jump.len(), 1);
    }

    #[test]
    fn proxy_command_is_kept() {
        let t = target(json!({"ansible_ssh_common_args": "-o ProxyCommand='nc %h %p'"}));
        assert_eq!(t.proxy_command.as_deref(), Some("nc %h %p"));
    }

    #[test]
    fn timeouts_and_keepalive() {
        let t = target(
            json!({"ansible_ssh_common_args": "-o ConnectTimeout=3 -o ServerAliveInterval=0"}),
        );
        assert_eq!(t.connect_timeout, Duration::from_secs(3));
        assert_eq!(t.keepalive, None);
    }

    #[test]
    fn identity_agent_option_names_the_socket() {
        let t = target(json!({"ansible_ssh_common_args": "-o IdentityAgent=/run/agent.sock"}));
        assert_eq!(t.identity_agent, Some(PathBuf::from("/run/agent.sock")));
        assert_eq!(
            target(json!({"ansible_ssh_common_args": "-o IdentityAgent=none"})).identity_agent,
            None
        );
    }

    #[test]
    fn bad_port_is_an_error() {
        assert!(
            SshTarget::from_vars("n", &vars(json!({"ansible_port": "http"})), &defaults()).is_err()
        );
    }
}
