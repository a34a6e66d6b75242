//! Just enough OpenPGP (RFC 4880) for the key modules (`apt_key`, `rpm_key`): undo ASCII
//! armour and find the public keys' v4 fingerprints, so a key's identity is known on the
//! controller without gpg on either side.

use base64::Engine;
use sha1::{Digest, Sha1};

/// The binary packets of an armoured block (the text between the BEGIN and END lines, after
/// the armour headers, without the `=CRC` line); binary input is returned as it is.
pub fn dearmor(data: &[u8]) -> Result<Vec<u8>, String> {
    let text = match std::str::from_utf8(data) {
        Ok(t) if t.trim_start().starts_with("-----BEGIN PGP") => t,
        _ => return Ok(data.to_vec()),
    };
    let mut b64 = String::new();
    let mut in_body = false;
    let mut headers_done = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN PGP") {
            in_body = true;
            continue;
        }
        if l.starts_with("-----END PGP") {
            break;
        }
        if !in_body {
            continue;
        }
        if !headers_done {
            if l.is_empty() {
                headers_done = true;
                continue;
            }
            if l.contains(": ") {
                continue;
            }
            headers_done = true;
        }
        if l.starts_with('=') {
            continue;
        }
        b64.push_str(l);
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("not an OpenPGP key: bad armour ({e})"))
}

/// Upper-case hex v4 fingerprints of the primary public keys in `data` (armoured or binary).
pub fn fingerprints(data: &[u8]) -> Result<Vec<String>, String> {
    let bin = dearmor(data)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < bin.len() {
        let b = bin[i];
        if b & 0x80 == 0 {
            return Err(format!("not an OpenPGP key: bad packet header at byte {i}"));
        }
        let (tag, len, hdr) = if b & 0x40 != 0 {
            let tag = b & 0x3f;
            let o1 = *bin.get(i + 1).ok_or("truncated packet")? as usize;
            match o1 {
                0..=191 => (tag, o1, 2),
                192..=223 => {
                    let o2 = *bin.get(i + 2).ok_or("truncated packet")? as usize;
                    (tag, ((o1 - 192) << 8) + o2 + 192, 3)
                }
                255 => {
                    let s = bin.get(i + 2..i + 6).ok_or("truncated packet")?;
                    (
                        tag,
                        u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize,
                        6,
                    )
                }
                _ => return Err("not an OpenPGP key: partial body length in a key".into()),
            }
        } else {
            let tag = (b >> 2) & 0x0f;
            match b & 3 {
                0 => (tag, *bin.get(i + 1).ok_or("truncated packet")? as usize, 2),
                1 => {
                    let s = bin.get(i + 1..i + 3).ok_or("truncated packet")?;
                    (tag, u16::from_be_bytes([s[0], s[1]]) as usize, 3)
                }
                2 => {
                    let s = bin.get(i + 1..i + 5).ok_or("truncated packet")?;
                    (
                        tag,
                        u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize,
                        5,
                    )
                }
                _ => return Err("not an OpenPGP key: indeterminate packet length".into()),
            }
        };
        let body = bin
            .get(i + hdr..i + hdr + len)
            .ok_or("not an OpenPGP key: truncated packet")?;
        if tag == 6 && body.first() == Some(&4) {
            let mut h = Sha1::new();
            h.update([0x99]);
            h.update((len as u16).to_be_bytes());
            h.update(body);
            out.push(hex::encode_upper(h.finalize()));
        }
        i += hdr + len;
    }
    if out.is_empty() {
        return Err("not an OpenPGP key: no public key packet".into());
    }
    Ok(out)
}

/// Whether a user-given key id (short, long or full, `0x` allowed) names `fpr`.
pub fn id_matches(id: &str, fpr: &str) -> bool {
    let id = id
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .replace(' ', "")
        .to_uppercase();
    id.len() >= 8 && fpr.ends_with(&id)
}

/// A key from a URL (fetched from the host's point of view), a file on the host, or the text
/// itself when it is an armoured block.
pub async fn key_bytes(
    ctx: &kplay_engine::module::ModuleContext<'_>,
    src: &str,
    validate_certs: bool,
) -> Result<Vec<u8>, kplay_engine::module::ModuleError> {
    use crate::target_http::{request, HttpRequest, Redirects, Sink, Via};
    use kplay_engine::module::ModuleError;
    if src.trim_start().starts_with("-----BEGIN PGP") {
        return Ok(src.as_bytes().to_vec());
    }
    if src.contains("://") {
        let resp = request(
            ctx,
            &HttpRequest {
                url: src.to_string(),
                method: "GET".into(),
                headers: vec![],
                body: None,
                timeout: std::time::Duration::from_secs(30),
                validate_certs,
                auth: None,
                redirects: Redirects::Safe,
            },
            &Sink::Return,
            Via::Auto,
        )
        .await?;
        if resp.status != 200 {
            return Err(ModuleError::new(format!(
                "failed to fetch key at {src}: HTTP {}",
                resp.status
            )));
        }
        return Ok(resp.body);
    }
    ctx.transport
        .fetch(src, ctx.become_.as_ref())
        .await?
        .ok_or_else(|| ModuleError::new(format!("key file {src} does not exist on the host")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ed25519 key made with gpg for this test; gpg reported this fingerprint.
    const KEY: &str = include_str!("testkey.asc");
    const FPR: &str = "01D02F76052A5B8DC7D9DBCF519653B98EAFD170";

    #[test]
    fn fingerprint_matches_gpgs_for_armoured_and_binary_keys() {
        assert_eq!(fingerprints(KEY.as_bytes()).expect("fpr"), vec![FPR]);
        let bin = dearmor(KEY.as_bytes()).expect("bin");
        assert_eq!(fingerprints(&bin).expect("fpr"), vec![FPR]);
        assert!(id_matches("0x8EAFD170", FPR));
        assert!(id_matches("519653B98EAFD170", FPR));
        assert!(!id_matches("DEADBEEF", FPR));
        assert!(fingerprints(b"hello").is_err());
    }
}
