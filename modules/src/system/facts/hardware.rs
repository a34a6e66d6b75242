//! The `hardware` subset: memory, processors, mounts, DMI identifiers, uptime.

use super::sections::Sections;
use kplay_engine::value::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `/proc/meminfo` in kB by field name.
fn meminfo(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let n = v.split_whitespace().next()?.parse().ok()?;
            Some((k.trim().to_string(), n))
        })
        .collect()
}

/// `memtotal_mb`, `memfree_mb`, `swaptotal_mb`, `swapfree_mb` and `memory_mb` as Ansible
/// computes them (MB = kB // 1024; "nocache" counts buffers and page cache as free).
pub fn memory(sec: &Sections) -> Map {
    let mi = meminfo(sec.text("meminfo"));
    let mb = |k: &str| mi.get(k).copied().unwrap_or(0) / 1024;
    let (total, free, buffers, cached) =
        (mb("MemTotal"), mb("MemFree"), mb("Buffers"), mb("Cached"));
    let (swap_total, swap_free) = (mb("SwapTotal"), mb("SwapFree"));
    let nocache_free = free + buffers + cached;
    let mut m = Map::new();
    m.insert("memtotal_mb".into(), total.into());
    m.insert("memfree_mb".into(), free.into());
    m.insert("swaptotal_mb".into(), swap_total.into());
    m.insert("swapfree_mb".into(), swap_free.into());
    m.insert(
        "memory_mb".into(),
        serde_json::json!({
            "real": {"total": total, "used": total.saturating_sub(free), "free": free},
            "nocache": {"free": nocache_free, "used": total.saturating_sub(nocache_free)},
            "swap": {"total": swap_total, "free": swap_free, "used": swap_total.saturating_sub(swap_free), "cached": mb("SwapCached")},
        }),
    );
    m
}

/// `processor*` facts from `/proc/cpuinfo` (already reduced to the fields used) and `nproc`.
pub fn processors(sec: &Sections) -> Map {
    let mut list = Vec::new();
    let mut physical_ids = BTreeSet::new();
    let mut cores_per_socket: u64 = 0;
    let mut siblings: u64 = 0;
    let mut count: u64 = 0;
    for line in sec.text("cpuinfo").lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => {
                list.push(Value::String(v.to_string()));
                count += 1;
            }
            "vendor_id" | "model name" | "Processor" | "cpu model" => {
                list.push(Value::String(v.to_string()))
            }
            "physical id" => {
                physical_ids.insert(v.to_string());
            }
            "cpu cores" => cores_per_socket = v.parse().unwrap_or(cores_per_socket),
            "siblings" => siblings = v.parse().unwrap_or(siblings),
            _ => {}
        }
    }
    let nproc: Option<u64> = sec.text("nproc").trim().parse().ok();
    let (sockets, cores, threads) = if physical_ids.is_empty() {
        (count.max(1), 1, 1)
    } else {
        let cores = cores_per_socket.max(1);
        (physical_ids.len() as u64, cores, (siblings / cores).max(1))
    };
    let mut m = Map::new();
    m.insert("processor".into(), Value::Array(list));
    m.insert("processor_count".into(), sockets.into());
    m.insert("processor_cores".into(), cores.into());
    m.insert("processor_threads_per_core".into(), threads.into());
    m.insert("processor_vcpus".into(), (sockets * cores * threads).into());
    m.insert("processor_nproc".into(), nproc.unwrap_or(count).into());
    m
}

