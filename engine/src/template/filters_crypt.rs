//! `password_hash`: crypt(3) hashes as Ansible's filter makes them for the `user` module's
//! `password` (`$6$salt$…` SHA-512, `$5$salt$…` SHA-256) and bcrypt (`$2b$12$…`, the bcrypt
//! crate). The digest is the sha-crypt crate's;
//! the salt is used as given (not re-encoded). Without `rounds`, ansible-core 2.18 (passlib)
//! uses 656000 rounds for SHA-512 and 535000 for SHA-256; `rounds=N$` appears in the hash
//! unless N is crypt's implicit 5000, as passlib writes it.

use super::filters_strings::text;
use super::op_err;
use minijinja::value::{Kwargs, Value as MjValue};
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("password_hash", password_hash);
    env.add_filter("vault", vault);
    env.add_filter("unvault", unvault);
}

/// `vault(secret, salt=None, vault_id='filter_default')`: the value encrypted as a 1.2 vault
/// envelope labelled with `vault_id`, as ansible-core's filter makes it.
fn vault(v: &MjValue, secret: String, kwargs: Kwargs) -> Result<String, Error> {
    let salt = kwargs.get::<Option<String>>("salt")?;
    let id = vault_id(&kwargs)?;
    let _ = kwargs.get::<Option<bool>>("wrap_object")?;
    kwargs.assert_all_used()?;
    let data = text(v)?;
    let payload = match salt {
        Some(salt) => crate::vault::cipher::encrypt_with_salt(
            data.as_bytes(),
            secret.as_bytes(),
            salt.as_bytes(),
        ),
        None => crate::vault::cipher::encrypt(data.as_bytes(), secret.as_bytes())
            .map_err(|e| op_err(format!("vault: {e}")))?,
    };
    Ok(crate::vault::envelope(&payload, &id))
}

/// `unvault(secret, vault_id='filter_default')`: the plaintext of a vaulted string.
fn unvault(v: &MjValue, secret: String, kwargs: Kwargs) -> Result<String, Error> {
    let id = vault_id(&kwargs)?;
    kwargs.assert_all_used()?;
    let data = text(v)?;
    let secrets = [crate::vault::VaultSecret::new(id, secret.into_bytes())];
    let (plain, _) = crate::vault::decrypt_with(&data, &secrets)
        .map_err(|e| op_err(format!("Unable to decrypt: {e}")))?;
    String::from_utf8(plain.to_vec()).map_err(|_| op_err("unvault: the plaintext is not UTF-8"))
}

/// `vault_id` (or its old spelling `vaultid`), `filter_default` when neither is given.
fn vault_id(kwargs: &Kwargs) -> Result<String, Error> {
    let new = kwargs.get::<Option<String>>("vault_id")?;
    let old = kwargs.get::<Option<String>>("vaultid")?;
    Ok(new.or(old).unwrap_or_else(|| "filter_default".into()))
}

