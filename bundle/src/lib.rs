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
