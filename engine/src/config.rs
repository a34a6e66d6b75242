//! ansible.cfg: the settings kplay honours, read like ansible-core reads them.
//!
//! The file is the first that exists of `$ANSIBLE_CONFIG` (a file, or a directory holding
//! `ansible.cfg`), `./ansible.cfg` (skipped with a warning when the directory is world-writable,
//! since anyone could plant one there), `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`. Environment
//! variables override the file. Relative paths in the file are relative to the file's directory.
//! The INI dialect is Python configparser's as Ansible configures it: `key = value` or
//! `key: value`, full-line `#`/`;` comments, inline comments after ` ;`, indented continuation
//! lines, no interpolation, and duplicate keys in a section are an error.

use crate::error::LoadError;
use crate::span::Span;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// Inventory sources (`[defaults] inventory`, `ANSIBLE_INVENTORY`), comma-separated.
    pub inventory: Vec<String>,
    pub forks: Option<usize>,
    /// Role search path (`[defaults] roles_path`, `ANSIBLE_ROLES_PATH`), colon-separated.
    pub roles_path: Vec<PathBuf>,
    pub host_key_checking: Option<bool>,
    pub remote_user: Option<String>,
    pub private_key_file: Option<String>,
    /// Connection timeout in seconds.
    pub timeout: Option<u64>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    /// `implicit`, `explicit` or `smart`.
    pub gathering: Option<String>,
    /// `fact_caching` (`ANSIBLE_CACHE_PLUGIN`): `memory` (ansible-core's default) or `jsonfile`.
    pub fact_caching: Option<String>,
    /// `fact_caching_connection`: the jsonfile cache's directory.
    pub fact_caching_connection: Option<String>,
    /// `fact_caching_prefix`: put before each host's file name.
    pub fact_caching_prefix: Option<String>,
    /// `fact_caching_timeout` in seconds (0: cached facts never expire; default 86400).
    pub fact_caching_timeout: Option<u64>,
    /// The strategy of plays that set none (`[defaults] strategy`, `ANSIBLE_STRATEGY`):
    /// `linear` or `free`.
    pub strategy: Option<String>,
    /// Results printed as YAML (`stdout_callback = yaml`, `callback_result_format = yaml`).
    pub yaml_results: bool,
    /// `show_custom_stats` (`ANSIBLE_SHOW_CUSTOM_STATS`): print `set_stats` data after the
    /// recap.
    pub show_custom_stats: bool,
    /// Callbacks enabled besides the stdout one (`callbacks_enabled`): kplay has `timer`.
    pub callbacks: Vec<String>,
    /// The default vault password file or script (`[defaults] vault_password_file`,
    /// `ANSIBLE_VAULT_PASSWORD_FILE`).
    pub vault_password_file: Option<String>,
    /// Vault identities always loaded (`vault_identity_list`, `ANSIBLE_VAULT_IDENTITY_LIST`):
    /// `label@source` each.
    pub vault_identity_list: Vec<String>,
    /// The vault ID new encryptions use (`vault_encrypt_identity`).
    pub vault_encrypt_identity: Option<String>,
    /// `inventory_ignore_extensions` (replacing ansible-core's default list when set).
    pub inventory_ignore_extensions: Option<Vec<String>>,
    /// `inventory_ignore_patterns`: regular expressions of inventory directory entries to skip.
    pub inventory_ignore_patterns: Vec<String>,
    /// Messages for the user (unknown keys, ignored files), each naming file:line.
    pub warnings: Vec<String>,
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
}

/// One `key = value` with where it was written.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

impl Config {
    /// The inventory directory rules these settings give.
    pub fn inventory_ignore(&self) -> Result<crate::inventory::IgnoreRules, String> {
        match &self.inventory_ignore_extensions {
            None if self.inventory_ignore_patterns.is_empty() => {
                Ok(crate::inventory::IgnoreRules::default())
            }
            exts => {
                let default: Vec<String> = crate::inventory::DEFAULT_IGNORE_EXTENSIONS
                    .map(String::from)
                    .to_vec();
                crate::inventory::IgnoreRules::new(
                    exts.as_ref().unwrap_or(&default),
                    &self.inventory_ignore_patterns,
                )
            }
        }
    }