/// crypt's alphabet for salts and digests.
const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The order SHA-crypt emits digest bytes in (Drepper's specification), three at a time, the
/// first of each three the least significant.
const ORDER_512: [usize; 64] = [
    42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28, 29, 8,
    50, 51, 30, 9, 10, 52, 31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57, 36, 15, 16, 58,
    37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
];
const ORDER_256: [usize; 32] = [
    20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28,
    18, 29, 19, 9, 30, 31,
];

/// crypt(3)'s rounds when a hash names none.
const IMPLICIT_ROUNDS: u32 = 5000;
/// ansible-core's rounds when the filter is given none (`implicit_rounds` of its algorithms).
const DEFAULT_ROUNDS_512: u32 = 656_000;
const DEFAULT_ROUNDS_256: u32 = 535_000;

/// crypt's base64 of the digest bytes taken in `order`.
fn encode(digest: &[u8], order: &[usize]) -> String {
    let mut out = String::new();
    for group in order.chunks(3) {
        let w = group.iter().enumerate().fold(0u32, |acc, (i, &at)| {
            acc | (u32::from(digest[at]) << (8 * i))
        });
        for k in 0..=group.len() {
            out.push(ALPHABET[((w >> (6 * k)) & 0x3f) as usize] as char);
        }
    }
    out
}

/// The SHA-crypt hash of `password` with `salt` (at most 16 characters are used).
pub fn sha_crypt(
    password: &[u8],
    salt: &str,
    rounds: Option<u32>,
    sha512: bool,
) -> Result<String, Error> {
    let salt: String = salt.chars().take(16).collect();
    let r = rounds.unwrap_or(if sha512 {
        DEFAULT_ROUNDS_512
    } else {
        DEFAULT_ROUNDS_256
    });
    let params = sha_crypt::Params::new(r).map_err(|_| {
        op_err(format!(
            "rounds must be between 1000 and 999999999, not {r}"
        ))
    })?;
    let (ident, body) = if sha512 {
        (
            "6",
            encode(
                &sha_crypt::sha512_crypt(password, salt.as_bytes(), params),
                &ORDER_512,
            ),
        )
    } else {
        (
            "5",
            encode(
                &sha_crypt::sha256_crypt(password, salt.as_bytes(), params),
                &ORDER_256,
            ),
        )
    };
    Ok(if r == IMPLICIT_ROUNDS {
        format!("${ident}${salt}${body}")
    } else {
        format!("${ident}$rounds={r}${salt}${body}")
    })
}

/// `password | password_hash(hashtype='sha512', salt=None, rounds=None)`.
fn password_hash(
    v: &MjValue,
    hashtype: Option<String>,
    salt: Option<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let password = text(v)?;
    let hashtype = match hashtype {
        Some(h) => h,
        None => kwargs
            .get::<Option<String>>("hashtype")?
            .unwrap_or_else(|| "sha512".into()),
    };
    let salt = match salt {
        Some(s) => Some(s),
        None => kwargs.get::<Option<MjValue>>("salt")?,
    }
    .filter(|s| !s.is_none());
    let salt_size = kwargs
        .get::<Option<usize>>("salt_size")?
        .unwrap_or(16)
        .clamp(1, 16);
    let rounds = kwargs.get::<Option<u32>>("rounds")?;
    let ident = kwargs.get::<Option<String>>("ident")?;
    kwargs.assert_all_used()?;
    let salt = match salt {
        Some(s) => {
            let s = text(&s)?;
            if let Some(bad) = s
                .chars()
                .find(|c| !c.is_ascii() || !ALPHABET.contains(&(*c as u8)))
            {
                return Err(op_err(format!(
                    "invalid characters in salt: {bad:?} (allowed: ./0-9A-Za-z)"
                )));
            }
            s
        }
        None if matches!(hashtype.as_str(), "bcrypt" | "blowfish") => random_salt(22)?,
        None => random_salt(salt_size)?,
    };
    if matches!(hashtype.as_str(), "bcrypt" | "blowfish") {
        return bcrypt_hash(password.as_bytes(), &salt, rounds, ident.as_deref())
            .map(MjValue::from);
    }
    let sha512 = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => true,
        "sha256" | "sha256_crypt" => false,
        other => {
            return Err(op_err(format!(
            "password_hash: {other} is not supported (kplay makes sha512 and sha256 crypt hashes)"
        )))
        }
    };
    sha_crypt(password.as_bytes(), &salt, rounds, sha512).map(MjValue::from)
}

/// bcrypt's base64 alphabet (standard bit order, its own characters).
const BCRYPT_ALPHABET: &[u8; 64] =
    b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `password_hash('bcrypt')` as passlib makes it for ansible-core: ident `2b` (or `ident=`),