/// `ansible_mounts`: real filesystems (device is a path or `host:/path`) with statvfs numbers.
pub fn mounts(sec: &Sections) -> Value {
    let mut out = Vec::new();
    for line in sec.text("mounts").lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 || f[2] == "none" {
            continue;
        }
        let st: Vec<u64> = f[6]
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let mut m = Map::new();
        m.insert("mount".into(), f[1].into());
        m.insert("device".into(), f[0].into());
        m.insert("fstype".into(), f[2].into());
        m.insert("options".into(), f[3].into());
        m.insert("dump".into(), f[4].parse::<u64>().unwrap_or(0).into());
        m.insert("passno".into(), f[5].parse::<u64>().unwrap_or(0).into());
        // stat -f: %s bsize, %S frsize, %b blocks, %f bfree, %a bavail, %c files, %d ffree.
        if let [bsize, frsize, blocks, _bfree, bavail, files, ffree] = st[..] {
            m.insert("size_total".into(), (frsize * blocks).into());
            m.insert("size_available".into(), (frsize * bavail).into());
            m.insert("block_size".into(), bsize.into());
            m.insert("block_total".into(), blocks.into());
            m.insert("block_available".into(), bavail.into());
            // Ansible counts what is not available to users as used.
            m.insert("block_used".into(), blocks.saturating_sub(bavail).into());
            m.insert("inode_total".into(), files.into());
            m.insert("inode_available".into(), ffree.into());
            m.insert("inode_used".into(), files.saturating_sub(ffree).into());
        }
        m.insert("uuid".into(), "N/A".into());
        out.push(Value::Object(m));
    }
    Value::Array(out)
}

/// DMI identifiers: `NA` when the host does not expose them (containers, non-root reads).
pub fn dmi(sec: &Sections) -> Map {
    let mut m = Map::new();
    for (k, v) in sec.kv("dmi") {
        let key = if k == "sys_vendor" {
            "system_vendor".to_string()
        } else {
            k
        };
        let v = v.trim();
        m.insert(
            key,
            Value::String(if v.is_empty() {
                "NA".into()
            } else {
                v.to_string()
            }),
        );
    }
    m.sort_keys();
    m
}

/// `loadavg` from `/proc/loadavg`.
pub fn loadavg(sec: &Sections) -> Option<Value> {
    let w: Vec<f64> = sec
        .text("loadavg")
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    (w.len() == 3).then(|| serde_json::json!({"1m": w[0], "5m": w[1], "15m": w[2]}))
}

/// `uptime_seconds` from `/proc/uptime`.
pub fn uptime(sec: &Sections) -> Option<Value> {
    let first = sec.text("uptime").split_whitespace().next()?;
    first.parse::<f64>().ok().map(|f| Value::from(f as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sec(name: &str, body: &str) -> Sections {
        Sections::parse(&format!(
            "@@KPLAY_FACTS@@ {name}\n{body}\n@@KPLAY_FACTS@@ end\n"
        ))
    }

    #[test]
    fn memory_is_in_megabytes_with_nocache() {
        let m = memory(&sec("meminfo", "MemTotal: 2048000 kB\nMemFree: 1024000 kB\nBuffers: 10240 kB\nCached: 102400 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB"));
        assert_eq!(m["memtotal_mb"], json!(2000));
        assert_eq!(m["memfree_mb"], json!(1000));
        assert_eq!(
            m["memory_mb"]["nocache"],
            json!({"free": 1110, "used": 890})
        );
    }

    #[test]
    fn processors_count_sockets_cores_and_threads() {
        let body = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nphysical id\t: 0\nsiblings\t: 4\ncpu cores\t: 2\n\
                    processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nphysical id\t: 0\nsiblings\t: 4\ncpu cores\t: 2";
        let m = processors(&sec("cpuinfo", body));
        assert_eq!(
            m["processor"],
            json!(["0", "GenuineIntel", "Xeon", "1", "GenuineIntel", "Xeon"])
        );
        assert_eq!(m["processor_count"], json!(1));
        assert_eq!(m["processor_cores"], json!(2));
        assert_eq!(m["processor_threads_per_core"], json!(2));
        assert_eq!(m["processor_vcpus"], json!(4));
    }

    #[test]
    fn mounts_carry_sizes_from_statvfs() {
        let v = mounts(&sec(
            "mounts",
            "/dev/sda1\t/\text4\trw\t0\t1\t4096 4096 1000 400 300 100 40",
        ));
        assert_eq!(v[0]["size_total"], json!(4_096_000));
        assert_eq!(v[0]["size_available"], json!(1_228_800));
        assert_eq!(v[0]["block_used"], json!(700));
        assert_eq!(v[0]["inode_used"], json!(60));
        assert_eq!(v[0]["passno"], json!(1));
    }

    #[test]
    fn unreadable_dmi_is_na() {
        let m = dmi(&sec("dmi", "product_uuid=NA\nsys_vendor="));
        assert_eq!(m["product_uuid"], json!("NA"));
        assert_eq!(m["system_vendor"], json!("NA"));
    }
}
