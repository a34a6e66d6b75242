//! kplay's offline bundle: everything an air-gapped site needs, made on a machine that has the
//! sources. The deployment roles read the same `group_vars` this crate builds from, so the bundle
//! and the roles never disagree about what is in it.

pub mod apt;
pub mod build;
pub mod files;
pub mod images;
pub mod kubernetes;
pub mod lock;
pub mod manifest;
pub mod module;
pub mod oci;
pub mod registry;
pub mod repo;
pub mod serve;
pub mod sign;
pub mod vars;

/// A file operation that failed: what was being done, to which path, and the system's reason.
/// Every error type of the crate carries it as its `Io` variant, so the message reads the same
/// whichever phase failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct IoFailure {
    pub action: &'static str,
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: the error of `action` on `path` as any error type that holds an [`IoFailure`].
pub fn io_error<E: From<IoFailure>>(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> E {
    let path = path.to_path_buf();
    move |source| {
        E::from(IoFailure {
            action,
            path,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_io_failure_names_the_action_and_path_and_keeps_the_cause() {
        let cause = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e: repo::RepoError = io_error("reading", std::path::Path::new("/x/Packages"))(cause);
        assert_eq!(
            e.to_string(),
            "reading /x/Packages: No such file or directory"
        );
        let source = e.source().expect("the io::Error is the source");
        assert_eq!(source.to_string(), "No such file or directory");
        assert!(matches!(
            e,
            repo::RepoError::Io(IoFailure {
                action: "reading",
                ..
            })
        ));
    }
}