    /// Find and read the configuration the way ansible-core does, with the process environment.
    pub fn load() -> Result<Config, LoadError> {
        let env = |k: &str| std::env::var(k).ok();
        let cwd = std::env::current_dir().ok();
        let (path, mut warnings) =
            find_config_file(&env, cwd.as_deref(), Path::new("/etc/ansible/ansible.cfg"));
        let mut cfg = Config::load_from(path.as_deref(), &env)?;
        warnings.append(&mut cfg.warnings);
        cfg.warnings = warnings;
        crate::template::lookup_config::set_settings(&cfg);
        Ok(cfg)
    }

    /// Read settings from `path` (None: no file) and then the environment given by `env`.
    pub fn load_from(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, LoadError> {
        let mut cfg = Config::default();
        if let Some(path) = path {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| LoadError::in_file(path, format!("cannot read config file: {e}")))?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            for entry in parse_ini(&text, &shown)? {
                cfg.apply_file_entry(&entry, &shown, &base, env)?;
            }
            cfg.source = Some(path.to_path_buf());
        }
        cfg.apply_env(env)?;
        Ok(cfg)
    }

    fn apply_file_entry(
        &mut self,
        e: &Entry,
        file: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), LoadError> {
        let span = Span::new(file, e.line, 0);
        let v = e.value.as_str();
        match (e.section.as_str(), e.key.as_str()) {
            ("defaults", "inventory") => {
                self.inventory = split_list(v, ',').map(|p| resolve(p, base, env)).collect()
            }
            ("defaults", "forks") => self.forks = Some(parse_num(v, &span, &e.key)?),
            ("defaults", "roles_path") => {
                self.roles_path = split_list(v, ':')
                    .map(|p| PathBuf::from(resolve(p, base, env)))
                    .collect()
            }
            ("defaults", "host_key_checking") => {
                self.host_key_checking = Some(parse_bool(v, &span, &e.key)?)
            }
            ("defaults", "remote_user") => self.remote_user = Some(v.to_string()),
            ("defaults", "private_key_file") => self.private_key_file = Some(resolve(v, base, env)),
            ("defaults", "timeout") => self.timeout = Some(parse_num(v, &span, &e.key)?),
            ("defaults", "gathering") => self.gathering = Some(parse_gathering(v, &span)?),
            ("defaults", "fact_caching") => self.fact_caching = Some(v.trim().to_string()),
            ("defaults", "fact_caching_connection") => {
                self.fact_caching_connection = Some(resolve(v, base, env))
            }
            ("defaults", "fact_caching_prefix") => {
                self.fact_caching_prefix = Some(v.trim().to_string())
            }
            ("defaults", "fact_caching_timeout") => {
                self.fact_caching_timeout = Some(parse_num(v, &span, &e.key)?)
            }
            ("defaults", "strategy") => self.strategy = Some(parse_strategy(v, &span)?),
            ("defaults", "stdout_callback") => {
                self.yaml_results |= parse_stdout_callback(v, &span)?
            }
            ("defaults", "callback_result_format") => {
                self.yaml_results = parse_result_format(v, &span)?
            }
            ("defaults", "show_custom_stats") => {
                self.show_custom_stats = parse_bool(v, &span, &e.key)?
            }
            ("defaults", "callbacks_enabled" | "callback_whitelist") => {
                self.set_callbacks(v, &span)
            }
            ("defaults", "inventory_ignore_extensions") | ("inventory", "ignore_extensions") => {
                self.inventory_ignore_extensions =
                    Some(split_list(v, ',').map(str::to_string).collect())
            }
            ("defaults", "inventory_ignore_patterns") | ("inventory", "ignore_patterns") => {
                self.inventory_ignore_patterns = split_list(v, ',').map(str::to_string).collect()
            }
            ("defaults", "vault_password_file") => {
                self.vault_password_file = Some(resolve(v, base, env))
            }
            ("defaults", "vault_identity_list") => {
                self.vault_identity_list = split_list(v, ',').map(str::to_string).collect()
            }
            ("defaults", "vault_encrypt_identity") => {
                self.vault_encrypt_identity = Some(v.to_string())
            }
            ("defaults", k) if DEFAULTS_IGNORED.contains(&k) => {}
            ("privilege_escalation", "become") => {
                self.become_ = Some(parse_bool(v, &span, &e.key)?)
            }
            ("privilege_escalation", "become_user") => self.become_user = Some(v.to_string()),
            ("privilege_escalation", "become_method") => self.become_method = Some(v.to_string()),
            ("privilege_escalation", "become_ask_pass" | "become_flags") => {}
            (s, k) if crate::config_keys::is_known(s, k) => {}
            (s, _) if crate::config_keys::is_plugin_section(s) => {}
            (s, k) => self.warnings.push(format!(
                "{span}: unknown configuration key '{k}' in section [{s}], ignored"
            )),
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), LoadError> {
        let span = |k: &str| Span::file_only(format!("${k}"));
        if let Some(v) = env("ANSIBLE_INVENTORY") {
            self.inventory = split_list(&v, ',').map(|p| expand_home(p, env)).collect();
        }
        if let Some(v) = env("ANSIBLE_FORKS") {
            self.forks = Some(parse_num(&v, &span("ANSIBLE_FORKS"), "forks")?);
        }
        if let Some(v) = env("ANSIBLE_ROLES_PATH") {
            self.roles_path = split_list(&v, ':')
                .map(|p| PathBuf::from(expand_home(p, env)))
                .collect();
        }
        if let Some(v) = env("ANSIBLE_HOST_KEY_CHECKING") {
            self.host_key_checking = Some(parse_bool(
                &v,
                &span("ANSIBLE_HOST_KEY_CHECKING"),
                "host_key_checking",
            )?);
        }
        if let Some(v) = env("ANSIBLE_REMOTE_USER") {
            self.remote_user = Some(v);
        }
        if let Some(v) = env("ANSIBLE_PRIVATE_KEY_FILE") {
            self.private_key_file = Some(expand_home(&v, env));
        }
        if let Some(v) = env("ANSIBLE_TIMEOUT") {
            self.timeout = Some(parse_num(&v, &span("ANSIBLE_TIMEOUT"), "timeout")?);
        }
        if let Some(v) = env("ANSIBLE_BECOME") {
            self.become_ = Some(parse_bool(&v, &span("ANSIBLE_BECOME"), "become")?);
        }
        if let Some(v) = env("ANSIBLE_BECOME_USER") {
            self.become_user = Some(v);
        }
        if let Some(v) = env("ANSIBLE_BECOME_METHOD") {
            self.become_method = Some(v);
        }
        if let Some(v) = env("ANSIBLE_GATHERING") {
            self.gathering = Some(parse_gathering(&v, &span("ANSIBLE_GATHERING"))?);
        }
        if let Some(v) = env("ANSIBLE_CACHE_PLUGIN") {
            self.fact_caching = Some(v.trim().to_string());
        }
        if let Some(v) = env("ANSIBLE_CACHE_PLUGIN_CONNECTION") {
            self.fact_caching_connection = Some(expand_home(&v, env));
        }
        if let Some(v) = env("ANSIBLE_CACHE_PLUGIN_PREFIX") {
            self.fact_caching_prefix = Some(v);
        }
        if let Some(v) = env("ANSIBLE_CACHE_PLUGIN_TIMEOUT") {
            self.fact_caching_timeout = Some(parse_num(
                &v,
                &span("ANSIBLE_CACHE_PLUGIN_TIMEOUT"),
                "fact_caching_timeout",
            )?);
        }
        if let Some(v) = env("ANSIBLE_STRATEGY") {
            self.strategy = Some(parse_strategy(&v, &span("ANSIBLE_STRATEGY"))?);
        }
        if let Some(v) = env("ANSIBLE_STDOUT_CALLBACK") {
            self.yaml_results = parse_stdout_callback(&v, &span("ANSIBLE_STDOUT_CALLBACK"))?;
        }
        if let Some(v) = env("ANSIBLE_CALLBACK_RESULT_FORMAT") {
            self.yaml_results = parse_result_format(&v, &span("ANSIBLE_CALLBACK_RESULT_FORMAT"))?;
        }
        if let Some(v) = env("ANSIBLE_SHOW_CUSTOM_STATS") {
            self.show_custom_stats =
                parse_bool(&v, &span("ANSIBLE_SHOW_CUSTOM_STATS"), "show_custom_stats")?;
        }
        if let Some(v) = env("ANSIBLE_INVENTORY_IGNORE") {
            self.inventory_ignore_extensions =
                Some(split_list(&v, ',').map(str::to_string).collect());
        }
        if let Some(v) = env("ANSIBLE_INVENTORY_IGNORE_REGEX") {
            self.inventory_ignore_patterns = split_list(&v, ',').map(str::to_string).collect();
        }
        if let Some(v) = env("ANSIBLE_VAULT_PASSWORD_FILE") {
            self.vault_password_file = Some(expand_home(&v, env));
        }
        if let Some(v) = env("ANSIBLE_VAULT_IDENTITY_LIST") {
            self.vault_identity_list = split_list(&v, ',').map(str::to_string).collect();
        }
        if let Some(v) = env("ANSIBLE_VAULT_ENCRYPT_IDENTITY") {
            self.vault_encrypt_identity = Some(v);
        }
        for k in ["ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CALLBACK_WHITELIST"] {
            if let Some(v) = env(k) {
                self.set_callbacks(&v, &span(k));
            }
        }
        Ok(())
    }
}

/// `[defaults]` keys of Ansible that do not change what kplay does, accepted without a warning.
const DEFAULTS_IGNORED: [&str; 12] = [
    "retry_files_enabled",
    "retry_files_save_path",
    "nocows",
    "cow_selection",
    "deprecation_warnings",
    "interpreter_python",
    "localhost_warning",
    "system_warnings",
    "command_warnings",
    "ansible_managed",
    "bin_ansible_callbacks",
    "collections_path",
];

/// The first config file that exists, and warnings about candidates that were skipped.
pub fn find_config_file(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: Option<&Path>,
    system: &Path,
) -> (Option<PathBuf>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = env("ANSIBLE_CONFIG") {
        let p = PathBuf::from(expand_home(&p, env));
        candidates.push(if p.is_dir() { p.join("ansible.cfg") } else { p });
    }
    if let Some(cwd) = cwd {
        let local = cwd.join("ansible.cfg");
        if local.is_file() && is_world_writable(cwd) {
            warnings.push(format!("Ansible is being run in a world writable directory ({}), ignoring it as an ansible.cfg source.", cwd.display()));
        } else {
            candidates.push(local);
        }
    }
    if let Some(home) = env("HOME") {
        candidates.push(Path::new(&home).join(".ansible.cfg"));
    }
    candidates.push(system.to_path_buf());
    (candidates.into_iter().find(|p| p.is_file()), warnings)
}

#[cfg(unix)]
fn is_world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir)
        .map(|m| m.permissions().mode() & 0o002 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_world_writable(_dir: &Path) -> bool {
    false
}

/// configparser-style sections and keys, keys lowercased, values trimmed.
fn parse_ini(text: &str, file: &str) -> Result<Vec<Entry>, LoadError> {
    let mut out: Vec<Entry> = Vec::new();
    let mut section: Option<String> = None;
    // Index in `out` of the entry a continuation line extends.
    let mut open: Option<usize> = None;
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let span = Span::new(file, lineno, 0);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let value_part = strip_inline_comment(trimmed);
        if raw.starts_with([' ', '\t']) {
            if let Some(i) = open {
                let e = &mut out[i];
                if e.value.is_empty() {
                    e.value = value_part.to_string();
                } else {
                    e.value.push('\n');
                    e.value.push_str(value_part);
                }
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest
                .strip_suffix(']')
                .or_else(|| rest.split_once(']').map(|(n, _)| n))
            else {
                return Err(LoadError::at(
                    &span,
                    format!("section header without ']': {trimmed}"),
                ));
            };
            section = Some(name.trim().to_string());
            open = None;
            continue;
        }
        let Some(sec) = section.clone() else {
            return Err(LoadError::at(
                &span,
                format!("key outside of any [section]: {trimmed}"),
            ));
        };
        let Some(pos) = value_part.find(['=', ':']) else {
            return Err(LoadError::at(
                &span,
                format!("expected 'key = value', got: {trimmed}"),
            ));
        };
        let key = value_part[..pos].trim().to_ascii_lowercase();
        let value = value_part[pos + 1..].trim().to_string();
        if key.is_empty() {
            return Err(LoadError::at(&span, format!("empty key in: {trimmed}")));
        }
        if let Some(prev) = out.iter().find(|e| e.section == sec && e.key == key) {
            return Err(LoadError::at(
                &span,
                format!(
                    "key '{key}' in section [{sec}] already set at line {}",
                    prev.line
                ),
            ));
        }
        out.push(Entry {
            section: sec,
            key,
            value,
            line: lineno,
        });
        open = Some(out.len() - 1);
    }
    Ok(out)
}

/// configparser with `inline_comment_prefixes=(';',)`: a `;` after whitespace starts a comment.
fn strip_inline_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b';' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return s[..i].trim_end();
        }
    }
    s
}

