//! Block devices (`ansible_devices`, `ansible_device_links`) and LVM (`ansible_lvm`), shaped as
//! ansible-core's Linux hardware collector shapes them, from the `blockdev`, `disklinks`,
//! `lspci` and `lvm` sections of the gather script.

use super::sections::Sections;
use kplay_engine::value::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

type Links = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// `ansible_device_links`: for ids, uuids and labels, each device's link names (sorted);
/// `masters`: for each device, the devices it is a slave of.
fn links(sec: &Sections) -> Links {
    let mut out: Links = BTreeMap::new();
    for k in ["ids", "uuids", "labels", "masters"] {
        out.insert(k.into(), BTreeMap::new());
    }
    for line in sec.text("disklinks").lines() {
        let f: Vec<&str> = line.splitn(3, '\t').collect();
        if f.len() != 3 {
            continue;
        }
        let kind = match f[0] {
            "id" => "ids",
            "uuid" => "uuids",
            "label" => "labels",
            _ => continue,
        };
        let target = f[2].rsplit('/').next().unwrap_or(f[2]).to_string();
        if let Some(m) = out.get_mut(kind) {
            m.entry(target).or_default().insert(f[1].to_string());
        }
    }
    for line in sec.text("blockdev").lines() {
        if let Some(path) = line.strip_prefix("slave\t") {
            // /sys/block/<master>/slaves/<slave>
            let parts: Vec<&str> = path.split('/').collect();
            if let (Some(master), Some(slave)) = (parts.get(3), parts.get(5)) {
                if let Some(m) = out.get_mut("masters") {
                    m.entry(slave.to_string())
                        .or_default()
                        .insert(master.to_string());
                }
            }
        }
    }
    out
}

fn links_value(l: &Links) -> Value {
    let mut m = Map::new();
    for (k, by) in l {
        let inner: Map = by
            .iter()
            .map(|(dev, names)| {
                (
                    dev.clone(),
                    Value::Array(names.iter().cloned().map(Value::String).collect()),
                )
            })
            .collect();
        m.insert(k.clone(), Value::Object(inner));
    }
    Value::Object(m)
}

/// The link names pointing at `dev`, per kind.
fn links_of(l: &Links, dev: &str) -> Value {
    let mut m = Map::new();
    for (k, by) in l {
        let names = by
            .get(dev)
            .map(|n| n.iter().cloned().map(Value::String).collect())
            .unwrap_or_default();
        m.insert(k.clone(), Value::Array(names));
    }
    Value::Object(m)
}

/// Python's `bytes_to_human`: `256.00 GB`, `0.00 Bytes`.
pub fn bytes_to_human(size: f64) -> String {
    const UNITS: [(&str, f64); 8] = [
        ("Y", 1_208_925_819_614_629_174_706_176.0),
        ("Z", 1_180_591_620_717_411_303_424.0),
        ("E", 1_152_921_504_606_846_976.0),
        ("P", 1_125_899_906_842_624.0),
        ("T", 1_099_511_627_776.0),
        ("G", 1_073_741_824.0),
        ("M", 1_048_576.0),
        ("K", 1_024.0),
    ];
    for (suffix, limit) in UNITS {
        if size >= limit {
            return format!("{:.2} {suffix}B", size / limit);
        }
    }
    format!("{size:.2} Bytes")
}

#[derive(Default)]
struct Dev {
    virtual_: i64,
    /// Where `/sys/block/<dev>` points (read only when lspci is there to name the host).
    sysfs: String,
    files: HashMap<String, String>,
    holders: Vec<String>,
    parts: Vec<String>,
}

fn opt(files: &HashMap<String, String>, k: &str) -> Value {
    files
        .get(k)
        .map(|v| Value::String(v.trim().to_string()))
        .unwrap_or(Value::Null)
}

