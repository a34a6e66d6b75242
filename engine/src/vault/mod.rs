//! Ansible Vault: files and `!vault` values encrypted with a password, readable and writable by
//! ansible-vault and kplay alike.
//!
//! The envelope is a header line `$ANSIBLE_VAULT;1.1;AES256` (or `…;1.2;AES256;LABEL` when the
//! secret has a vault ID other than `default`) followed by the hex payload wrapped at 80
//! columns (see [`cipher`] for the payload). Secrets are installed once per process by the
//! command line ([`install`]); the YAML loader then decrypts vaulted files and `!vault` values
//! as it reads them, so the rest of the engine only ever sees plain values. Plaintext lives in
//! memory only: kplay never writes it to disk (`kplay vault edit` hands it to the editor in a
//! RAM-backed temporary file, see the binary).

pub mod cipher;
mod secrets;
#[cfg(test)]
mod tests;

pub use secrets::{install, installed, load_source, SecretSource, VaultSecret};

use zeroize::Zeroizing;

/// Every vaulted text starts with this.
pub const HEADER: &str = "$ANSIBLE_VAULT";

/// Payload lines are this wide, as ansible-vault writes them.
const WIDTH: usize = 80;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("found vault-encrypted data but no vault secrets were given (use --vault-password-file, --vault-id or --ask-vault-pass)")]
    NoSecrets,
    #[error("decryption failed: no vault secret could decrypt it{}", label_hint(.0))]
    NoMatchingSecret(Option<String>),
    #[error("not valid vault data: {0}")]
    Malformed(String),
    #[error("unsupported vault format {0} (kplay reads 1.1 and 1.2 with AES256)")]
    Unsupported(String),
}

fn label_hint(label: &Option<String>) -> String {
    match label {
        Some(l) => format!(" (it is labelled '{l}')"),
        None => String::new(),
    }
}

/// The parts of a vault envelope.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub version: &'a str,
    pub cipher: &'a str,
    /// The vault ID of format 1.2.
    pub label: Option<&'a str>,
    /// The hex payload with all whitespace removed.
    pub payload: String,
}

/// Whether `data` is vault-encrypted (leading whitespace allowed, as in a `!vault |` block).
pub fn is_encrypted(data: &str) -> bool {
    data.trim_start().starts_with(HEADER)
}

/// Split a vaulted text into header fields and payload.
pub fn parse(data: &str) -> Result<Envelope<'_>, VaultError> {
    let data = data.trim_start();
    let (header, body) = data.split_once('\n').unwrap_or((data, ""));
    let mut fields = header.trim().split(';').map(str::trim);
    if fields.next() != Some(HEADER) {
        return Err(VaultError::Malformed("no $ANSIBLE_VAULT header".into()));
    }
    let version = fields.next().unwrap_or("");
    let cipher = fields.next().unwrap_or("");
    let label = fields.next().filter(|l| !l.is_empty());
    match version {
        "1.1" | "1.2" => {}
        "" => return Err(VaultError::Malformed("header has no format version".into())),
        v => return Err(VaultError::Unsupported(v.to_string())),
    }
    if cipher != "AES256" {
        return Err(VaultError::Unsupported(format!(
            "{version} with cipher '{cipher}'"
        )));
    }
    let payload: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if payload.is_empty() {
        return Err(VaultError::Malformed(
            "no encrypted payload after the header".into(),
        ));
    }
    Ok(Envelope {
        version,
        cipher,
        label,
        payload,
    })
}

/// Decrypt a vaulted text with the first of `secrets` that fits: those whose vault ID matches
/// the envelope's label first, then the others (as ansible-core does unless `vault_id_match`).
/// Returns the plaintext and the ID of the secret that opened it.
pub fn decrypt_with(
    data: &str,
    secrets: &[VaultSecret],
) -> Result<(Zeroizing<Vec<u8>>, String), VaultError> {
    let env = parse(data)?;
    if secrets.is_empty() {
        return Err(VaultError::NoSecrets);
    }
    let matching = secrets.iter().filter(|s| Some(s.id.as_str()) == env.label);
    let others = secrets.iter().filter(|s| Some(s.id.as_str()) != env.label);
    for secret in matching.chain(others) {
        match cipher::decrypt(&env.payload, &secret.password) {
            Ok(plain) => return Ok((plain, secret.id.clone())),
            Err(cipher::DecryptError::WrongPassword) => continue,
            Err(cipher::DecryptError::Malformed(m)) => {
                return Err(VaultError::Malformed(m.to_string()))
            }
        }
    }
    Err(VaultError::NoMatchingSecret(env.label.map(str::to_string)))
}

/// Decrypt with the secrets installed for this process.
pub fn decrypt(data: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    decrypt_with(data, &installed()).map(|(p, _)| p)
}

/// Decrypt to text (vaulted YAML files and `!vault` values are text).
pub fn decrypt_text(data: &str) -> Result<Zeroizing<String>, VaultError> {
    let plain = decrypt(data)?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Malformed("decrypted data is not UTF-8 text".into()))
}

/// Encrypt `plaintext` with `secret`: the whole envelope, ending in a newline.
pub fn encrypt(plaintext: &[u8], secret: &VaultSecret) -> std::io::Result<String> {
    let payload = cipher::encrypt(plaintext, &secret.password)?;
    Ok(envelope(&payload, &secret.id))
}

/// Header plus payload wrapped at 80 columns, as ansible-vault writes it.
pub fn envelope(payload: &str, id: &str) -> String {
    let mut out = if id.is_empty() || id == "default" {
        format!("{HEADER};1.1;AES256\n")
    } else {
        format!("{HEADER};1.2;AES256;{id}\n")
    };
    for chunk in payload.as_bytes().chunks(WIDTH) {
        // The payload is hex, so every chunk is ASCII.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// `name: !vault |` and the envelope indented, as `ansible-vault encrypt_string` prints it
/// (`name` empty: the value alone).
pub fn inline(vaulted: &str, name: &str) -> String {
    let mut out = if name.is_empty() {
        "!vault |\n".to_string()
    } else {
        format!("{name}: !vault |\n")
    };
    for line in vaulted.lines() {
        out.push_str("          ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
