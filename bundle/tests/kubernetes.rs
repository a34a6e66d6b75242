//! Kubernetes from Debian 12's source package, for real: builds the seven binaries (or reuses the
//! cache under /var/cache/kplay/kubernetes; a cold build takes minutes on two cores) and runs them.
//!
//! Root only (the cache lives under /var/cache and apt must fetch the source package); without root
//! it prints why and skips, except under `CI=true`, where it fails instead.

use std::path::Path;
use std::process::Command;

use kplay_bundle::kubernetes::{build_from_debian_source, Options, BINARIES};

fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root and CI=true forbids skipping; run the suite as root");
    }
    eprintln!("SKIPPED {test}: needs root (apt source fetch, /var/cache/kplay)");
    false
}

fn output(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when the ELF file has a program interpreter (is dynamically linked).
fn has_interpreter(path: &Path) -> bool {
    let data = std::fs::read(path).unwrap_or_default();
    assert!(
        data.len() > 64 && &data[..4] == b"\x7fELF",
        "{} is not ELF",
        path.display()
    );
    assert_eq!(data[4], 2, "expected a 64-bit ELF");
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or([0; 8]));
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap_or([0; 2]));
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap_or([0; 4]));
    let phoff = u64_at(0x20) as usize;
    let phentsize = u16_at(0x36) as usize;
    let phnum = u16_at(0x38) as usize;
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == 3) // PT_INTERP
}

#[test]
fn kubernetes_builds_from_debians_source_package_and_runs() {
    if !root_or_skip("kubernetes_from_debian_source") {
        return;
    }
    let mut log = Vec::new();
    let mut progress = |l: &str| {
        eprintln!("{l}");
        log.push(l.to_string());
    };
    let build = build_from_debian_source(&Options::default(), &mut progress)
        .unwrap_or_else(|e| panic!("building Kubernetes: {e}"));
    assert_eq!(build.version, "v1.20.2");
    assert!(
        build.source_version.contains("really1.20.2"),
        "{}",
        build.source_version
    );
    assert!(build.dir.starts_with("/var/cache/kplay/kubernetes"));
    for name in BINARIES {
        let path = build
            .binary(name)
            .unwrap_or_else(|| panic!("{name} missing from {build:?}"));
        assert!(path.is_file(), "{}", path.display());
        assert!(
            !has_interpreter(path),
            "{name} is dynamically linked (CGO_ENABLED=0 was not applied)"
        );
    }
    if !build.reused {
        // A build prints each phase with its time.
        for phase in ["unpack", "openapi-gen", "go build"] {
            assert!(
                log.iter().any(|l| l.contains(phase) && l.ends_with(" s")),
                "no timed {phase} phase in {log:?}"
            );
        }
    }

    let kubeadm = build.binary("kubeadm").unwrap_or(Path::new("kubeadm"));
    assert_eq!(
        output(kubeadm, &["version", "-o", "short"]).trim(),
        "v1.20.2"
    );
    let kubectl = build.binary("kubectl").unwrap_or(Path::new("kubectl"));
    let client = output(kubectl, &["version", "--client"]);
    assert!(
        client.contains("GitVersion:\"v1.20.2\"") && client.contains("GoVersion:\"go1."),
        "{client}"
    );
    for name in [
        "kubelet",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ] {
        let path = build.binary(name).unwrap_or(Path::new(name));
        let v = output(path, &["--version"]);
        assert!(v.contains("v1.20.2"), "{name} --version: {v}");
    }

    // A second call reuses the cache: same key, same binaries, nothing rebuilt.
    let mut quiet = |_: &str| {};
    let again = build_from_debian_source(&Options::default(), &mut quiet)
        .unwrap_or_else(|e| panic!("reusing the build: {e}"));
    assert!(again.reused, "the second call rebuilt instead of reusing");
    assert_eq!(again.key, build.key);
    assert_eq!(again.binaries, build.binaries);
}
