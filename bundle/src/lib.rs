//! kplay's offline bundle: everything an air-gapped site needs, made on a machine that has the
//! sources. The deployment roles read the same `group_vars` this crate builds from, so the bundle
//! and the roles never disagree about what is in it.

pub mod oci;
pub mod sign;