/// cost 12 (or `rounds=`), a 22-character salt whose last character's unused bits are cleared.
fn bcrypt_hash(
    password: &[u8],
    salt: &str,
    rounds: Option<u32>,
    ident: Option<&str>,
) -> Result<String, Error> {
    let cost = rounds.unwrap_or(12);
    if !(4..=31).contains(&cost) {
        return Err(op_err(format!(
            "bcrypt rounds must be between 4 and 31, not {cost}"
        )));
    }
    let version = match ident.unwrap_or("2b") {
        "2a" => bcrypt::Version::TwoA,
        "2b" => bcrypt::Version::TwoB,
        "2x" => bcrypt::Version::TwoX,
        "2y" => bcrypt::Version::TwoY,
        other => return Err(op_err(format!("invalid bcrypt ident {other:?}"))),
    };
    if salt.len() != 22 {
        return Err(op_err(format!(
            "bcrypt salt must be 22 characters of ./A-Za-z0-9, not {}",
            salt.len()
        )));
    }
    let mut acc: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for c in salt.bytes() {
        let v = BCRYPT_ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| op_err(format!("invalid character {:?} in bcrypt salt", c as char)))?;
        acc = (acc << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 && out.len() < 16 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    let salt: [u8; 16] = out
        .try_into()
        .map_err(|_| op_err("bcrypt salt does not decode to 16 bytes"))?;
    let parts =
        bcrypt::hash_with_salt(password, cost, salt).map_err(|e| op_err(format!("bcrypt: {e}")))?;
    Ok(parts.format_for_version(version))
}

/// A password hashed as the `password` lookup's `encrypt=` asks (`sha512_crypt`,
/// `sha256_crypt`, `bcrypt`), with a given salt or a random one.
pub(super) fn hash_password(pw: &str, hashtype: &str, salt: Option<&str>) -> Result<String, Error> {
    let kwargs = Kwargs::from_iter(std::iter::empty::<(&str, MjValue)>());
    password_hash(
        &MjValue::from(pw),
        Some(hashtype.to_string()),
        salt.map(MjValue::from),
        kwargs,
    )
    .map(|v| v.to_string())
}

fn random_salt(n: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; n];
    crate::vault::cipher::random_bytes(&mut buf).map_err(|e| op_err(format!("random: {e}")))?;
    Ok(buf
        .iter()
        .map(|b| ALPHABET[usize::from(b & 0x3f)] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_and_unvault_filters_round_trip() {
        let mut env = Environment::new();
        register(&mut env);
        let out = env
            .render_str("{{ 'top secret' | vault('pw', vault_id='x') }}", ())
            .unwrap_or_default();
        assert!(out.starts_with("$ANSIBLE_VAULT;1.2;AES256;x\n"), "{out}");
        let back = env
            .render_str("{{ v | unvault('pw') }}", minijinja::context! { v => out })
            .unwrap_or_default();
        assert_eq!(back, "top secret");
        let wrong = env.render_str(
            "{{ v | unvault('nope') }}",
            minijinja::context! { v => "$ANSIBLE_VAULT;1.1;AES256\n3031\n" },
        );
        assert!(wrong.is_err());
    }

    const SHA512_SECRET_MYSALT: &str = "$6$mysalt$UX6P1VKOf6dr0s2pg4pLNvIUB6hLXvP6M5f/Yj9hJgMPdAJ4oArvk5YUD9/XWtk1JOpVwt/JTsczMJr8sFVML1";
    const SHA256_SECRET_MYSALT: &str = "$5$mysalt$I2SNajjJ3Gc5gIR/tkrLOGngF8wqv59buJCqxh.o9s8";
    const SHA512_ROUNDS: &str = "$6$rounds=10000$mysalt$9XTP7570fxVN/uTspSrH6kRPdR4KKGzGz7.TmJjDYGrKSwZuavW/3YaLur8JX6WP75Czcxa.megIO0lKreY0R.";
    const SHA256_DEFAULT: &str =
        "$5$rounds=535000$mysalt$GnEktJhWXRuwViyPsEWK9s63HYW1GqXFqU5SdKDqol6";

    /// Expected values: glibc's crypt(3) and passlib 1.7 (what ansible-core 2.18 uses) agree
    /// on these.
    #[test]
    fn matches_crypt_and_passlib() {
        let h = |pw: &[u8], rounds, sha512| sha_crypt(pw, "mysalt", rounds, sha512).unwrap();
        assert_eq!(h(b"secret", Some(5000), true), SHA512_SECRET_MYSALT);
        assert_eq!(h(b"secret", Some(5000), false), SHA256_SECRET_MYSALT);
        assert_eq!(h(b"secret", Some(10000), true), SHA512_ROUNDS);
        // ansible-core's default rounds, written into the hash.
        assert_eq!(h(b"secret", None, false), SHA256_DEFAULT);
    }

    /// passlib (ansible-core 2.18's backend, with the bcrypt module) made these.
    #[test]
    fn bcrypt_matches_passlib() {
        let salt = "abcdefghijklmnopqrstuu";
        assert_eq!(
            bcrypt_hash(b"secret", salt, Some(4), None).unwrap(),
            "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"
        );
        // The last character's spare bits are cleared ('v' → 'u'), as passlib repairs it.
        assert_eq!(
            bcrypt_hash(b"secret", "abcdefghijklmnopqrstuv", Some(4), Some("2a")).unwrap(),
            "$2a$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"
        );
        assert!(bcrypt_hash(b"secret", "short", None, None).is_err());
    }

    #[test]
    fn filter_arguments() {
        let mut env = Environment::new();
        register(&mut env);
        let r = |e: &str| env.render_str(e, ()).unwrap();
        assert_eq!(
            r("{{ 'secret' | password_hash('sha512', 'mysalt', rounds=5000) }}"),
            SHA512_SECRET_MYSALT
        );
        assert_eq!(
            r("{{ 'secret' | password_hash(hashtype='sha256', salt='mysalt', rounds=5000) }}"),
            SHA256_SECRET_MYSALT
        );
        let random = r("{{ 'secret' | password_hash('bcrypt', rounds=4) }}");
        assert!(
            random.starts_with("$2b$04$") && random.len() == 60,
            "{random}"
        );
        let random = r("{{ 'secret' | password_hash('sha512', rounds=5000) }}");
        assert!(
            random.starts_with("$6$") && random.len() == 3 + 16 + 1 + 86,
            "{random}"
        );
        assert!(env
            .render_str("{{ 'x' | password_hash('md5') }}", ())
            .is_err());
        assert!(env
            .render_str("{{ 'x' | password_hash('sha512', 'bad salt') }}", ())
            .is_err());
    }
}