fn split_list(v: &str, sep: char) -> impl Iterator<Item = &str> {
    v.split(sep).map(str::trim).filter(|s| !s.is_empty())
}

fn expand_home(p: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    match (p.strip_prefix("~/"), env("HOME")) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ if p == "~" => env("HOME").unwrap_or_else(|| p.to_string()),
        _ => p.to_string(),
    }
}

/// `~` expanded, then relative paths made relative to the config file's directory.
fn resolve(p: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> String {
    let expanded = expand_home(p, env);
    let path = Path::new(&expanded);
    if path.is_absolute() || base.as_os_str().is_empty() {
        expanded
    } else {
        base.join(path).display().to_string()
    }
}

fn parse_num<T: std::str::FromStr>(v: &str, span: &Span, key: &str) -> Result<T, LoadError> {
    v.trim().parse().map_err(|_| {
        LoadError::at(
            span,
            format!("invalid value for {key}: '{v}' is not a non-negative integer"),
        )
    })
}

/// Ansible's booleans: yes/no, on/off, true/false, y/n, t/f, 1/0, any case.
fn parse_bool(v: &str, span: &Span, key: &str) -> Result<bool, LoadError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "y" | "t" | "1" => Ok(true),
        "no" | "off" | "false" | "n" | "f" | "0" => Ok(false),
        _ => Err(LoadError::at(
            span,
            format!("invalid value for {key}: '{v}' is not a boolean"),
        )),
    }
}

