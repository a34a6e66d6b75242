//! The cryptography of `x509_cert`, free of any host I/O: make or load a private key, issue a
//! certificate from a [`CertSpec`], and tell why an existing certificate no longer fits one.
//! rcgen builds and signs (ring underneath), x509-parser reads, the `rsa` crate generates RSA
//! keys (ring cannot). Nothing here formats key material into an error or a result.

use super::spec::{CertSpec, Eku, KeyType, KeyUsage, San};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use std::collections::BTreeSet;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// A failure of the cryptographic part, worded for the task's error message.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("could not generate a {0} private key: {1}")]
    Generate(&'static str, String),
    #[error("{0} is not a PEM private key kplay can read (PKCS#8 \"PRIVATE KEY\", ECDSA P-256/P-384, RSA or Ed25519)")]
    BadKey(String),
    #[error("{0} is not a PEM certificate: {1}")]
    BadCert(String, String),
    #[error("could not issue the certificate: {0}")]
    Issue(String),
}

/// How far back a new certificate's `notBefore` lies, so nodes whose clocks trail the issuer's
/// by a little still accept it (kubeadm does the same).
const BACKDATE: Duration = Duration::minutes(5);

/// A newly generated key pair of `ty`.
pub fn generate_key(ty: KeyType) -> Result<KeyPair, CryptoError> {
    match ty {
        KeyType::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CryptoError::Generate("ECDSA P-256", e.to_string())),
        KeyType::Rsa(bits) => {
            use rsa::pkcs8::EncodePrivateKey;
            let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
            let key = rsa::RsaPrivateKey::new(&mut rng, bits as usize)
                .map_err(|e| CryptoError::Generate("RSA", e.to_string()))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| CryptoError::Generate("RSA", e.to_string()))?;
            KeyPair::try_from(der.as_bytes())
                .map_err(|e| CryptoError::Generate("RSA", e.to_string()))
        }
    }
}

/// Parse a PEM private key read from `path` (the path only names it in errors).
pub fn load_key(pem: &[u8], path: &str) -> Result<KeyPair, CryptoError> {
    let text = std::str::from_utf8(pem).map_err(|_| CryptoError::BadKey(path.to_string()))?;
    KeyPair::from_pem(text).map_err(|_| CryptoError::BadKey(path.to_string()))
}

/// Whether `key` is of the type the task asks for (an RSA key of another size counts as another type).
pub fn key_matches(key: &KeyPair, ty: KeyType) -> bool {
    match ty {
        KeyType::Ecdsa => key.algorithm() == &PKCS_ECDSA_P256_SHA256,
        KeyType::Rsa(bits) => {
            rsa_bits(key).is_some_and(|b| b == bits as usize)
                && key.algorithm() == &rcgen::PKCS_RSA_SHA256
        }
    }
}

/// The modulus size of an RSA key pair, read from its public key.
fn rsa_bits(key: &KeyPair) -> Option<usize> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    let k = rsa::RsaPublicKey::from_pkcs1_der(key.der_bytes()).ok()?;
    Some(k.size() * 8)
}

/// The issuing side of an `ownca` certificate: the CA certificate (PEM) and its key.
pub struct Ca<'a> {
    pub cert_pem: &'a str,
    pub key: &'a KeyPair,
}

/// A new PEM certificate for `spec` and `key`, self-signed (`ca: None`) or signed by the CA.
pub fn issue(
    spec: &CertSpec,
    key: &KeyPair,
    ca: Option<&Ca<'_>>,
    now: OffsetDateTime,
) -> Result<String, CryptoError> {
    let err = |e: rcgen::Error| CryptoError::Issue(e.to_string());
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, spec.common_name.as_str());
    for o in &spec.organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, o.as_str());
    }
    params.subject_alt_names = spec
        .sans
        .iter()
        .map(|s| match s {
            San::Dns(d) => Ok(SanType::DnsName(d.as_str().try_into().map_err(err)?)),
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, CryptoError>>()?;
    params.is_ca = if spec.is_ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    params.key_usages = spec.key_usage.iter().map(|u| u.rcgen()).collect();
    params.extended_key_usages = spec.extended_key_usage.iter().map(|e| e.rcgen()).collect();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(spec.valid_days));
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = ca.is_some();
    let cert = match ca {
        None => params.self_signed(key).map_err(err)?,
        Some(ca) => {
            let issuer = Issuer::from_ca_cert_pem(ca.cert_pem, ca.key).map_err(err)?;
            params.signed_by(key, &issuer).map_err(err)?
        }
    };
    Ok(cert.pem())
}

