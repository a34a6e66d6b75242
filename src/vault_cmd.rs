//! `kplay vault …` (ansible-vault's commands) and the vault secrets of every other command.
//!
//! Secrets are gathered the way ansible-core does: `vault_identity_list` from ansible.cfg, then
//! `--vault-id`, then `--vault-password-file`, then `vault_password_file` /
//! `ANSIBLE_VAULT_PASSWORD_FILE`, then `--ask-vault-pass`. Plaintext is never written to disk by
//! kplay: `view` prints it, `create`/`edit` hand it to the editor in a file under /dev/shm
//! (RAM) when that exists, owner-only, overwritten and removed afterwards; only `decrypt`
//! writes plaintext, because that is what the user asked for.

use crate::cli::{VaultArgs, VaultCommand, VaultWriteArgs};
use kplay_engine::config::Config;
use kplay_engine::vault::{self, SecretSource, VaultSecret};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Ask on the terminal with echo off.
fn ask(prompt: &str) -> Option<String> {
    crate::secret::read_password(prompt)
}

/// Every secret the options and the configuration name. `new`: prompts are for a new password
/// (asked twice, must match), as when encrypting.
pub fn secrets_for(args: &VaultArgs, cfg: &Config, new: bool) -> Result<Vec<VaultSecret>, String> {
    let mut sources: Vec<SecretSource> = Vec::new();
    let mut add = |s: SecretSource| {
        if !sources.contains(&s) {
            sources.push(s);
        }
    };
    for id in cfg.vault_identity_list.iter().chain(&args.vault_id) {
        add(SecretSource::parse(id));
    }
    for file in args
        .vault_password_file
        .iter()
        .chain(cfg.vault_password_file.as_ref())
    {
        add(SecretSource {
            id: "default".into(),
            source: file.clone(),
        });
    }
    if args.ask_vault_pass {
        add(SecretSource {
            id: "default".into(),
            source: "prompt".into(),
        });
    }
    sources.iter().map(|s| load(s, new)).collect()
}

fn load(src: &SecretSource, new: bool) -> Result<VaultSecret, String> {
    if new && src.source.starts_with("prompt") {
        return ask_new(&src.id);
    }
    vault::load_source(src, &mut |p| ask(p))
}

/// A new password from the terminal, typed twice.
fn ask_new(id: &str) -> Result<VaultSecret, String> {
    let label = if id == "default" {
        String::new()
    } else {
        format!(" ({id})")
    };
    let first = Zeroizing::new(
        ask(&format!("New Vault password{label}: ")).ok_or("no vault password was entered")?,
    );
    let second = Zeroizing::new(
        ask(&format!("Confirm New Vault password{label}: "))
            .ok_or("no vault password was entered")?,
    );
    if *first != *second {
        return Err("Passwords do not match".into());
    }
    if first.is_empty() {
        return Err("A vault password must be specified to encrypt data".into());
    }
    Ok(VaultSecret::new(id, first.as_bytes().to_vec()))
}

/// Load the secrets of a run (`kplay run/plan/adhoc/inventory/deploy`) for the YAML loader.
pub fn install(args: &VaultArgs, cfg: &Config) -> Result<(), String> {
    let secrets = secrets_for(args, cfg, false)?;
    vault::install(secrets);
    Ok(())
}

/// The secret to encrypt with: `--encrypt-vault-id`, the only one given, or a new password.
fn encrypt_secret(w: &VaultWriteArgs, cfg: &Config) -> Result<VaultSecret, String> {
    let secrets = secrets_for(&w.vault, cfg, true)?;
    let wanted = w
        .encrypt_vault_id
        .clone()
        .or_else(|| cfg.vault_encrypt_identity.clone());
    if let Some(id) = wanted {
        return secrets.into_iter().find(|s| s.id == id).ok_or_else(|| {
            format!("Did not find a match for --encrypt-vault-id={id} in the known vault-ids")
        });
    }
    match secrets.len() {
        0 => ask_new("default"),
        1 => Ok(secrets.into_iter().next().expect("one secret")),
        _ => Err(format!(
            "The vault-ids {} are available to encrypt. Specify the vault-id to encrypt with --encrypt-vault-id",
            secrets.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(",")
        )),
    }
}

/// The secrets to decrypt with; asks for one when none was given, as ansible-vault does.
fn decrypt_secrets(args: &VaultArgs, cfg: &Config) -> Result<Vec<VaultSecret>, String> {
    let secrets = secrets_for(args, cfg, false)?;
    if !secrets.is_empty() {
        return Ok(secrets);
    }
    let src = SecretSource {
        id: "default".into(),
        source: "prompt".into(),
    };
    Ok(vec![load(&src, false)?])
}

