//! What an `x509_cert` task asks for, checked before anything touches the host: the key type,
//! the subject, SANs, usages, validity and where the issuer lives.

use crate::common::args::{p, Args, Param, Spec, FILE_COMMON};
use crate::common::mode::ModeSpec;
use kplay_engine::module::ModuleError;
use std::fmt;
use std::net::IpAddr;

pub const PARAMS: &[Param] = &[
    p("path", &["dest"]).doc("Where the certificate (PEM) is written."),
    p("privatekey_path", &[])
        .doc("Where the private key (PEM) is read from, or written when missing."),
    p("privatekey_type", &["type"])
        .choices(&["ECC", "ECDSA", "RSA"])
        .doc("Key type for a new key: `ECC`/`ECDSA` (P-256) or `RSA`."),
    p("privatekey_size", &["size"])
        .int()
        .default_int(2048)
        .doc("RSA key size."),
    p("privatekey_mode", &[]).doc("Mode of a new private key (default 0600)."),
    p("provider", &[])
        .choices(&["selfsigned", "ownca"])
        .doc("`selfsigned` or `ownca` (signed by `ownca_path`'s CA)."),
    p("ownca_path", &[]).doc("CA certificate on the host (provider=ownca)."),
    p("ownca_privatekey_path", &[]).doc("CA private key on the host (provider=ownca)."),
    p("common_name", &["CN", "commonName"]).doc("Subject CN."),
    p("organization_name", &["O", "organizationName"])
        .list()
        .doc("Subject O (a list for several)."),
    p("subject_alt_name", &["subjectAltName"])
        .list()
        .doc("SANs: `DNS:name` or `IP:address`."),
    p("is_ca", &[])
        .flag(false)
        .doc("Make a CA certificate (basicConstraints CA:TRUE)."),
    p("key_usage", &["keyUsage"])
        .list()
        .doc("keyUsage values (`digitalSignature`, `keyEncipherment`, `keyCertSign` …)."),
    p("extended_key_usage", &["extendedKeyUsage"])
        .list()
        .doc("extendedKeyUsage values (`serverAuth`, `clientAuth`)."),
    p("valid_days", &[])
        .int()
        .default_int(3650)
        .doc("Validity in days."),
    p("renew_margin_days", &[])
        .int()
        .default_int(30)
        .doc("Reissue when the certificate expires within this many days (default 30)."),
    p("force", &[]).flag(false).doc("Always reissue."),
    p("backup", &[])
        .flag(false)
        .doc("Keep a timestamped copy of a replaced certificate."),
    p("return_content", &[])
        .flag(false)
        .doc("Return the certificate as `certificate` (never the key)."),
];

/// `x509_cert`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "x509_cert",
    "Generate a self-signed or CA-signed X.509 certificate and its private key",
    &[PARAMS, FILE_COMMON],
);

/// The private key's kind. RSA carries its modulus size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ecdsa,
    Rsa(u32),
}

impl KeyType {
    pub fn name(self) -> String {
        match self {
            KeyType::Ecdsa => "ECDSA P-256".to_string(),
            KeyType::Rsa(b) => format!("RSA {b}"),
        }
    }
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

impl San {
    /// `DNS:name`, `IP:addr`, or a bare value (an address when it parses as one).
    fn parse(s: &str) -> Result<San, String> {
        let (kind, v) = match s.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("dns") => ("dns", v),
            Some((k, v)) if k.eq_ignore_ascii_case("ip") => ("ip", v),
            _ if s.parse::<IpAddr>().is_ok() => ("ip", s),
            Some((k, _)) if !k.contains('.') && s.parse::<IpAddr>().is_err() => {
                return Err(format!(
                    "subject_alt_name {s:?}: only DNS: and IP: names are supported"
                ))
            }
            _ => ("dns", s),
        };
        match kind {
            "ip" => v
                .trim()
                .parse()
                .map(San::Ip)
                .map_err(|_| format!("subject_alt_name {s:?} is not an IP address")),
            _ => {
                let v = v.trim().to_ascii_lowercase();
                let ok = !v.is_empty()
                    && v.len() <= 253
                    && v.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
                    });
                if ok {
                    Ok(San::Dns(v))
                } else {
                    Err(format!("subject_alt_name {s:?} is not a DNS name"))
                }
            }
        }
    }
}

/// A usage name as the usage tables match it: letters and digits only, lower case, so
/// `Digital Signature`, `digitalSignature` and `digital_signature` are one name.
fn usage_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Key usages (RFC 5280 4.2.1.3), in the names openssl and community.crypto use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyUsage {
    DigitalSignature,
    ContentCommitment,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
    KeyCertSign,
    CrlSign,
}