/// Sectors and size from sysfs's 512-byte `size` and the logical block size.
fn geometry(files: &HashMap<String, String>, m: &mut Map) {
    let sectorsize = files
        .get("queue/logical_block_size")
        .or_else(|| files.get("queue/hw_sector_size"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "512".into());
    let ss: u64 = sectorsize.parse().unwrap_or(512).max(1);
    let raw: u64 = files
        .get("size")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let sectors = raw * 512 / ss;
    m.insert("sectorsize".into(), Value::String(sectorsize));
    m.insert("sectors".into(), Value::from(sectors));
    m.insert(
        "size".into(),
        Value::String(bytes_to_human(sectors as f64 * ss as f64)),
    );
}

/// `ansible_devices` and `ansible_device_links`.
pub fn devices(sec: &Sections) -> Map {
    let l = links(sec);
    let mut devs: BTreeMap<String, Dev> = BTreeMap::new();
    let mut parts: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut holders: HashMap<String, Vec<String>> = HashMap::new();
    for line in sec.text("blockdev").lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["dev", name, v, path] => {
                let d = devs.entry(name.to_string()).or_default();
                d.virtual_ = if *v == "2" { 0 } else { 1 };
                d.sysfs = path.to_string();
            }
            ["f", name, key, value] => {
                if let Some(d) = devs.get_mut(*name) {
                    d.files.insert(key.to_string(), value.to_string());
                }
            }
            ["part", name, part] => {
                if let Some(d) = devs.get_mut(*name) {
                    d.parts.push(part.to_string());
                }
                parts.entry(part.to_string()).or_default();
            }
            ["pf", part, key, value] => {
                parts
                    .entry(part.to_string())
                    .or_default()
                    .insert(key.to_string(), value.to_string());
            }
            ["holder", name, dm, dm_name] => {
                let shown = if dm_name.is_empty() { dm } else { dm_name };
                holders
                    .entry(name.to_string())
                    .or_default()
                    .push(shown.to_string());
            }
            _ => {}
        }
    }
    for (name, d) in devs.iter_mut() {
        d.holders = holders.remove(name).unwrap_or_default();
    }
    let uuid_of = |part: &str| -> Value {
        l.get("uuids")
            .and_then(|u| u.get(part))
            .and_then(|n| n.iter().next().cloned())
            .map(Value::String)
            .unwrap_or(Value::Null)
    };
    let wwn: HashMap<String, String> = l
        .get("ids")
        .map(|ids| {
            ids.iter()
                .flat_map(|(dev, names)| {
                    names
                        .iter()
                        .filter_map(|n| n.strip_prefix("wwn-"))
                        .map(move |w| (dev.clone(), w.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let pci: Vec<(String, String)> = sec
        .text("lspci")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, desc)| (id.to_string(), desc.trim().to_string()))
        .collect();
    let mut out = Map::new();
    for (name, d) in &devs {
        let mut m = Map::new();
        m.insert("virtual".into(), Value::from(d.virtual_));
        m.insert("links".into(), links_of(&l, name));
        for k in ["vendor", "model", "sas_address", "sas_device_handle"] {
            m.insert(k.into(), opt(&d.files, &format!("device/{k}")));
        }
        if let Some(s) = d
            .files
            .get("device/serial")
            .filter(|s| !s.trim().is_empty())
        {
            m.insert("serial".into(), Value::String(s.trim().into()));
        }
        m.insert("removable".into(), opt(&d.files, "removable"));
        let discard = if d.files.get("queue/discard_max_hw_bytes").map(|s| s.trim()) == Some("0") {
            Value::String("0".into())
        } else {
            opt(&d.files, "queue/discard_granularity")
        };
        m.insert("support_discard".into(), discard);
        if let Some(w) = wwn.get(name) {
            m.insert("wwn".into(), Value::String(w.clone()));
        }
        let mut pm = Map::new();
        for p in &d.parts {
            // ansible-core's rule: the device's name, an optional `p`, digits.
            let rest = p.strip_prefix(name.as_str()).unwrap_or("");
            let digits = rest.strip_prefix('p').unwrap_or(rest);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let files = parts.get(p).cloned().unwrap_or_default();
            let mut part = Map::new();
            part.insert("links".into(), links_of(&l, p));
            part.insert(
                "start".into(),
                Value::String(
                    files
                        .get("start")
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|| "0".into()),
                ),
            );
            geometry(&files, &mut part);
            part.insert("uuid".into(), uuid_of(p));
            part.insert(
                "holders".into(),
                Value::Array(
                    holders
                        .get(p)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(Value::String)
                        .collect(),
                ),
            );
            pm.insert(p.clone(), Value::Object(part));
        }
        m.insert("partitions".into(), Value::Object(pm));
        m.insert("rotational".into(), opt(&d.files, "queue/rotational"));
        let scheduler = d
            .files
            .get("queue/scheduler")
            .and_then(|s| {
                let start = s.find('[')?;
                let end = s[start..].find(']')? + start;
                Some(s[start + 1..end].to_string())
            })
            .unwrap_or_default();
        m.insert("scheduler_mode".into(), Value::String(scheduler));
        geometry(&d.files, &mut m);
        m.insert("host".into(), Value::String(pci_host(&d.sysfs, &pci)));
        m.insert(
            "holders".into(),
            Value::Array(d.holders.iter().cloned().map(Value::String).collect()),
        );
        m.sort_keys();
        out.insert(name.clone(), Value::Object(m));
    }
    let mut facts = Map::new();
    facts.insert("devices".into(), Value::Object(out));
    facts.insert("device_links".into(), links_value(&l));
    facts
}

/// The PCI controller a device hangs off (`lspci -D`'s description of the last PCI address in
/// the device's sysfs path), "" without lspci.
fn pci_host(sysfs: &str, pci: &[(String, String)]) -> String {
    let is_addr = |s: &str| {
        let b = s.as_bytes();
        b.len() == 12
            && b[4] == b':'
            && b[7] == b':'
            && b[10] == b'.'
            && s[..4]
                .chars()
                .chain(s[5..7].chars())
                .chain(s[8..10].chars())
                .all(|c| c.is_ascii_hexdigit())
            && (b'0'..=b'7').contains(&b[11])
    };
    // The last address in the path that has a component after it.
    let parts: Vec<&str> = sysfs.split('/').collect();
    let addr = parts[..parts.len().saturating_sub(1)]
        .iter()
        .rev()
        .find(|p| is_addr(p))
        .copied();
    addr.and_then(|a| pci.iter().find(|(id, _)| id == a))
        .map(|(_, d)| d.clone())
        .unwrap_or_default()
}

/// `ansible_lvm`: `N/A` unless the host has LVM tools and the facts ran as root.
pub fn lvm(sec: &Sections) -> Value {
    let text = sec.text("lvm");
    if !text.contains("@vgs") {
        return Value::String("N/A".into());
    }
    let mut which = "";
    let (mut vgs, mut lvs, mut pvs) = (Map::new(), Map::new(), Map::new());
    for line in text.lines() {
        let t = line.trim();
        if let Some(w) = t.strip_prefix('@') {
            which = match w {
                "vgs" => "vgs",
                "lvs" => "lvs",
                "pvs" => "pvs",
                _ => "",
            };
            continue;
        }
        let items: Vec<&str> = t.split(',').collect();
        if t.is_empty() || items.len() < 2 {
            continue;
        }
        let s = |i: usize| Value::String(items.get(i).copied().unwrap_or("").to_string());
        match which {
            "vgs" if items.len() >= 3 => {
                let n = items.len();
                vgs.insert(
                    items[0].into(),
                    serde_json::json!({"size_g": items[n - 2], "free_g": items[n - 1],
                        "num_lvs": items[2], "num_pvs": items[1]}),
                );
            }
            "lvs" => {
                let mut m = Map::new();
                m.insert("size_g".into(), s(3));
                m.insert("vg".into(), s(1));
                lvs.insert(items[0].into(), Value::Object(m));
            }
            "pvs" => {
                let mut m = Map::new();
                m.insert("size_g".into(), s(4));
                m.insert("free_g".into(), s(5));
                m.insert("vg".into(), s(1));
                pvs.insert(items[0].into(), Value::Object(m));
            }
            _ => {}
        }
    }
    serde_json::json!({"lvs": lvs, "vgs": vgs, "pvs": pvs})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(text: &str) -> Sections {
        Sections::parse(text)
    }

    #[test]
    fn devices_as_ansible_shows_them() {
        let s = sec("\n@@KPLAY_FACTS@@ blockdev\ndev\tvda\t1\t\nf\tvda\tdevice/vendor\t0x1af4\nf\tvda\tremovable\t0\nf\tvda\tqueue/discard_granularity\t4096\nf\tvda\tqueue/rotational\t1\nf\tvda\tqueue/scheduler\t[mq-deadline] none\nf\tvda\tqueue/logical_block_size\t512\nf\tvda\tsize\t536870912\npart\tvda\tvda1\npf\tvda1\tstart\t2048\npf\tvda1\tsize\t2048\n\n@@KPLAY_FACTS@@ disklinks\nuuid\tabcd\t../../vda1\n");
        let f = devices(&s);
        let vda = &f["devices"]["vda"];
        assert_eq!(vda["size"], "256.00 GB");
        assert_eq!(vda["sectors"], 536870912);
        assert_eq!(vda["scheduler_mode"], "mq-deadline");
        assert_eq!(vda["vendor"], "0x1af4");
        assert_eq!(vda["model"], Value::Null);
        assert_eq!(vda["virtual"], 1);
        assert_eq!(vda["partitions"]["vda1"]["uuid"], "abcd");
        assert_eq!(vda["partitions"]["vda1"]["size"], "1.00 MB");
        assert_eq!(
            f["device_links"]["uuids"]["vda1"],
            serde_json::json!(["abcd"])
        );
        assert_eq!(lvm(&s), Value::String("N/A".into()));
    }
}
