//! The command line, as an Ansible user expects it: `ansible-playbook`'s flags on `kplay run`.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "kplay",
    version,
    about = "Ansible-compatible deployment engine for offline Kubernetes installs",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run playbooks (like ansible-playbook).
    Run(RunArgs),
    /// Write the execution plan (host×task DAG) of a playbook.
    Plan(PlanArgs),
    /// Show the inventory (like ansible-inventory).
    Inventory(InventoryArgs),
    /// Run one module on hosts matching a pattern (like ansible).
    Adhoc(AdhocArgs),
    /// Manage lab hosts: air-gapped Debian hosts with systemd on this machine.
    Lab(LabArgs),
    /// The deployment content compiled into this binary (playbooks, roles, group_vars, inventory).
    Content(ContentArgs),
    /// Install the cluster: preflight, the bootstrap node, then steps 01..05; skips finished
    /// steps and resumes where a stopped deploy left off (`--lab`: into a lab on this machine).
    Deploy(DeployArgs),
    /// Remove what the deploy installed (reset.yml) and clear the deploy state.
    Reset(ResetArgs),
    /// The one-file configuration (`kplay deploy -c config.yaml`).
    Config(ConfigArgs),
    /// Write the embedded content (playbooks, roles, group_vars, inventory sample) into DIR to
    /// edit on site.
    Init {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Show a module's documentation, generated from its declared arguments (ansible-doc).
    Doc(DocArgs),
    /// Show what was edited in DIR (written by `kplay init`) against the embedded content.
    DiffEmbedded {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// The offline bundle: build it, list it, push its images to a registry.
    Bundle(BundleArgs),
    /// Serve a directory over HTTP (the bundle, on a bootstrap node without nginx).
    Serve(ServeArgs),
    /// Encrypt and decrypt Ansible Vault files and strings (like ansible-vault).
    Vault(VaultCmdArgs),
}

/// Where vault passwords come from, as ansible-playbook takes them.
#[derive(Args, Debug, Clone, Default)]
pub struct VaultArgs {
    /// A vault identity, LABEL@SOURCE or SOURCE: a password file, an executable printing the
    /// password, or `prompt` (repeatable).
    #[arg(long = "vault-id", value_name = "ID")]
    pub vault_id: Vec<String>,
    /// A vault password file, or an executable printing the password (repeatable).
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        value_name = "FILE"
    )]
    pub vault_password_file: Vec<String>,
    /// Ask for the vault password (echo off).
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        visible_alias = "ask-vault-password"
    )]
    pub ask_vault_pass: bool,
}

#[derive(Args, Debug)]
pub struct VaultCmdArgs {
    #[command(subcommand)]
    pub command: VaultCommand,
}