impl KeyUsage {
    fn parse(s: &str) -> Option<KeyUsage> {
        Some(match usage_key(s).as_str() {
            "digitalsignature" => KeyUsage::DigitalSignature,
            "nonrepudiation" | "contentcommitment" => KeyUsage::ContentCommitment,
            "keyencipherment" => KeyUsage::KeyEncipherment,
            "dataencipherment" => KeyUsage::DataEncipherment,
            "keyagreement" => KeyUsage::KeyAgreement,
            "keycertsign" | "certificatesign" => KeyUsage::KeyCertSign,
            "crlsign" => KeyUsage::CrlSign,
            _ => return None,
        })
    }
}

/// Extended key usages; `server`/`client` are accepted as short forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Eku {
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    TimeStamping,
    OcspSigning,
}

impl Eku {
    fn parse(s: &str) -> Option<Eku> {
        Some(match usage_key(s).as_str() {
            "server" | "serverauth" | "tlswebserverauthentication" => Eku::ServerAuth,
            "client" | "clientauth" | "tlswebclientauthentication" => Eku::ClientAuth,
            "codesigning" => Eku::CodeSigning,
            "emailprotection" => Eku::EmailProtection,
            "timestamping" => Eku::TimeStamping,
            "ocspsigning" => Eku::OcspSigning,
            _ => return None,
        })
    }
}

/// The certificate to have.
#[derive(Debug, Clone, PartialEq)]
pub struct CertSpec {
    pub common_name: String,
    pub organization: Vec<String>,
    pub sans: Vec<San>,
    pub is_ca: bool,
    pub key_usage: Vec<KeyUsage>,
    pub extended_key_usage: Vec<Eku>,
    pub valid_days: u32,
    pub renew_margin_days: u32,
}

/// Who signs.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    SelfSigned,
    OwnCa { cert: String, key: String },
}

/// Every checked argument.
#[derive(Debug, Clone)]
pub struct TaskArgs {
    pub path: String,
    pub key_path: String,
    pub key_type: KeyType,
    pub key_mode: ModeSpec,
    pub cert_mode: ModeSpec,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub provider: Provider,
    pub spec: CertSpec,
    pub force: bool,
    pub backup: bool,
    pub return_content: bool,
}