pub fn run(command: VaultCommand) -> u8 {
    let cfg = match crate::run_cmd::load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match dispatch(command, &cfg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR! {e}");
            1
        }
    }
}

fn dispatch(command: VaultCommand, cfg: &Config) -> Result<(), String> {
    match command {
        VaultCommand::Create { file, write } => create(&file, &write, cfg),
        VaultCommand::Encrypt {
            files,
            output,
            write,
        } => {
            let secret = encrypt_secret(&write, cfg)?;
            for_each_input(&files, output.as_deref(), |data, shown| {
                if vault::is_encrypted(&String::from_utf8_lossy(&data)) {
                    return Err(format!("input is already encrypted: {shown}"));
                }
                vault::encrypt(&data, &secret)
                    .map(|t| Zeroizing::new(t.into_bytes()))
                    .map_err(|e| e.to_string())
            })?;
            eprintln!("Encryption successful");
            Ok(())
        }
        VaultCommand::Decrypt {
            files,
            output,
            vault: v,
        } => {
            let secrets = decrypt_secrets(&v, cfg)?;
            for_each_input(&files, output.as_deref(), |data, shown| {
                open(&data, &secrets, shown).map(|(plain, _)| plain)
            })?;
            eprintln!("Decryption successful");
            Ok(())
        }
        VaultCommand::View { files, vault: v } => {
            let secrets = decrypt_secrets(&v, cfg)?;
            for f in &files {
                let data = read_input(f)?;
                let (plain, _) = open(&data, &secrets, f)?;
                std::io::stdout()
                    .write_all(&plain)
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        VaultCommand::Edit { file, write } => edit(&file, &write, cfg),
        VaultCommand::EncryptString {
            strings,
            names,
            stdin_name,
            prompt,
            write,
        } => encrypt_string(strings, names, stdin_name, prompt, &write, cfg),
        VaultCommand::Rekey {
            files,
            vault: v,
            new_vault_password_file,
            new_vault_id,
        } => {
            let secrets = decrypt_secrets(&v, cfg)?;
            let new = match (new_vault_id, new_vault_password_file) {
                (Some(id), _) => load(&SecretSource::parse(&id), true)?,
                (None, Some(file)) => load(
                    &SecretSource {
                        id: "default".into(),
                        source: file,
                    },
                    true,
                )?,
                (None, None) => ask_new("default")?,
            };
            for f in &files {
                let shown = f.display().to_string();
                let data = read_input(&shown)?;
                let (plain, _) = open(&data, &secrets, &shown)?;
                let text = vault::encrypt(&plain, &new).map_err(|e| e.to_string())?;
                write_atomic(f, text.as_bytes())?;
            }
            eprintln!("Rekey successful");
            Ok(())
        }
    }
}

/// Decrypt vault data read from `shown`.
fn open(
    data: &[u8],
    secrets: &[VaultSecret],
    shown: &str,
) -> Result<(Zeroizing<Vec<u8>>, String), String> {
    let text = std::str::from_utf8(data)
        .map_err(|_| format!("input is not vault encrypted data: {shown}"))?;
    if !vault::is_encrypted(text) {
        return Err(format!(
            "input is not vault encrypted data: {shown} is not a vault encrypted file"
        ));
    }
    vault::decrypt_with(text, secrets).map_err(|e| format!("{shown}: {e}"))
}

fn read_input(name: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut buf = Zeroizing::new(Vec::new());
    if name == "-" {
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("standard input: {e}"))?;
    } else {
        *buf = std::fs::read(name).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(buf)
}

/// Apply `f` to each input (files, or standard input) and write the result in place, to
/// `output`, or to standard output (`-`).
fn for_each_input(
    files: &[String],
    output: Option<&str>,
    f: impl Fn(Zeroizing<Vec<u8>>, &str) -> Result<Zeroizing<Vec<u8>>, String>,
) -> Result<(), String> {
    let stdin = ["-".to_string()];
    let files = if files.is_empty() { &stdin[..] } else { files };
    for name in files {
        if name == "-" && output.is_none() && std::io::stdin().is_terminal() {
            eprintln!("Reading plaintext input from stdin");
        }
        let data = read_input(name)?;
        let out = f(data, name)?;
        match output.or((name == "-").then_some("-")) {
            Some("-") => std::io::stdout()
                .write_all(&out)
                .map_err(|e| e.to_string())?,
            Some(path) => write_atomic(Path::new(path), &out)?,
            None => write_atomic(Path::new(name), &out)?,
        }
    }
    Ok(())
}

/// Replace `path` with `data` through a temporary file beside it (kept owner-only, or with the
/// mode of the file it replaces), so a crash never leaves half a file.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{shown}: {e}"))?;
    tmp.write_all(data).map_err(|e| format!("{shown}: {e}"))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{shown}: {e}"))?;
    tmp.persist(path).map_err(|e| format!("{shown}: {e}"))?;
    Ok(())
}

fn create(file: &Path, w: &VaultWriteArgs, cfg: &Config) -> Result<(), String> {
    if file.exists() {
        return Err(format!(
            "{} exists, please use 'edit' instead",
            file.display()
        ));
    }
    let secret = encrypt_secret(w, cfg)?;
    let plain = run_editor(b"")?;
    let text = vault::encrypt(&plain, &secret).map_err(|e| e.to_string())?;
    write_atomic(file, text.as_bytes())
}

fn edit(file: &Path, w: &VaultWriteArgs, cfg: &Config) -> Result<(), String> {
    let shown = file.display().to_string();
    let data = read_input(&shown)?;
    let secrets = decrypt_secrets(&w.vault, cfg)?;
    let (plain, opened_by) = open(&data, &secrets, &shown)?;
    let edited = run_editor(&plain)?;
    if *edited == *plain && w.encrypt_vault_id.is_none() {
        return Ok(());
    }
    let id = w.encrypt_vault_id.clone().unwrap_or(opened_by);
    let secret = secrets
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| format!("no vault secret with the id '{id}' to encrypt with"))?;
    let text = vault::encrypt(&edited, &secret).map_err(|e| e.to_string())?;
    write_atomic(file, text.as_bytes())
}