/// Options of the subcommands that encrypt.
#[derive(Args, Debug, Clone, Default)]
pub struct VaultWriteArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// The vault ID to encrypt with when several are given.
    #[arg(long = "encrypt-vault-id", value_name = "ID")]
    pub encrypt_vault_id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Create a new encrypted file with $EDITOR.
    Create {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        #[command(flatten)]
        write: VaultWriteArgs,
    },
    /// Encrypt files in place (standard input when none or `-`).
    Encrypt {
        #[arg(value_name = "FILE")]
        files: Vec<String>,
        /// Write to FILE (`-` for standard output) instead of in place.
        #[arg(long = "output", value_name = "FILE")]
        output: Option<String>,
        #[command(flatten)]
        write: VaultWriteArgs,
    },
    /// Decrypt files in place (standard input when none or `-`).
    Decrypt {
        #[arg(value_name = "FILE")]
        files: Vec<String>,
        /// Write to FILE (`-` for standard output) instead of in place.
        #[arg(long = "output", value_name = "FILE")]
        output: Option<String>,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Print the plaintext of encrypted files.
    View {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Edit an encrypted file with $EDITOR (the plaintext stays in RAM-backed storage).
    Edit {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        #[command(flatten)]
        write: VaultWriteArgs,
    },
    /// Encrypt a string to paste into YAML as a `!vault` value.
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString {
        /// Strings to encrypt (standard input when none or `-`).
        #[arg(value_name = "STRING")]
        strings: Vec<String>,
        /// The variable name of each string, in order.
        #[arg(short = 'n', long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// The variable name of the string read from standard input.
        #[arg(long = "stdin-name", value_name = "NAME")]
        stdin_name: Option<String>,
        /// Ask for the string (echo off).
        #[arg(short = 'p', long = "prompt")]
        prompt: bool,
        #[command(flatten)]
        write: VaultWriteArgs,
    },
    /// Encrypt files again with a new password or vault ID.
    Rekey {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        vault: VaultArgs,
        /// The new password's file (or executable).
        #[arg(long = "new-vault-password-file", value_name = "FILE")]
        new_vault_password_file: Option<String>,
        /// The new vault identity, LABEL@SOURCE.
        #[arg(long = "new-vault-id", value_name = "ID")]
        new_vault_id: Option<String>,
    },
}

/// The cluster a deploy or reset works on: an inventory, or a config.yaml holding the hosts too.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// Inventory file or directory (repeatable); state and hooks live beside it.
    #[arg(
        short = 'i',
        long = "inventory",
        value_name = "INVENTORY",
        conflicts_with = "config"
    )]
    pub inventory: Vec<String>,
    /// config.yaml with the hosts and settings (`kplay config init` writes one).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "CONFIG",
        conflicts_with = "lab"
    )]
    pub config: Option<std::path::PathBuf>,
    /// No inventory: the lab NAME on this machine (default `kplay`), 1 bootstrap + 3 control
    /// plane/etcd hosts behind a keepalived VIP. `deploy` brings it up (or reuses it) and builds
    /// (or reuses) the bundle; `reset` needs it up. Root only.
    #[arg(
        long = "lab",
        value_name = "NAME",
        num_args = 0..=1,
        default_missing_value = "kplay",
        conflicts_with = "inventory"
    )]
    pub lab: Option<String>,
    /// The state file (default: .kplay/deploy-state.json beside the inventory or config).
    #[arg(long = "state", value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// Run the playbooks and roles of DIR (from `kplay init DIR`) only, never the embedded ones.
    #[arg(long = "content", value_name = "DIR")]
    pub content: Option<std::path::PathBuf>,
}

/// How hosts are logged in to and privileges raised: the same options for `kplay deploy` and
/// `kplay run`/`adhoc`/`plan`.
#[derive(Args, Debug, Clone, Default)]
pub struct AccessArgs {
    /// Remote user.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// SSH private key file.
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub private_key: Option<String>,
    /// Refuse hosts whose SSH key is not yet known (no trust on first use).
    #[arg(long = "strict-host-keys")]
    pub strict_host_keys: bool,
    /// Ask for the SSH password.
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// Run operations with become.
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// Privilege escalation method.
    #[arg(long = "become-method")]
    pub become_method: Option<String>,
    /// Run operations as this user.
    #[arg(long = "become-user")]
    pub become_user: Option<String>,
    /// Ask for the privilege escalation password.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
}

/// Connection, privilege and run options shared with `kplay run` (`-c` is taken by --config
/// here, so the connection type is `--connection` only).
#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Extra variables: k=v pairs, YAML/JSON, or @file (repeatable).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Number of hosts worked on at once.
    #[arg(short = 'f', long = "forks")]
    pub forks: Option<usize>,
    /// Connection type (local, ssh).
    #[arg(long = "connection")]
    pub connection: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Don't make changes; report what would change (nothing is recorded as finished).
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show differences in changed files.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// Verbose mode (-vvv for more); shows every task as `kplay run` does.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub vault: VaultArgs,
}

