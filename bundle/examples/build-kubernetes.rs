//! Builds (or reuses) Kubernetes from Debian's source package and prints where the binaries are;
//! with `--images DIR` also writes the control-plane images (OCI layout) and, with `--archive FILE`,
//! an oci-archive of them for `ctr images import`. What `kplay bundle build --kubernetes-from
//! debian-source` calls, usable on its own while working on the recipe:
//!
//! `cargo run -p kplay-bundle --example build-kubernetes -- [--cache DIR] [--images DIR]
//! [--archive FILE] [--repository REPO] [--smoke]`
//!
//! `--smoke` adds `REPO/busybox:smoke`, Debian's busybox-static as an image, for test pods (the
//! bundle's own smoke image, `offline_images.smoke`, is made by `kplay bundle build`).

use std::path::PathBuf;
use std::process::ExitCode;

use kplay_bundle::kubernetes::{build_from_debian_source, write_control_plane_images, Options};
use kplay_bundle::oci::{Image, Layer, OciDir};

/// Debian's busybox-static as `REPO/busybox:smoke` (entrypoint busybox; `sh`, `httpd`, `wget` …).
fn smoke(dir: &OciDir, repository: &str) -> Result<String, String> {
    let tmp = std::env::temp_dir().join(format!("kplay-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let ok = std::process::Command::new("apt-get")
        .args(["download", "-q", "busybox-static"])
        .current_dir(&tmp)
        .status()
        .map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err("apt-get download busybox-static failed".into());
    }
    let deb = std::fs::read_dir(&tmp)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("no busybox-static deb")?;
    let root = tmp.join("root");
    let ok = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err("dpkg-deb -x failed".into());
    }
    let mut layer = Layer::new().with_comment("busybox-static from Debian 12");
    layer
        .file("/bin/busybox", &root.join("bin/busybox"), 0o755)
        .map_err(|e| e.to_string())?;
    for applet in [
        "sh", "httpd", "wget", "sleep", "cat", "echo", "hostname", "ip", "nslookup",
    ] {
        layer
            .symlink(&format!("/bin/{applet}"), "busybox")
            .map_err(|e| e.to_string())?;
    }
    layer.dir("/tmp", 0o1777).map_err(|e| e.to_string())?;
    layer.dir("/www", 0o755).map_err(|e| e.to_string())?;
    let mut image = Image::new();
    image.entrypoint = vec!["/bin/busybox".into()];
    image.cmd = vec!["sh".into()];
    image.layers.push(layer);
    let reference = format!("{repository}/busybox:smoke");
    dir.write_image(&image, &reference)
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(reference)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut opts = Options::default();
    if let Some(dir) = value("--cache") {
        opts.cache_root = dir.into();
    }
    let mut progress = |line: &str| eprintln!("{line}");
    let build = match build_from_debian_source(&opts, &mut progress) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ERROR! {e}");
            return ExitCode::FAILURE;
        }
    };
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
    let Some(images) = value("--images").map(PathBuf::from) else {
        return ExitCode::SUCCESS;
    };
    let repository = value("--repository").unwrap_or_else(|| "registry.kplay.local:5000".into());
    let result = OciDir::create(&images)
        .map_err(|e| e.to_string())
        .and_then(|dir| {
            let set = write_control_plane_images(&build, &opts, &repository, &dir, &mut progress)
                .map_err(|e| e.to_string())?;
            let mut refs: Vec<String> = set.images.iter().map(|i| i.reference.clone()).collect();
            if args.iter().any(|a| a == "--smoke") {
                refs.push(smoke(&dir, &repository)?);
            }
            if let Some(archive) = value("--archive") {
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                dir.export_archive(&refs, archive.as_ref())
                    .map_err(|e| e.to_string())?;
            }
            Ok(set)
        });
    match result {
        Ok(set) => {
            for i in &set.images {
                println!(
                    "  {} {} ({} bytes)",
                    i.reference,
                    i.manifest.digest,
                    i.size()
                );
            }
            println!(
                "etcd image tag {}, pause tag {}",
                set.etcd_tag, set.pause_tag
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::FAILURE
        }
    }
}
