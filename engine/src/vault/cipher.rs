//! The AES256 vault cipher as Ansible documents it (format 1.1 and 1.2 share it):
//!
//! - 32 random bytes of salt; PBKDF2-HMAC-SHA256 with 10 000 iterations turns password + salt
//!   into 80 bytes: an AES-256 key, an HMAC-SHA256 key and a 16-byte initial counter.
//! - The plaintext is padded to the AES block size (PKCS#7) and encrypted with AES-256 in CTR
//!   mode (128-bit big-endian counter); the HMAC covers the ciphertext.
//! - The payload is `hex(salt) \n hex(hmac) \n hex(ciphertext)`, hex-encoded once more.
//!
//! The HMAC is checked in constant time before anything is decrypted, so a wrong password or a
//! damaged file is refused without producing garbage.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = hmac::Hmac<sha2_11::Sha256>;

const ITERATIONS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const SALT_LEN: usize = 32;
const BLOCK: usize = 16;

/// Why a payload could not be decrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// The HMAC did not match: wrong password (or the data was changed).
    WrongPassword,
    /// The payload is not what the format says (bad hex, missing parts, bad padding).
    Malformed(&'static str),
}

struct Keys {
    cipher: Zeroizing<[u8; KEY_LEN]>,
    mac: Zeroizing<[u8; KEY_LEN]>,
    iv: [u8; IV_LEN],
}

fn derive(password: &[u8], salt: &[u8]) -> Keys {
    let mut out = Zeroizing::new([0u8; 2 * KEY_LEN + IV_LEN]);
    pbkdf2::pbkdf2_hmac::<sha2_11::Sha256>(password, salt, ITERATIONS, out.as_mut_slice());
    let mut keys = Keys {
        cipher: Zeroizing::new([0u8; KEY_LEN]),
        mac: Zeroizing::new([0u8; KEY_LEN]),
        iv: [0u8; IV_LEN],
    };
    keys.cipher.copy_from_slice(&out[..KEY_LEN]);
    keys.mac.copy_from_slice(&out[KEY_LEN..2 * KEY_LEN]);
    keys.iv.copy_from_slice(&out[2 * KEY_LEN..]);
    keys
}

fn new_cipher(keys: &Keys) -> Aes256Ctr {
    // Both lengths are fixed by the types above, so this cannot fail.
    Aes256Ctr::new_from_slices(keys.cipher.as_slice(), &keys.iv).expect("AES-256 key and IV sizes")
}

fn mac_of(key: &[u8], data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

/// Encrypt `plaintext` with `password` and a fresh random salt; returns the hex payload (one
/// line, not yet wrapped).
pub fn encrypt(plaintext: &[u8], password: &[u8]) -> std::io::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt)?;
    Ok(encrypt_with_salt(plaintext, password, &salt))
}

/// [`encrypt`] with a given salt (tests compare against known vectors with it).
pub fn encrypt_with_salt(plaintext: &[u8], password: &[u8], salt: &[u8]) -> String {
    let keys = derive(password, salt);
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad));
    buf.extend_from_slice(plaintext);
    buf.resize(plaintext.len() + pad, pad as u8);
    let mut cipher = new_cipher(&keys);
    cipher.apply_keystream(&mut buf);
    let tag = mac_of(keys.mac.as_slice(), &buf).finalize().into_bytes();
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag),
        hex::encode(&*buf)
    );
    hex::encode(inner)
}

/// Decrypt a hex payload (whitespace already removed) with `password`.
pub fn decrypt(payload: &str, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let inner = hex::decode(payload.trim()).map_err(|_| DecryptError::Malformed("not hex"))?;
    let inner =
        String::from_utf8(inner).map_err(|_| DecryptError::Malformed("payload is not text"))?;
    let mut parts = inner.split('\n');
    let (Some(salt), Some(tag), Some(data), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DecryptError::Malformed(
            "payload does not have salt, HMAC and ciphertext",
        ));
    };
    let salt = hex::decode(salt).map_err(|_| DecryptError::Malformed("salt is not hex"))?;
    let tag = hex::decode(tag).map_err(|_| DecryptError::Malformed("HMAC is not hex"))?;
    let data = hex::decode(data).map_err(|_| DecryptError::Malformed("ciphertext is not hex"))?;
    let keys = derive(password, &salt);
    mac_of(keys.mac.as_slice(), &data)
        .verify_slice(&tag)
        .map_err(|_| DecryptError::WrongPassword)?;
    let mut buf = Zeroizing::new(data);
    let mut cipher = new_cipher(&keys);
    cipher.apply_keystream(&mut buf);
    let pad = buf.last().copied().unwrap_or(0) as usize;
    if pad == 0
        || pad > BLOCK
        || pad > buf.len()
        || buf[buf.len() - pad..].iter().any(|&b| b as usize != pad)
    {
        return Err(DecryptError::Malformed("bad padding"));
    }
    let keep = buf.len() - pad;
    buf.truncate(keep);
    Ok(buf)
}

/// Bytes from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}