impl ConnArgs {
    /// The same options in `kplay run`'s shape.
    pub fn to_common(&self, inventory: Vec<String>) -> CommonArgs {
        CommonArgs {
            inventory,
            extra_vars: self.extra_vars.clone(),
            limit: None,
            forks: self.forks,
            connection: self.connection.clone(),
            access: self.access.clone(),
            check: self.check,
            diff: self.diff,
            verbose: self.verbose,
            output: OutputFormat::Text,
            vault: self.vault.clone(),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Live view on a terminal, plain lines otherwise.
    #[default]
    Auto,
    Live,
    Plain,
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The offline bundle (`kplay bundle build --output DIR`) the bootstrap node serves.
    #[arg(long = "bundle", value_name = "DIR")]
    pub bundle: Option<std::path::PathBuf>,
    /// Start at STEP (number or name) and run every later step, finished or not.
    #[arg(long = "from", value_name = "STEP", conflicts_with = "only")]
    pub from: Option<String>,
    /// Stop after STEP (number or name): later steps are left alone (e.g. `--to 02`: the HA
    /// base without Kubernetes).
    #[arg(long = "to", value_name = "STEP", conflicts_with = "only")]
    pub to: Option<String>,
    /// Run only these steps (numbers or names), finished or not.
    #[arg(long = "only", value_name = "STEP", num_args = 1.., value_delimiter = ',')]
    pub only: Vec<String>,
    /// Run every selected step again, finished or not.
    #[arg(long = "force")]
    pub force: bool,
    /// Show every step and whether it would run (and why); run nothing.
    #[arg(long = "list")]
    pub list: bool,
    /// The hook playbooks' directory (default: hooks/ beside the inventory or config).
    #[arg(long = "hooks", value_name = "DIR")]
    pub hooks: Option<std::path::PathBuf>,
    /// How progress is shown.
    #[arg(long = "progress", value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Do not ask for confirmation (needed when not run from a terminal).
    #[arg(long = "yes", short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Write a commented config.yaml (FILE, default config.yaml; `-` for standard output).
    Init {
        #[arg(value_name = "FILE", default_value = "config.yaml")]
        file: std::path::PathBuf,
        /// Overwrite an existing file.
        #[arg(long = "force")]
        force: bool,
    },
}

#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Build the offline bundle (apt repository, files, images, manifest) from group_vars.
    Build {
        /// Directory to write the bundle into (created; an older bundle there is updated).
        #[arg(long = "output", short = 'o', value_name = "DIR")]
        output: std::path::PathBuf,
        /// Inventory whose variables apply (the bootstrap host's); default: group_vars only.
        #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
        inventory: Vec<String>,
        /// Extra variables: k=v pairs, YAML/JSON, or @file (repeatable).
        #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
        extra_vars: Vec<String>,
        /// Content directory holding playbooks/group_vars (default: ./playbooks when it has
        /// group_vars, else the embedded content).
        #[arg(long = "content", value_name = "DIR")]
        content: Option<std::path::PathBuf>,
        /// Cache of apt state, .debs and downloads.
        #[arg(long = "cache", value_name = "DIR", default_value = "/var/cache/kplay")]
        cache: std::path::PathBuf,
        /// OpenPGP key that signs the apt repository (made on first use; keep it private).
        #[arg(long = "signing-key", value_name = "FILE", default_value = kplay_bundle::sign::DEFAULT_KEY_PATH)]
        signing_key: std::path::PathBuf,
        /// Download the Debian package lists again even when fresh.
        #[arg(long = "refresh")]
        refresh: bool,
        /// Build Kubernetes (binaries and control-plane images) from this source (default:
        /// debian-source whenever offline_images lists images of build type kubernetes).
        #[arg(long = "kubernetes-from", value_name = "SOURCE", value_parser = ["debian-source"])]
        kubernetes_from: Option<String>,
    },
    /// Print what a bundle holds (packages, files, images, with versions and sha256).
    List {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
        /// Every package of the repository, not only those group_vars lists.
        #[arg(long = "all")]
        all: bool,
        /// The manifest as JSON.
        #[arg(long = "json")]
        json: bool,
    },
    /// Push the bundle's images to a registry (v2, TLS) without docker.
    Push {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
        /// Registry to push to, HOST:PORT.
        #[arg(long = "registry", value_name = "HOST:PORT")]
        registry: String,
        /// CA certificate (PEM) the registry's certificate is checked against.
        #[arg(long = "ca-cert", value_name = "FILE")]
        ca_cert: Option<std::path::PathBuf>,
        /// Only these images (repo:tag as in the bundle); default: all.
        #[arg(long = "image", value_name = "REF")]
        images: Vec<String>,
        /// Plain HTTP (a registry without TLS; tests only).
        #[arg(long = "plain-http", hide = true)]
        plain_http: bool,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// Address and port to listen on.
    #[arg(
        long = "listen",
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:8080"
    )]
    pub listen: std::net::SocketAddr,
}

#[derive(Args, Debug)]
pub struct ContentArgs {
    #[command(subcommand)]
    pub command: ContentCommand,
}

