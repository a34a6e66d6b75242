//! Builds (or reuses) Kubernetes from Debian's source package and prints where the binaries are:
//! `cargo run -p kplay-bundle --example build-kubernetes [CACHE_DIR]`. What `kplay bundle build
//! --kubernetes-from debian-source` calls, usable on its own while working on the recipe.

use std::process::ExitCode;

use kplay_bundle::kubernetes::{build_from_debian_source, Options};

fn main() -> ExitCode {
    let mut opts = Options::default();
    if let Some(dir) = std::env::args().nth(1) {
        opts.cache_root = dir.into();
    }
    let mut progress = |line: &str| eprintln!("{line}");
    match build_from_debian_source(&opts, &mut progress) {
        Ok(build) => {
            println!(
                "{} ({}) in {}{}",
                build.version,
                build.source_version,
                build.dir.display(),
                if build.reused { ", reused" } else { "" }
            );
            for b in &build.binaries {
                println!("  {:<24} {:>10} {}", b.name, b.size, b.sha256);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::FAILURE
        }
    }
}