/// `linear` (every host finishes a task before any starts the next) or `free` (hosts advance
/// on their own, with barriers only where the plan needs them: kplay's default).
pub fn parse_strategy(v: &str, span: &Span) -> Result<String, LoadError> {
    let s = v.trim();
    let short = s
        .strip_prefix("ansible.builtin.")
        .or_else(|| s.strip_prefix("ansible.legacy."))
        .unwrap_or(s);
    match short {
        "linear" | "free" => Ok(short.to_string()),
        _ => Err(LoadError::at(
            span,
            format!("strategy '{s}' is not supported by kplay (linear, free)"),
        )),
    }
}

/// Whether a stdout callback prints results as YAML; callbacks kplay has no equivalent for are
/// refused (they would change what users see without a word).
fn parse_stdout_callback(v: &str, span: &Span) -> Result<bool, LoadError> {
    match v.trim() {
        "default" | "ansible.builtin.default" => Ok(false),
        "yaml" | "community.general.yaml" => Ok(true),
        "json" | "ansible.posix.json" | "jsonl" | "ansible.posix.jsonl" => Err(LoadError::at(
            span,
            format!("stdout callback '{}' is not supported: use `--output json` (one JSON event per line)", v.trim()),
        )),
        other => Err(LoadError::at(
            span,
            format!("stdout callback '{other}' is not supported by kplay (default, yaml); set ANSIBLE_STDOUT_CALLBACK=default to run anyway"),
        )),
    }
}

