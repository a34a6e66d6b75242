//! What an `x509_cert` task reports: certificate fields in community.crypto's forms, and the
//! diff sides, which describe a certificate the way an operator checks it and never hold key
//! material.

use super::crypto::CertInfo;
use super::spec::{CertSpec, Provider, TaskArgs};
use kplay_engine::module::ModuleResult;
use kplay_engine::value::Value;

/// A PEM block's certificate as PEM text again.
pub fn pem_text(p: &x509_parser::pem::Pem) -> String {
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(&p.contents);
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// community.crypto's date form (`20350101000000Z`).
fn asn1_date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y%m%d%H%M%SZ").to_string())
        .unwrap_or_default()
}

/// The fields of a certificate that exists.
pub fn add_info(r: &mut ModuleResult, i: &CertInfo) {
    r.insert("subject", i.subject.as_str());
    r.insert("issuer", i.issuer.as_str());
    r.insert("serial_number", i.serial.as_str());
    r.insert("not_before", asn1_date(i.not_before));
    r.insert("not_after", asn1_date(i.not_after));
    r.insert(
        "subject_alt_name",
        Value::Array(i.sans.iter().cloned().map(Value::String).collect()),
    );
}

/// The fields known of a certificate still to be issued.
pub fn add_requested(r: &mut ModuleResult, s: &CertSpec) {
    r.insert("subject", format!("CN={}", s.common_name));
    r.insert(
        "subject_alt_name",
        Value::Array(
            s.sans
                .iter()
                .map(|x| Value::String(x.to_string()))
                .collect(),
        ),
    );
}

/// A certificate as a diff side: what an operator checks, never key material.
pub fn describe(i: &CertInfo, key_line: &str) -> String {
    format!(
        "subject: {}\nissuer: {}\nserial: {}\nnot_before: {}\nnot_after: {}\nsubject_alt_name: {}\nprivate_key: {key_line}\n",
        i.subject,
        i.issuer,
        i.serial,
        asn1_date(i.not_before),
        asn1_date(i.not_after),
        i.sans.join(", ")
    )
}

/// A certificate still to be issued as a diff side.
pub fn describe_requested(t: &TaskArgs, key_line: &str) -> String {
    let s = &t.spec;
    let issuer = match &t.provider {
        Provider::SelfSigned => "(self-signed)".to_string(),
        Provider::OwnCa { cert, .. } => format!("(the CA in {cert})"),
    };
    format!(
        "subject: CN={}{}\nissuer: {issuer}\nvalid_days: {}\nsubject_alt_name: {}\nprivate_key: {key_line}\n",
        s.common_name,
        s.organization
            .iter()
            .map(|o| format!(", O={o}"))
            .collect::<String>(),
        s.valid_days,
        s.sans.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "),
    )
}

/// When the CA files are not there yet: in check mode everything would be made (an earlier
/// task of the same run makes the CA); a real run fails.
pub fn without_ca(t: &TaskArgs, missing: &str) -> ModuleResult {
    let mut r = ModuleResult::new(true)
        .set("filename", t.path.as_str())
        .set("privatekey_path", t.key_path.as_str())
        .set("reissued", true)
        .set(
            "reasons",
            Value::Array(vec![Value::String(format!(
                "the CA file {missing} does not exist yet"
            ))]),
        );
    add_requested(&mut r, &t.spec);
    let after = describe_requested(t, &format!("{} ({})", t.key_type.name(), t.key_path));
    r.with_diff(&t.path, &t.path, "", &after)
}
