//! Each systemd host's data volume: a sparse ext4 image (`hosts/HOST/var.img`), filled with the base's
//! `/var` when the lab comes up and loop-mounted on `/var` inside the host's own mount namespace.
//!
//! Why: a host's root is overlayfs, and an overlay upper directory cannot sit on overlayfs, so
//! containerd's overlayfs snapshotter (and any container runtime) fails under `/var/lib/containerd`
//! on the overlay root. A separate `/var` filesystem is also a common real-server layout, and it
//! keeps `/var/lib/containerd`, `/var/lib/kubelet` and `/var/lib/etcd` ordinary directories that a
//! reset can delete and a redeploy recreate (a mount point per directory could not be removed).
//!
//! Nothing is mounted on the controller: `mkfs.ext4 -d` fills the image from the base without a
//! mount, and the loop mount exists only in the host's namespace, with autoclear, so the loop device
//! goes away with the host; `down` still detaches any loop device left on a lab file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{cmd, LabError};

/// Where the volume is mounted inside a host.
pub const MOUNT_POINT: &str = "/var";
/// Default size of each host's volume: sparse, so only what a host writes uses disk.
pub const DEFAULT_SIZE: u64 = 8 << 30;
/// Smallest size accepted: the base's /var (~110 MB) plus room for a container runtime to start.
pub const MIN_SIZE: u64 = 512 << 20;

/// The image file of the host whose directory is `host_dir`.
pub fn image(host_dir: &Path) -> PathBuf {
    host_dir.join("var.img")
}

/// Parses a size as `kplay lab up --data-size` takes it: bytes, or a number with K, M, G or T
/// (powers of 1024; an optional trailing `B` or `iB` is accepted), `0` for no volume.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let number = |d: &str| {
        d.trim()
            .parse::<u64>()
            .map_err(|_| format!("invalid size {text:?}: expected a number such as 8G, 512M or 0"))
    };
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            number(&t[..i])?;
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => {
                    return Err(format!(
                        "invalid size {text:?}: unknown unit {c:?} (use K, M, G or T)"
                    ))
                }
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n = number(digits)?;
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))?;
    if bytes != 0 && bytes < MIN_SIZE {
        return Err(format!(
            "invalid size {text:?}: a data volume needs at least {} MiB (or 0 for none)",
            MIN_SIZE >> 20
        ));
    }
    Ok(bytes)
}

/// Creates every image at once (one `mkfs.ext4` per host, in parallel: each copies the base's /var).
pub fn create_all(images: &[PathBuf], size: u64, base: &Path) -> Result<(), LabError> {
    let var = base.join("var");
    let results: Vec<Result<(), LabError>> = std::thread::scope(|s| {
        let handles: Vec<_> = images
            .iter()
            .map(|img| s.spawn(|| create(img, size, &var)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(LabError::Leftover {
                        name: String::new(),
                        what: "a data volume thread panicked".to_string(),
                    })
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

fn create(img: &Path, size: u64, var: &Path) -> Result<(), LabError> {
    let file = std::fs::File::create(img).map_err(|e| LabError::io("creating", img, e))?;
    file.set_len(size)
        .map_err(|e| LabError::io("sizing", img, e))?;
    drop(file);
    let img_s = img.to_string_lossy();
    let var_s = var.to_string_lossy();
    cmd::run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-L",
            "kplay-var",
            // Lazy init: a sparse image stays small and mkfs takes a fraction of a second.
            "-E",
            "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
            "-d",
            &var_s,
            &img_s,
        ],
    )
    .map(drop)
}

/// Loop devices whose backing file lies under `dir` (`/dev/loopN`, backing file).
pub fn loops_under(dir: &Path) -> Vec<(String, String)> {
    let prefix = format!("{}/", dir.display());
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let backing = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            let backing = backing.trim().to_string();
            backing
                .starts_with(&prefix)
                .then(|| (format!("/dev/{name}"), backing))
        })
        .collect();
    out.sort();
    out
}

/// Waits (up to `limit`) for the loop devices of a lab's images to go away once the hosts are dead
/// (autoclear releases them when the host's mount namespace is freed), then detaches any left.
pub fn release(dir: &Path, limit: Duration) -> Result<(), LabError> {
    let start = Instant::now();
    while !loops_under(dir).is_empty() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (dev, _) in loops_under(dir) {
        // A device that detached between the scan and now is fine.
        let _ = cmd::run("losetup", &["-d", &dev]);
    }
    let start = Instant::now();
    loop {
        let left = loops_under(dir);
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(LabError::Leftover {
                name: dir.display().to_string(),
                what: format!("loop devices {left:?} stay attached"),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1t"), Ok(1 << 40));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!(parse_size("8X").is_err_and(|e| e.contains("unknown unit")));
        assert!(parse_size("lots").is_err_and(|e| e.contains("expected a number")));
        assert!(parse_size("10M").is_err_and(|e| e.contains("at least 512 MiB")));
        assert!(parse_size("99999999999T").is_err_and(|e| e.contains("too large")));
    }

    #[test]
    fn images_live_in_the_host_directory() {
        assert_eq!(
            image(Path::new("/var/lib/kplay/lab/l/hosts/l-1")),
            PathBuf::from("/var/lib/kplay/lab/l/hosts/l-1/var.img")
        );
    }
}