fn parse_result_format(v: &str, span: &Span) -> Result<bool, LoadError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "json" => Ok(false),
        "yaml" => Ok(true),
        _ => Err(LoadError::at(
            span,
            format!("invalid value for callback_result_format: '{v}' (expected json or yaml)"),
        )),
    }
}

/// Callbacks Ansible users enable that kplay knows: `timer` is honoured; the others are
/// accepted so an existing ansible.cfg loads unchanged (their output is Ansible's extra detail,
/// not behaviour).
const KNOWN_CALLBACKS: [&str; 12] = [
    "timer",
    "profile_tasks",
    "profile_roles",
    "junit",
    "log_plays",
    "tree",
    "minimal",
    "oneline",
    "default",
    "cgroup_perf_recap",
    "mail",
    "syslog_json",
];

impl Config {
    /// `callbacks_enabled`: the short names (collection prefixes dropped); a name kplay does
    /// not know is skipped with a warning, as ansible-core skips a plugin it cannot load.
    fn set_callbacks(&mut self, v: &str, span: &Span) {
        self.callbacks.clear();
        for c in split_list(v, ',') {
            let short = c.rsplit('.').next().unwrap_or(c);
            if KNOWN_CALLBACKS.contains(&short) {
                self.callbacks.push(short.to_string());
            } else {
                self.warnings.push(format!(
                    "{span}: Skipping callback plugin '{c}', unable to load"
                ));
            }
        }
    }
}