/// 16 random bytes, positive as DER integers must be for a serial number.
fn random_serial() -> Result<SerialNumber, CryptoError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| CryptoError::Issue(e.to_string()))?;
    b[0] &= 0x7f;
    b[0] |= 0x01;
    Ok(SerialNumber::from_slice(&b))
}

/// What an existing certificate says, for results and diffs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub sans: Vec<String>,
}

/// Parse the first certificate of a PEM file.
pub fn parse_pem(pem: &[u8], path: &str) -> Result<x509_parser::pem::Pem, CryptoError> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|e| CryptoError::BadCert(path.to_string(), e.to_string()))?;
    if p.label != "CERTIFICATE" {
        return Err(CryptoError::BadCert(
            path.to_string(),
            format!("found a {} block", p.label),
        ));
    }
    Ok(p)
}

/// Decode a PEM block's certificate.
pub fn decode<'a>(
    pem: &'a x509_parser::pem::Pem,
    path: &str,
) -> Result<X509Certificate<'a>, CryptoError> {
    pem.parse_x509()
        .map_err(|e| CryptoError::BadCert(path.to_string(), e.to_string()))
}

/// Subject, issuer, serial, validity and SANs of `c`.
pub fn info(c: &X509Certificate<'_>) -> CertInfo {
    CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: c.raw_serial_as_string(),
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
        sans: cert_sans(c).iter().map(San::to_string).collect(),
    }
}

