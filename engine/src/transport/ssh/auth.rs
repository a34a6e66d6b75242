//! User authentication, in the order OpenSSH users expect from an inventory: the key files
//! named for the host, then the ssh-agent, then the default key files, then the password
//! (`password`, then `keyboard-interactive` answering every prompt with it).

use super::handler::ClientHandler;
use super::target::{home_dir, SshTarget};
use russh::client::{Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh::MethodKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Authenticate `handle` as `t.user`. The error names every method tried and why it failed.
pub async fn authenticate(handle: &mut Handle<ClientHandler>, t: &SshTarget) -> Result<(), String> {
    let mut tried: Vec<String> = Vec::new();
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    for path in &t.private_key_files {
        if try_key_file(handle, t, path, &mut rsa_hash, &mut tried).await? {
            return Ok(());
        }
    }
    if try_agent(handle, t, &mut rsa_hash, &mut tried).await? {
        return Ok(());
    }
    if t.private_key_files.is_empty() {
        for path in default_key_files() {
            if try_key_file(handle, t, &path, &mut rsa_hash, &mut tried).await? {
                return Ok(());
            }
        }
    }
    if let Some(pw) = &t.password {
        if try_password(handle, t, pw, &mut tried).await? {
            return Ok(());
        }
    }
    if tried.is_empty() {
        tried.push("no key file, agent or password available".to_string());
    }
    Err(format!(
        "authentication failed for {} ({})",
        t.label(),
        tried.join("; ")
    ))
}

/// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`: those that exist.
fn default_key_files() -> Vec<PathBuf> {
    let dir = home_dir().join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect()
}

/// RSA keys sign with the best SHA-2 hash the server accepts; asked once per connection.
async fn rsa_hash_for(
    handle: &Handle<ClientHandler>,
    cache: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if let Some(h) = cache {
        return *h;
    }
    let h = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    *cache = Some(h);
    h
}

/// `Ok(true)` when the key was accepted; `Err` only when the connection itself broke.
async fn try_key_file(
    handle: &mut Handle<ClientHandler>,
    t: &SshTarget,
    path: &Path,
    rsa_hash: &mut Option<Option<HashAlg>>,
    tried: &mut Vec<String>,
) -> Result<bool, String> {
    let key = match russh::keys::load_secret_key(path, t.key_passphrase.as_deref()) {
        Ok(k) => k,
        Err(russh::keys::Error::KeyIsEncrypted) => {
            tried.push(format!(
                "key {}: encrypted, and no passphrase was given",
                path.display()
            ));
            return Ok(false);
        }
        Err(e) => {
            let why = if t.key_passphrase.is_some() {
                format!("{e} (wrong passphrase?)")
            } else {
                e.to_string()
            };
            tried.push(format!("key {}: cannot load: {why}", path.display()));
            return Ok(false);
        }
    };
    let hash = if key.algorithm().is_rsa() {
        rsa_hash_for(handle, rsa_hash).await
    } else {
        None
    };
    let kind = key.algorithm().as_str().to_string();
    let res = handle
        .authenticate_publickey(
            t.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await
        .map_err(|e| {
            format!(
                "connection to {} broke during authentication: {e}",
                t.label()
            )
        })?;
    if res.success() {
        return Ok(true);
    }
    tried.push(format!("key {} ({kind}) refused", path.display()));
    Ok(false)
}

async fn try_agent(
    handle: &mut Handle<ClientHandler>,
    t: &SshTarget,
    rsa_hash: &mut Option<Option<HashAlg>>,
    tried: &mut Vec<String>,
) -> Result<bool, String> {
    let Some(sock) = &t.identity_agent else {
        return Ok(false);
    };
    let mut agent = match AgentClient::connect_uds(sock).await {
        Ok(a) => a,
        Err(e) => {
            tried.push(format!(
                "ssh-agent at {}: cannot connect: {e}",
                sock.display()
            ));
            return Ok(false);
        }
    };
    let ids = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!("ssh-agent: cannot list keys: {e}"));
            return Ok(false);
        }
    };
    for id in &ids {
        let key = id.public_key().into_owned();
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, rsa_hash).await
        } else {
            None
        };
        match handle
            .authenticate_publickey_with(t.user.clone(), key, hash, &mut agent)
            .await
        {
            Ok(r) if r.success() => return Ok(true),
            Ok(_) => {}
            Err(e) => tried.push(format!("ssh-agent key failed to sign: {e}")),
        }
    }
    tried.push(format!("ssh-agent: {} key(s) refused", ids.len()));
    Ok(false)
}

async fn try_password(
    handle: &mut Handle<ClientHandler>,
    t: &SshTarget,
    pw: &str,
    tried: &mut Vec<String>,
) -> Result<bool, String> {
    let broke = |e: russh::Error| {
        format!(
            "connection to {} broke during authentication: {e}",
            t.label()
        )
    };
    let res = handle
        .authenticate_password(t.user.clone(), pw)
        .await
        .map_err(broke)?;
    let remaining = match res {
        russh::client::AuthResult::Success => return Ok(true),
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } => remaining_methods,
    };
    tried.push("password refused".to_string());
    if !remaining.contains(&MethodKind::KeyboardInteractive) {
        return Ok(false);
    }
    let mut resp = handle
        .authenticate_keyboard_interactive_start(t.user.clone(), None)
        .await
        .map_err(broke)?;
    // A server may send several rounds (including empty ones); bound them so a confused
    // server cannot keep us here.
    for _ in 0..5 {
        match resp {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => break,
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts.iter().map(|_| pw.to_string()).collect();
                resp = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await
                    .map_err(broke)?;
            }
        }
    }
    tried.push("keyboard-interactive refused".to_string());
    Ok(false)
}