/// The list argument `name`, each item through `parse`, in order, without repeats: the first
/// item that does not parse is the error.
fn parsed_list<T: PartialEq>(
    a: &Args,
    name: &str,
    parse: impl Fn(&str) -> Result<T, ModuleError>,
) -> Result<Vec<T>, ModuleError> {
    let mut out = Vec::new();
    for s in a.list(name) {
        let item = parse(&s)?;
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

fn mode(a: &Args, name: &str, default: u32) -> Result<ModeSpec, ModuleError> {
    match a.raw(name) {
        None => Ok(ModeSpec::Octal(default)),
        Some(v) => ModeSpec::parse(v, false).map_err(|e| ModuleError::new(e.to_string())),
    }
}

impl TaskArgs {
    pub fn parse(a: &Args) -> Result<TaskArgs, ModuleError> {
        a.require(&["path", "privatekey_path", "common_name"])?;
        let path = a.str("path")?.unwrap_or_default();
        let key_path = a.str("privatekey_path")?.unwrap_or_default();
        if path == key_path {
            return Err(ModuleError::new(
                "path and privatekey_path must be different files",
            ));
        }
        let key_type = match a
            .choice("privatekey_type", &["ECC", "ECDSA", "RSA"])?
            .as_deref()
        {
            Some("RSA") => {
                let bits = a.u32("privatekey_size")?.unwrap_or(2048);
                if ![2048, 3072, 4096].contains(&bits) {
                    return Err(ModuleError::new(format!(
                        "privatekey_size must be 2048, 3072 or 4096, got {bits}"
                    )));
                }
                KeyType::Rsa(bits)
            }
            _ => KeyType::Ecdsa,
        };
        let provider = match a.choice("provider", &["selfsigned", "ownca"])?.as_deref() {
            Some("selfsigned") => Provider::SelfSigned,
            Some(_) => {
                a.require(&["ownca_path", "ownca_privatekey_path"])?;
                own_ca(a)?
            }
            None if a.has("ownca_path") => own_ca(a)?,
            None => Provider::SelfSigned,
        };
        if let Provider::OwnCa { cert, key } = &provider {
            if [cert, key].contains(&&path) || [cert, key].contains(&&key_path) {
                return Err(ModuleError::new(
                    "an ownca certificate cannot overwrite the CA's own files",
                ));
            }
        }
        let sans = parsed_list(a, "subject_alt_name", |s| {
            San::parse(s).map_err(ModuleError::new)
        })?;
        let mut key_usage = parsed_list(a, "key_usage", |s| {
            KeyUsage::parse(s).ok_or_else(|| ModuleError::new(format!("unknown key_usage {s:?}")))
        })?;
        let extended_key_usage = parsed_list(a, "extended_key_usage", |s| {
            Eku::parse(s)
                .ok_or_else(|| ModuleError::new(format!("unknown extended_key_usage {s:?}")))
        })?;
        let is_ca = a.flag("is_ca");
        if is_ca && key_usage.is_empty() {
            key_usage = vec![
                KeyUsage::DigitalSignature,
                KeyUsage::KeyCertSign,
                KeyUsage::CrlSign,
            ];
        }
        let valid_days = a.u32("valid_days")?.unwrap_or(3650);
        let renew_margin_days = a.u32("renew_margin_days")?.unwrap_or(30);
        if valid_days == 0 || valid_days <= renew_margin_days {
            return Err(ModuleError::new(format!(
                "valid_days ({valid_days}) must be more than renew_margin_days ({renew_margin_days}), or every run would reissue the certificate"
            )));
        }
        let common_name = a.str("common_name")?.unwrap_or_default();
        if common_name.is_empty() {
            return Err(ModuleError::new("common_name must not be empty"));
        }
        Ok(TaskArgs {
            path,
            key_path,
            key_type,
            key_mode: mode(a, "privatekey_mode", 0o600)?,
            cert_mode: mode(a, "mode", 0o644)?,
            owner: a.str("owner")?,
            group: a.str("group")?,
            provider,
            spec: CertSpec {
                common_name,
                organization: a.list("organization_name"),
                sans,
                is_ca,
                key_usage,
                extended_key_usage,
                valid_days,
                renew_margin_days,
            },
            force: a.flag("force"),
            backup: a.flag("backup"),
            return_content: a.flag("return_content"),
        })
    }
}

fn own_ca(a: &Args) -> Result<Provider, ModuleError> {
    a.require(&["ownca_path", "ownca_privatekey_path"])?;
    Ok(Provider::OwnCa {
        cert: a.str("ownca_path")?.unwrap_or_default(),
        key: a.str("ownca_privatekey_path")?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_lists_keep_the_first_of_each_item_and_fail_on_a_bad_one() {
        let a = SPEC
            .parse(crate::testutil::args(serde_json::json!({
                "path": "/c", "privatekey_path": "/k",
                "key_usage": ["keyCertSign", "digitalSignature", "Key Cert Sign"],
                "extended_key_usage": ["serverAuth", "nope"]
            })))
            .unwrap();
        let ku = parsed_list(&a, "key_usage", |s| {
            KeyUsage::parse(s).ok_or_else(|| ModuleError::new(format!("bad {s}")))
        });
        assert_eq!(ku.unwrap(), [KeyUsage::KeyCertSign, KeyUsage::DigitalSignature]);
        let eku = parsed_list(&a, "extended_key_usage", |s| {
            Eku::parse(s).ok_or_else(|| ModuleError::new(format!("bad {s}")))
        });
        assert_eq!(eku.unwrap_err().msg, "bad nope");
    }

    #[test]
    fn usage_names_match_whatever_their_case_and_separators() {
        assert_eq!(usage_key("Digital Signature"), "digitalsignature");
        assert_eq!(usage_key("TLS_Web-Server.Authentication"), "tlswebserverauthentication");
        assert_eq!(KeyUsage::parse("key_Cert Sign"), Some(KeyUsage::KeyCertSign));
        assert_eq!(Eku::parse("OCSP-signing"), Some(Eku::OcspSigning));
        assert_eq!(Eku::parse("server auth x"), None);
    }

    #[test]
    fn sans_parse_prefixed_and_bare() {
        assert_eq!(
            San::parse("DNS:Etcd.Local").unwrap(),
            San::Dns("etcd.local".into())
        );
        assert_eq!(
            San::parse("IP:10.0.0.1").unwrap(),
            San::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            San::parse("127.0.0.1").unwrap(),
            San::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(San::parse("::1").unwrap(), San::Ip("::1".parse().unwrap()));
        assert_eq!(
            San::parse("localhost").unwrap(),
            San::Dns("localhost".into())
        );
        assert!(San::parse("IP:node1").is_err());
        assert!(San::parse("email:a@b").is_err());
        assert!(San::parse("bad name").is_err());
    }

    #[test]
    fn usages_accept_openssl_and_short_names() {
        assert_eq!(
            KeyUsage::parse("Digital Signature"),
            Some(KeyUsage::DigitalSignature)
        );
        assert_eq!(KeyUsage::parse("keyCertSign"), Some(KeyUsage::KeyCertSign));
        assert_eq!(Eku::parse("server"), Some(Eku::ServerAuth));
        assert_eq!(
            Eku::parse("TLS Web Client Authentication"),
            Some(Eku::ClientAuth)
        );
        assert_eq!(Eku::parse("nope"), None);
    }
}
