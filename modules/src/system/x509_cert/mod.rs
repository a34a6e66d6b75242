//! `x509_cert`: a private key and an X.509 certificate on the host, made by kplay itself (no
//! openssl on the controller or the hosts). In the spirit of community.crypto's
//! `openssl_privatekey` + `x509_certificate` (providers `selfsigned` and `ownca`) and KubeKey's
//! `gen_cert`, in one task: the key is created when missing, the certificate is issued for it,
//! self-signed (a CA) or signed by a CA whose certificate and key are files on the same host.
//!
//! Idempotent: a certificate that is for the key, has the requested subject, SANs, CA flag and
//! usages, is signed by the requested issuer and does not expire within `renew_margin_days` is
//! left alone; otherwise it is reissued (the key is kept). Check mode and diff are honoured.
//! Key files are `0600` from creation, and no key material reaches a result, a diff or a log:
//! the crypto runs in kplay, the files travel on the connection's stdin/stdout.
//!
//! `query` (host.rs) reads the key, the certificate and the CA files and notes the clock;
//! `plan` (plan.rs) decides, without generating or signing anything, what is kept, made or
//! fixed; `apply` (apply.rs) generates the key, signs and writes. Check mode therefore does no
//! cryptography and never makes a key it would throw away.

mod apply;
mod crypto;
mod host;
mod plan;
mod report;
mod spec;

use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use host::{read_files, Found};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;
pub use plan::Changes;
pub use spec::SPEC;
use spec::{Provider, TaskArgs};

/// What `query` found: the files (the CA's for `ownca`), the host's umask, and the time the
/// expiry margin is measured from.
pub struct Seen {
    pub key: Found,
    pub cert: Found,
    pub ca: Option<(Found, Found)>,
    pub umask: u32,
    pub now: time::OffsetDateTime,
}

pub struct X509CertModule;

#[async_trait]
impl QueryPlanApply for X509CertModule {
    type Args = TaskArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "x509_cert"
    }

    fn parse(&self, args: Map) -> Result<TaskArgs, ModuleError> {
        TaskArgs::parse(&SPEC.parse(args)?)
    }

    /// Reads the four files in one round trip; fails when the key's or the certificate's
    /// directory does not exist.
    async fn query(&self, ctx: &ModuleContext<'_>, t: &TaskArgs) -> Result<Seen, ModuleError> {
        let mut files = vec![t.key_path.as_str(), t.path.as_str()];
        if let Provider::OwnCa { cert, key } = &t.provider {
            files.push(cert);
            files.push(key);
        }
        let (found, parents, umask) = read_files(ctx, &files).await?;
        for (f, ok) in files.iter().take(2).zip(&parents) {
            if !ok {
                return Err(ModuleError::new(format!(
                    "Destination directory {} does not exist",
                    crate::common::remote_dirname(f)
                )));
            }
        }
        let mut found = found.into_iter();
        let mut next = || {
            found
                .next()
                .ok_or_else(|| ModuleError::new("x509_cert: a file was not read"))
        };
        let (key, cert) = (next()?, next()?);
        let ca = match &t.provider {
            Provider::OwnCa { .. } => Some((next()?, next()?)),
            Provider::SelfSigned => None,
        };
        Ok(Seen {
            key,
            cert,
            ca,
            umask,
            now: time::OffsetDateTime::now_utc(),
        })
    }

    fn plan(t: &TaskArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        plan::plan(t, seen)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        t: &TaskArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        apply::apply(ctx, t, c, result).await
    }
}

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod tests;
