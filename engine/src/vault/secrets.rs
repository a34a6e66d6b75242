//! Vault secrets: where passwords come from (`--vault-id label@source`,
//! `--vault-password-file`, `--ask-vault-pass`, `ANSIBLE_VAULT_PASSWORD_FILE`) and the
//! process-wide set the loader decrypts with.

use std::path::Path;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// One password with its vault ID (`default` when none was given).
#[derive(Clone)]
pub struct VaultSecret {
    pub id: String,
    pub password: Zeroizing<Vec<u8>>,
}

impl VaultSecret {
    pub fn new(id: impl Into<String>, password: impl Into<Vec<u8>>) -> Self {
        VaultSecret {
            id: id.into(),
            password: Zeroizing::new(password.into()),
        }
    }
}

/// Never prints the password.
impl std::fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultSecret({})", self.id)
    }
}

/// Where one secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSource {
    pub id: String,
    /// A file path, an executable, or `prompt`.
    pub source: String,
}

impl SecretSource {
    /// `label@source` or a bare `source` (vault ID `default`), as `--vault-id` takes it.
    pub fn parse(spec: &str) -> SecretSource {
        match spec.split_once('@') {
            Some((id, source)) if !id.is_empty() => SecretSource {
                id: id.to_string(),
                source: source.to_string(),
            },
            _ => SecretSource {
                id: "default".into(),
                source: spec.trim_start_matches('@').to_string(),
            },
        }
    }
}

static INSTALLED: RwLock<Option<Arc<[VaultSecret]>>> = RwLock::new(None);

/// Make `secrets` the ones every later load decrypts with (replacing any before).
pub fn install(secrets: Vec<VaultSecret>) {
    let mut slot = INSTALLED.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(secrets.into());
}

/// The installed secrets (empty when none were given).
pub fn installed() -> Arc<[VaultSecret]> {
    INSTALLED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| Arc::from(Vec::new()))
}

/// Read the password `src` names. `prompt` asks through `ask` (given the prompt text); an
/// executable file is run and its standard output is the password (a script named `*-client`
/// or `*-client.*` is given `--vault-id ID`, as Ansible's client scripts expect); any other
/// file is read, with surrounding whitespace stripped as ansible-core does.
pub fn load_source(
    src: &SecretSource,
    ask: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<VaultSecret, String> {
    if src.source == "prompt" || src.source == "prompt_ask_vault_pass" {
        let prompt = if src.id == "default" {
            "Vault password: ".to_string()
        } else {
            format!("Vault password ({}): ", src.id)
        };
        let pw = ask(&prompt).ok_or("no vault password was entered")?;
        return Ok(VaultSecret::new(src.id.clone(), pw.into_bytes()));
    }
    let path = Path::new(&src.source);
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("vault password file {shown}: {e}"))?;
    let password = if is_executable(&meta) {
        run_script(path, &src.id)?
    } else {
        let raw = Zeroizing::new(
            std::fs::read(path).map_err(|e| format!("vault password file {shown}: {e}"))?,
        );
        Zeroizing::new(raw.trim_ascii().to_vec())
    };
    if password.is_empty() {
        return Err(format!(
            "Invalid vault password was provided from {shown} (it is empty)"
        ));
    }
    Ok(VaultSecret {
        id: src.id.clone(),
        password,
    })
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

fn run_script(path: &Path, id: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let shown = path.display();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A relative script path is relative to the current directory, never looked up in $PATH.
    let program = if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let mut cmd = std::process::Command::new(program);
    if stem.ends_with("-client") {
        cmd.args(["--vault-id", id]);
    }
    cmd.stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit());
    let out = cmd
        .output()
        .map_err(|e| format!("vault password script {shown}: cannot run: {e}"))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(format!(
            "vault password script {shown} returned non-zero ({})",
            out.status.code().unwrap_or(-1)
        ));
    }
    let end = stdout
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let start = stdout[..end]
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(end);
    Ok(Zeroizing::new(stdout[start..end].to_vec()))
}
