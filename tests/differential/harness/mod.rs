//! The machinery of the differential test (`tests/differential.rs`), one job per file. It lives
//! beside the cases; a directory here is a case only when it holds a `play.yml`.

pub mod expect;
pub mod recap;
pub mod reference;
pub mod run;
pub mod tree;