/// Let the user edit `initial` with $EDITOR (default vi) in an owner-only file in RAM where
/// possible; the file is overwritten with zeros and removed before returning.
fn run_editor(initial: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let shm = Path::new("/dev/shm");
    let dir: PathBuf = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let mut tmp = tempfile::Builder::new()
        .prefix("kplay-vault-")
        .suffix(".yml")
        .tempfile_in(&dir)
        .map_err(|e| format!("temporary file in {}: {e}", dir.display()))?;
    let result = (|| {
        tmp.write_all(initial).map_err(|e| e.to_string())?;
        tmp.flush().map_err(|e| e.to_string())?;
        let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
        let mut words = shell_words::split(&editor).map_err(|e| format!("$EDITOR: {e}"))?;
        if words.is_empty() {
            words.push("vi".into());
        }
        let status = std::process::Command::new(&words[0])
            .args(&words[1..])
            .arg(tmp.path())
            .status()
            .map_err(|e| format!("cannot run the editor {}: {e}", words[0]))?;
        if !status.success() {
            return Err(format!(
                "the editor {} failed ({status}); nothing was changed",
                words[0]
            ));
        }
        std::fs::read(tmp.path())
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
    })();
    // Overwrite what the editor left before the file goes.
    if let Ok(len) = std::fs::metadata(tmp.path()).map(|m| m.len()) {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(tmp.path()) {
            let _ = f.write_all(&vec![0u8; len as usize]);
            let _ = f.sync_all();
        }
    }
    drop(tmp);
    result
}

fn encrypt_string(
    strings: Vec<String>,
    names: Vec<String>,
    stdin_name: Option<String>,
    prompt: bool,
    w: &VaultWriteArgs,
    cfg: &Config,
) -> Result<(), String> {
    let secret = encrypt_secret(w, cfg)?;
    // (plaintext, variable name) pairs.
    let mut items: Vec<(Zeroizing<String>, String)> = Vec::new();
    if prompt {
        let name = names.first().cloned().unwrap_or_default();
        let s = ask("String to encrypt (hidden): ").ok_or("nothing was entered")?;
        items.push((Zeroizing::new(s), name));
    } else if strings.is_empty() || strings == ["-"] {
        if std::io::stdin().is_terminal() {
            eprintln!("Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)");
        }
        let data = read_input("-")?;
        let s = String::from_utf8(data.to_vec()).map_err(|_| "standard input is not UTF-8 text")?;
        if s.is_empty() {
            return Err("stdin was empty, not encrypting".into());
        }
        let name = stdin_name
            .or_else(|| names.first().cloned())
            .unwrap_or_default();
        items.push((Zeroizing::new(s), name));
    } else {
        for (i, s) in strings.into_iter().enumerate() {
            items.push((Zeroizing::new(s), names.get(i).cloned().unwrap_or_default()));
        }
    }
    let mut out = String::new();
    for (plain, name) in &items {
        let text = vault::encrypt(plain.as_bytes(), &secret).map_err(|e| e.to_string())?;
        out.push_str(&vault::inline(&text, name));
    }
    print!("{out}");
    eprintln!("Encryption successful");
    Ok(())
}
