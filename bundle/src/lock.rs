//! Exclusive advisory locks on cache directories, so two builders (two tests, two `kplay bundle
//! build` runs) never download into or rewrite the same cache at the same time.

use std::fs::File;
use std::path::Path;

/// Holds an exclusive lock on a file while alive; dropping it releases the lock.
pub struct Lock(#[allow(dead_code)] File);

/// Blocks until the lock on `path` (created if missing) is ours.
pub fn exclusive(path: &Path) -> std::io::Result<Lock> {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.lock()?;
    Ok(Lock(f))
}