fn cert_sans(c: &X509Certificate<'_>) -> BTreeSet<San> {
    let mut out = BTreeSet::new();
    if let Ok(Some(ext)) = c.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => {
                    out.insert(San::Dns(d.to_string()));
                }
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        out.insert(San::Ip(ip));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn cert_key_usage(c: &X509Certificate<'_>) -> BTreeSet<KeyUsage> {
    let Ok(Some(ku)) = c.key_usage() else {
        return BTreeSet::new();
    };
    let ku = ku.value;
    let pairs = [
        (ku.digital_signature(), KeyUsage::DigitalSignature),
        (ku.non_repudiation(), KeyUsage::ContentCommitment),
        (ku.key_encipherment(), KeyUsage::KeyEncipherment),
        (ku.data_encipherment(), KeyUsage::DataEncipherment),
        (ku.key_agreement(), KeyUsage::KeyAgreement),
        (ku.key_cert_sign(), KeyUsage::KeyCertSign),
        (ku.crl_sign(), KeyUsage::CrlSign),
    ];
    flagged(pairs)
}

/// The usages whose flag the certificate sets.
fn flagged<T: Ord>(pairs: impl IntoIterator<Item = (bool, T)>) -> BTreeSet<T> {
    pairs
        .into_iter()
        .filter_map(|(on, u)| on.then_some(u))
        .collect()
}

fn cert_eku(c: &X509Certificate<'_>) -> BTreeSet<Eku> {
    let Ok(Some(e)) = c.extended_key_usage() else {
        return BTreeSet::new();
    };
    let e = e.value;
    flagged([
        (e.server_auth, Eku::ServerAuth),
        (e.client_auth, Eku::ClientAuth),
        (e.code_signing, Eku::CodeSigning),
        (e.email_protection, Eku::EmailProtection),
        (e.time_stamping, Eku::TimeStamping),
        (e.ocsp_signing, Eku::OcspSigning),
    ])
}

fn name_values<'a>(
    it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> Vec<String> {
    it.filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect()
}

/// Why `cert` (with private key `key`) does not satisfy `spec`, issued by `issuer` (`None`:
/// self-signed), at `now`. Empty: it fits and is left alone.
pub fn mismatches(
    spec: &CertSpec,
    cert: &X509Certificate<'_>,
    key: &KeyPair,
    issuer: Option<&X509Certificate<'_>>,
    now: OffsetDateTime,
) -> Vec<String> {
    let mut why = Vec::new();
    if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        why.push("the certificate is not for the private key".to_string());
    }
    let cn = name_values(cert.subject().iter_common_name());
    if cn != [spec.common_name.clone()] {
        why.push(format!(
            "common name {cn:?} differs from {:?}",
            spec.common_name
        ));
    }
    let org = name_values(cert.subject().iter_organization());
    if org != spec.organization {
        why.push(format!(
            "organization {org:?} differs from {:?}",
            spec.organization
        ));
    }
    let have = cert_sans(cert);
    let want: BTreeSet<San> = spec.sans.iter().cloned().collect();
    if have != want {
        let show = |s: &BTreeSet<San>| s.iter().map(San::to_string).collect::<Vec<_>>();
        why.push(format!(
            "subject alternative names {:?} differ from {:?}",
            show(&have),
            show(&want)
        ));
    }
    if cert.is_ca() != spec.is_ca {
        why.push(format!("CA flag is {} (want {})", cert.is_ca(), spec.is_ca));
    }
    let ku: BTreeSet<KeyUsage> = spec.key_usage.iter().copied().collect();
    if cert_key_usage(cert) != ku {
        why.push("key usages differ".to_string());
    }
    let eku: BTreeSet<Eku> = spec.extended_key_usage.iter().copied().collect();
    if cert_eku(cert) != eku {
        why.push("extended key usages differ".to_string());
    }
    match issuer {
        None => {
            if cert.issuer().as_raw() != cert.subject().as_raw()
                || cert.verify_signature(None).is_err()
            {
                why.push("the certificate is not self-signed".to_string());
            }
        }
        Some(ca) => {
            if cert.issuer().as_raw() != ca.subject().as_raw()
                || cert.verify_signature(Some(ca.public_key())).is_err()
            {
                why.push("the certificate is not signed by the CA".to_string());
            }
        }
    }
    let now_ts = now.unix_timestamp();
    if cert.validity().not_before.timestamp() > now_ts + BACKDATE.whole_seconds() {
        why.push("the certificate is not valid yet".to_string());
    }
    let margin = i64::from(spec.renew_margin_days) * 86_400;
    if cert.validity().not_after.timestamp() - now_ts <= margin {
        why.push(format!(
            "the certificate expires within {} days",
            spec.renew_margin_days
        ));
    }
    why
}

impl KeyUsage {
    fn rcgen(self) -> KeyUsagePurpose {
        match self {
            KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            KeyUsage::ContentCommitment => KeyUsagePurpose::ContentCommitment,
            KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            KeyUsage::DataEncipherment => KeyUsagePurpose::DataEncipherment,
            KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
            KeyUsage::KeyCertSign => KeyUsagePurpose::KeyCertSign,
            KeyUsage::CrlSign => KeyUsagePurpose::CrlSign,
        }
    }
}

impl Eku {
    fn rcgen(self) -> ExtendedKeyUsagePurpose {
        match self {
            Eku::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Eku::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            Eku::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
            Eku::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
            Eku::TimeStamping => ExtendedKeyUsagePurpose::TimeStamping,
            Eku::OcspSigning => ExtendedKeyUsagePurpose::OcspSigning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagged_keeps_the_usages_whose_flag_is_set() {
        let got = flagged([(true, Eku::ClientAuth), (false, Eku::ServerAuth), (true, Eku::CodeSigning)]);
        assert_eq!(got, BTreeSet::from([Eku::ClientAuth, Eku::CodeSigning]));
    }
}