#[derive(clap::Args, Debug)]
pub struct DocArgs {
    /// List every module with its one-line description.
    #[arg(short = 'l', long = "list")]
    pub list: bool,
    /// Module names (`copy`, `ansible.builtin.copy`).
    #[arg(value_name = "MODULE")]
    pub modules: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ContentCommand {
    /// List the embedded files.
    List,
    /// Write the embedded content into DIR (new or empty) to edit and run from disk.
    Extract {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

/// Options shared by everything that reads an inventory and runs tasks.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Inventory file, directory or comma-separated host list (repeatable).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<String>,
    /// Extra variables: k=v pairs, YAML/JSON, or @file (repeatable).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Further limit selected hosts to a pattern.
    #[arg(short = 'l', long = "limit", value_name = "SUBSET")]
    pub limit: Option<String>,
    /// Number of hosts worked on at once.
    #[arg(short = 'f', long = "forks")]
    pub forks: Option<usize>,
    /// Connection type (local, ssh).
    #[arg(short = 'c', long = "connection")]
    pub connection: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Don't make changes; report what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show differences in changed files.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// Verbose mode: -v results, -vvv connections and commands, -vvvv transport detail.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Output format: Ansible's text (a live view on a terminal), or one JSON event per line
    /// (schema in README).
    #[arg(long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub vault: VaultArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// The playbooks and the options of a run, as `kplay run` and `kplay plan` both take them (the
/// help texts are `run`'s; `plan` words its own).
#[derive(Args, Debug)]
pub struct PlaybookArgs {
    /// Playbook files.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only run plays and tasks tagged with these values.
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Only run plays and tasks whose tags do not match these values.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub playbook: PlaybookArgs,
    /// Outline the hosts each play would run on.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List all tasks that would be executed.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// List all available tags.
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Check the playbook syntax only.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// Start the playbook at the task matching this name.
    #[arg(long = "start-at-task")]
    pub start_at_task: Option<String>,
    /// Run handlers even on hosts that failed.
    #[arg(long = "force-handlers")]
    pub force_handlers: bool,
    /// One-step-at-a-time: confirm each task before running it.
    #[arg(long = "step")]
    pub step: bool,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("playbooks", |a| a.help("Playbook files to plan (nothing runs on any host)")),
    mut_arg("tags", |a| a.help("Only plan plays and tasks tagged with these values")),
    mut_arg("skip_tags", |a| a.help("Only plan plays and tasks whose tags do not match these values"))
)]
pub struct PlanArgs {
    #[command(flatten)]
    pub playbook: PlaybookArgs,
    /// Write the DAG as Graphviz DOT.
    #[arg(long = "dot")]
    pub dot: bool,
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// Inventory file, directory or comma-separated host list (repeatable).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: Vec<String>,
    /// Output all hosts info as JSON (like ansible-inventory --list).
    #[arg(long = "list")]
    pub list: bool,
    /// Output the group graph.
    #[arg(long = "graph")]
    pub graph: bool,
    /// Output one host's variables.
    #[arg(long = "host")]
    pub host: Option<String>,
    /// With --graph: include variables.
    #[arg(long = "vars")]
    pub vars: bool,
    /// Restrict to a pattern.
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    #[command(flatten)]
    pub vault: VaultArgs,
}

#[derive(Args, Debug)]
pub struct AdhocArgs {
    /// Host pattern.
    pub pattern: String,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Module name.
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    pub module: String,
    /// Module arguments (k=v or free form, or YAML/JSON).
    #[arg(short = 'a', long = "args")]
    pub args: Option<String>,
    /// Skip fact gathering is the default for ad-hoc; this flag gathers facts first.
    #[arg(long = "gather-facts")]
    pub gather_facts: bool,
    /// Condense output: one line per host.
    #[arg(short = 'o', long = "one-line")]
    pub one_line: bool,
}

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabInit {
    Systemd,
    None,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Bring lab hosts up; prints the inventory path as the last line.
    Up {
        #[arg(long = "hosts", default_value_t = 3)]
        hosts: usize,
        #[arg(long = "name", default_value = "lab")]
        name: String,
        #[arg(long = "init", value_enum, default_value_t = LabInit::Systemd)]
        init: LabInit,
        /// Size of each systemd host's /var volume (sparse ext4: K, M, G, T); 0 for none.
        #[arg(long = "data-size", value_name = "SIZE", default_value = "8G", value_parser = kplay_lab::parse_data_size)]
        data_size: u64,
    },
    /// Show the lab's hosts and their state.
    Status {
        #[arg(long = "name", default_value = "lab")]
        name: String,
    },
    /// Tear the lab down, leaving nothing behind.
    Down {
        #[arg(long = "name", default_value = "lab")]
        name: String,
    },
}