fn parse_gathering(v: &str, span: &Span) -> Result<String, LoadError> {
    let g = v.trim().to_ascii_lowercase();
    match g.as_str() {
        "implicit" | "explicit" | "smart" => Ok(g),
        _ => Err(LoadError::at(
            span,
            format!("invalid value for gathering: '{v}' (expected implicit, explicit or smart)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn load_text(text: &str) -> (tempfile::TempDir, Result<Config, LoadError>) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "ansible.cfg", text);
        let r = Config::load_from(Some(&p), &no_env);
        (dir, r)
    }

    #[test]
    fn defaults_keys_are_read() {
        let (dir, cfg) = load_text(
            "[defaults]\ninventory = hosts, /abs/inv\nforks=20\nroles_path = roles:/shared/roles\nhost_key_checking = False\nremote_user = deploy\nprivate_key_file = keys/id\ntimeout: 30\ngathering = Explicit\n",
        );
        let cfg = cfg.unwrap();
        let d = dir.path();
        assert_eq!(
            cfg.inventory,
            [
                d.join("hosts").display().to_string(),
                "/abs/inv".to_string()
            ]
        );
        assert_eq!(cfg.forks, Some(20));
        assert_eq!(
            cfg.roles_path,
            [d.join("roles"), PathBuf::from("/shared/roles")]
        );
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.remote_user.as_deref(), Some("deploy"));
        assert_eq!(
            cfg.private_key_file,
            Some(d.join("keys/id").display().to_string())
        );
        assert_eq!(cfg.timeout, Some(30));
        assert_eq!(cfg.gathering.as_deref(), Some("explicit"));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        assert_eq!(cfg.source, Some(d.join("ansible.cfg")));
    }

    #[test]
    fn privilege_escalation_keys_are_read() {
        let (_d, cfg) = load_text(
            "[privilege_escalation]\nbecome = yes\nbecome_user = admin\nbecome_method = su\n",
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.become_, Some(true));
        assert_eq!(cfg.become_user.as_deref(), Some("admin"));
        assert_eq!(cfg.become_method.as_deref(), Some("su"));
    }

    #[test]
    fn ssh_connection_section_is_accepted_silently() {
        let (_d, cfg) = load_text("[ssh_connection]\nssh_args = -o ControlMaster=auto\npipelining = True\ncontrol_path = %(directory)s/%%h\n");
        assert!(cfg.unwrap().warnings.is_empty());
    }

    #[test]
    fn unknown_key_warns_with_file_line_and_key() {
        let (dir, cfg) = load_text("[defaults]\nforks = 5\nfrobnicate = 1\n");
        let w = &cfg.unwrap().warnings;
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0],
            format!(
                "{}:3: unknown configuration key 'frobnicate' in section [defaults], ignored",
                dir.path().join("ansible.cfg").display()
            )
        );
    }

    /// kubespray's ansible.cfg (at the corpus snapshot) loads without a single warning: every
    /// key is one ansible-core knows.
    #[test]
    fn keys_ansible_core_knows_are_accepted_silently() {
        let (_d, cfg) = load_text(
            "[ssh_connection]\npipelining=True\nssh_args = -o ControlMaster=auto -o ControlPersist=30m\n#control_path = ~/.ssh/ansible-%%r@%%h:%%p\n[defaults]\nforce_valid_group_names = ignore\nhost_key_checking=False\ngathering = smart\nfact_caching = jsonfile\nfact_caching_connection = /tmp\nfact_caching_timeout = 86400\ntimeout = 300\nstdout_callback = default\ndisplay_skipped_hosts = no\nlibrary = ./library\ncallbacks_enabled = profile_tasks\ndeprecation_warnings=False\ninventory_ignore_extensions = ~, .orig, .bak, .ini, .cfg, .retry, .pyc, .pyo, .creds, .gpg\n[inventory]\nignore_patterns = artifacts, credentials\n[callback_profile_tasks]\ntask_output_limit = 20\n[colors]\nchanged = yellow\n",
        );
        let cfg = cfg.unwrap();
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        assert_eq!(cfg.callbacks, ["profile_tasks"]);
    }

    /// Only keys ansible-core itself does not know are reported (a typo in a section kplay
    /// does not use is still a typo), and a callback nobody has is skipped with a warning.
    #[test]
    fn keys_ansible_core_does_not_know_warn() {
        let (_d, cfg) = load_text(
            "[ssh_connection]\npipelinig = True\n[defaults]\ncallbacks_enabled = timer, no_such_cb\n",
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);
        assert!(
            cfg.warnings[0]
                .contains(":2: unknown configuration key 'pipelinig' in section [ssh_connection]"),
            "{:?}",
            cfg.warnings
        );
        assert!(
            cfg.warnings[1].contains("Skipping callback plugin 'no_such_cb'"),
            "{:?}",
            cfg.warnings
        );
        assert_eq!(cfg.callbacks, ["timer"]);
    }

    /// kubespray ignores `.ini` files and `artifacts` in inventory directories; ansible-core
    /// 2.18's default list skips `.ini` too, but not `.yml`.
    #[test]
    fn inventory_ignore_settings_are_honoured() {
        let (dir, cfg) = load_text(
            "[defaults]\ninventory_ignore_extensions = ~, .orig, .ini\n[inventory]\nignore_patterns = artifacts, ^cred\n",
        );
        let rules = cfg.unwrap().inventory_ignore().unwrap();
        for (name, ignored) in [
            ("hosts.ini", true),
            ("hosts.yml", false),
            ("artifacts", true),
            ("credentials", true),
            ("my-credentials", false),
            (".hidden", true),
            ("group_vars", true),
            ("notes.md", false),
        ] {
            assert_eq!(rules.ignores(name), ignored, "{name}");
        }
        let default = Config::default().inventory_ignore().unwrap();
        assert!(default.ignores("notes.md") && default.ignores("hosts.ini"));
        assert!(!default.ignores("hosts.yml") && !default.ignores("hosts"));
        // Setting the key replaces the default list (hosts.ini read again).
        let (_d, only_md) = load_text("[defaults]\ninventory_ignore_extensions = .md\n");
        let only_md = only_md.unwrap().inventory_ignore().unwrap();
        assert!(only_md.ignores("notes.md") && !only_md.ignores("hosts.ini"));
        // The directory loader uses them.
        let inv_dir = dir.path().join("inventory");
        std::fs::create_dir(&inv_dir).unwrap();
        std::fs::write(inv_dir.join("hosts.ini"), "[g]\nini-host\n").unwrap();
        std::fs::write(inv_dir.join("hosts.yml"), "all:\n  hosts:\n    yml-host:\n").unwrap();
        let inv = crate::inventory::Inventory::load_with(&[inv_dir.display().to_string()], rules)
            .unwrap();
        assert!(inv.host("yml-host").is_some());
        assert!(inv.host("ini-host").is_none());
    }

    #[test]
    fn vault_settings_are_read() {
        let (dir, cfg) = load_text(
            "[defaults]\nvault_password_file = pw.txt\nvault_identity_list = dev@a, prod@prompt\n",
        );
        let cfg = cfg.unwrap();
        assert_eq!(
            cfg.vault_password_file,
            Some(dir.path().join("pw.txt").display().to_string())
        );
        assert_eq!(cfg.vault_identity_list, ["dev@a", "prod@prompt"]);
        let env = |k: &str| (k == "ANSIBLE_VAULT_PASSWORD_FILE").then(|| "/x/pw".to_string());
        let cfg = Config::load_from(None, &env).unwrap();
        assert_eq!(cfg.vault_password_file.as_deref(), Some("/x/pw"));
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "ansible.cfg",
            "[defaults]\nforks = 5\nremote_user = a\n[privilege_escalation]\nbecome = no\n",
        );
        let env: HashMap<&str, &str> = [
            ("ANSIBLE_FORKS", "9"),
            ("ANSIBLE_REMOTE_USER", "b"),
            ("ANSIBLE_BECOME", "true"),
            ("ANSIBLE_INVENTORY", "x,y"),
            ("ANSIBLE_ROLES_PATH", "r1:r2"),
            ("ANSIBLE_HOST_KEY_CHECKING", "0"),
            ("ANSIBLE_PRIVATE_KEY_FILE", "~/k"),
            ("ANSIBLE_TIMEOUT", "7"),
            ("ANSIBLE_BECOME_USER", "root"),
            ("ANSIBLE_GATHERING", "smart"),
            ("HOME", "/home/u"),
        ]
        .into_iter()
        .collect();
        let cfg = Config::load_from(Some(&p), &|k| env.get(k).map(|s| s.to_string())).unwrap();
        assert_eq!(cfg.forks, Some(9));
        assert_eq!(cfg.remote_user.as_deref(), Some("b"));
        assert_eq!(cfg.become_, Some(true));
        assert_eq!(cfg.inventory, ["x", "y"]);
        assert_eq!(cfg.roles_path, [PathBuf::from("r1"), PathBuf::from("r2")]);
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.private_key_file.as_deref(), Some("/home/u/k"));
        assert_eq!(cfg.timeout, Some(7));
        assert_eq!(cfg.become_user.as_deref(), Some("root"));
        assert_eq!(cfg.gathering.as_deref(), Some("smart"));
    }

    #[test]
    fn strategy_and_callbacks_are_read() {
        let (_d, cfg) = load_text(
            "[defaults]\nstrategy = linear\nstdout_callback = yaml\ncallbacks_enabled = ansible.posix.timer\n",
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.strategy.as_deref(), Some("linear"));
        assert!(cfg.yaml_results);
        assert_eq!(cfg.callbacks, ["timer"]);
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let env = |k: &str| (k == "ANSIBLE_STRATEGY").then(|| "free".to_string());
        assert_eq!(
            Config::load_from(None, &env).unwrap().strategy.as_deref(),
            Some("free")
        );
    }

    #[test]
    fn unsupported_strategy_and_callbacks_are_refused_naming_the_line() {
        for (text, what) in [
            (
                "[defaults]\nstrategy = host_pinned\n",
                "strategy 'host_pinned'",
            ),
            (
                "[defaults]\nstdout_callback = dense\n",
                "stdout callback 'dense'",
            ),
        ] {
            let (_d, cfg) = load_text(text);
            let e = cfg.unwrap_err().to_string();
            assert!(e.contains("ansible.cfg:2:") && e.contains(what), "{e}");
        }
        let env = |k: &str| (k == "ANSIBLE_STDOUT_CALLBACK").then(|| "debug".to_string());
        let e = Config::load_from(None, &env).unwrap_err().to_string();
        assert!(e.contains("$ANSIBLE_STDOUT_CALLBACK"), "{e}");
    }

    #[test]
    fn no_file_gives_defaults() {
        let cfg = Config::load_from(None, &no_env).unwrap();
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn inline_semicolon_comment_and_continuation_lines() {
        let (_d, cfg) = load_text(
            "# top\n[defaults]\n; c\nremote_user = bob ; the user\ninventory = a,\n   b\n",
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.remote_user.as_deref(), Some("bob"));
        assert_eq!(cfg.inventory.len(), 2);
    }

    #[test]
    fn bad_integer_is_an_error_naming_file_line() {
        let (_d, cfg) = load_text("[defaults]\n\nforks = many\n");
        let e = cfg.unwrap_err().to_string();
        assert!(e.contains("ansible.cfg:3:") && e.contains("'many'"), "{e}");
    }

    #[test]
    fn bad_boolean_is_an_error() {
        let (_d, cfg) = load_text("[defaults]\nhost_key_checking = maybe\n");
        assert!(cfg.unwrap_err().to_string().contains("ansible.cfg:2:"));
    }

    #[test]
    fn line_without_delimiter_is_an_error() {
        let (_d, cfg) = load_text("[defaults]\njunk\n");
        assert!(cfg
            .unwrap_err()
            .to_string()
            .contains("ansible.cfg:2: expected 'key = value', got: junk"));
    }

    #[test]
    fn key_before_section_is_an_error() {
        let (_d, cfg) = load_text("forks = 5\n");
        assert!(cfg.unwrap_err().to_string().contains("ansible.cfg:1:"));
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let (_d, cfg) = load_text("[defaults]\nforks = 5\nForks = 6\n");
        assert!(cfg
            .unwrap_err()
            .to_string()
            .contains("ansible.cfg:3: key 'forks' in section [defaults] already set at line 2"));
    }

    #[test]
    fn find_prefers_ansible_config_env_then_cwd_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["envdir", "cwd", "home"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let from_env = write(&d.join("envdir"), "ansible.cfg", "");
        let in_cwd = write(&d.join("cwd"), "ansible.cfg", "");
        let in_home = write(&d.join("home"), ".ansible.cfg", "");
        let system = d.join("etc.cfg");
        let home = d.join("home").display().to_string();
        let envdir = d.join("envdir").display().to_string();
        let with_env = |k: &str| match k {
            "ANSIBLE_CONFIG" => Some(envdir.clone()),
            "HOME" => Some(home.clone()),
            _ => None,
        };
        let without_env = |k: &str| {
            if k == "HOME" {
                Some(home.clone())
            } else {
                None
            }
        };
        assert_eq!(
            find_config_file(&with_env, Some(&d.join("cwd")), &system).0,
            Some(from_env)
        );
        assert_eq!(
            find_config_file(&without_env, Some(&d.join("cwd")), &system).0,
            Some(in_cwd)
        );
        assert_eq!(
            find_config_file(&without_env, Some(&d.join("envdir/none")), &system).0,
            Some(in_home)
        );
        assert_eq!(find_config_file(&no_env, None, &system).0, None);
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_cwd_config_is_ignored_with_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ansible.cfg", "[defaults]\nforks=3\n");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let (found, warnings) =
            find_config_file(&no_env, Some(dir.path()), &dir.path().join("none"));
        assert_eq!(found, None);
        assert!(warnings[0].contains("world writable"));
    }
}
