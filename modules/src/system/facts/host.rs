//! Facts ansible-core's collectors add beyond platform, distribution, hardware and network
//! basics: LSB, systemd, SSH host keys, capabilities, the host's Python (kplay uses none, but
//! playbooks test `ansible_python` to pick packages), CPU flags, form factor, locally reachable
//! addresses, Fibre Channel WWNs, iSCSI and NVMe initiator names.

use super::sections::Sections;
use kplay_engine::value::{Map, Value};

/// SMBIOS chassis types by number, as ansible-core names them.
const FORM_FACTOR: [&str; 37] = [
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// `lsb` from `lsb_release -a`, else `/etc/lsb-release` (`{}` with neither).
fn lsb(sec: &Sections) -> Value {
    let mut m = Map::new();
    for line in sec.text("lsb_release").lines() {
        let Some((_, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        let key = if line.contains("LSB Version:") || line.contains("Release:") {
            "release"
        } else if line.contains("Distributor ID:") {
            "id"
        } else if line.contains("Description:") {
            "description"
        } else if line.contains("Codename:") {
            "codename"
        } else {
            continue;
        };
        m.insert(key.into(), s(value));
    }
    if m.is_empty() {
        for line in sec.text("lsb_file").lines() {
            let Some((k, value)) = line.split_once('=') else {
                continue;
            };
            let key = match k.trim() {
                "DISTRIB_ID" => "id",
                "DISTRIB_RELEASE" => "release",
                "DISTRIB_DESCRIPTION" => "description",
                "DISTRIB_CODENAME" => "codename",
                _ => continue,
            };
            m.insert(key.into(), s(value.trim()));
        }
    }
    if let Some(r) = m.get("release").and_then(Value::as_str) {
        let major = r.split('.').next().unwrap_or("").to_string();
        m.insert("major_release".into(), s(major));
    }
    for v in m.values_mut() {
        if let Value::String(t) = v {
            *t = t
                .trim_matches(|c| c == '"' || c == '\'' || c == '\\')
                .to_string();
        }
    }
    Value::Object(m)
}

/// The facts of the minimal subset.
pub fn minimal(sec: &Sections) -> Map {
    let mut m = Map::new();
    m.insert("lsb".into(), lsb(sec));
    let mut sd = sec.text("systemd").lines();
    if let (Some(first), Some(features)) = (sd.next(), sd.next()) {
        if let Some(v) = first
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<i64>().ok())
        {
            m.insert(
                "systemd".into(),
                serde_json::json!({"version": v, "features": features.trim()}),
            );
        }
    }
    for line in sec.text("sshkeys").lines() {
        // ssh_host_<algo>_key.pub <type> <base64> [comment]
        let mut w = line.split_whitespace();
        let (Some(file), Some(typ), Some(key)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let Some(algo) = file
            .strip_prefix("ssh_host_")
            .and_then(|f| f.strip_suffix("_key.pub"))
        else {
            continue;
        };
        if !matches!(algo, "dsa" | "rsa" | "ecdsa" | "ed25519") {
            continue;
        }
        m.insert(format!("ssh_host_key_{algo}_public"), s(key));
        m.insert(format!("ssh_host_key_{algo}_public_keytype"), s(typ));
    }
    if let Some(cur) = sec
        .text("caps")
        .lines()
        .find_map(|l| l.strip_prefix("Current:"))
    {
        let cur = cur.trim();
        let (enforced, caps) = if cur == "=ep" {
            ("False", vec![])
        } else {
            let list = cur.split_once('=').map(|(_, r)| r).unwrap_or(cur);
            (
                "True",
                list.split(',').map(|c| s(c.trim())).collect::<Vec<_>>(),
            )
        };
        m.insert("system_capabilities_enforced".into(), s(enforced));
        m.insert("system_capabilities".into(), Value::Array(caps));
    }
    let py = sec.kv("python");
    if let (Some(exe), Some(version)) = (py.get("exe"), py.get("version")) {
        // `Python 3.11.2` (a `+` or `rc1` suffix is kept out of the numbers).
        let ver = version
            .trim()
            .trim_start_matches("Python")
            .trim()
            .to_string();
        let num: Vec<i64> = ver
            .split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect();
        let (major, minor, micro) = (
            num.first().copied().unwrap_or(0),
            num.get(1).copied().unwrap_or(0),
            num.get(2).copied().unwrap_or(0),
        );
        m.insert(
            "python".into(),
            serde_json::json!({
                "executable": exe, "has_sslcontext": true, "type": "cpython",
                "version": {"major": major, "minor": minor, "micro": micro, "releaselevel": "final", "serial": 0},
                "version_info": [major, minor, micro, "final", 0],
            }),
        );
        m.insert(
            "python_version".into(),
            s(format!("{major}.{minor}.{micro}")),
        );
    }
    m.insert(
        "selinux_python_present".into(),
        Value::Bool(sec.kv("python_selinux").contains_key("libselinux")),
    );
    m
}

/// The Python interpreter ansible-core would discover on the host (facts without prefix).
pub fn discovered_python(sec: &Sections) -> Option<Value> {
    sec.kv("python").get("exe").map(|e| s(e.clone()))
}

/// `flags` (the first CPU's) and `form_factor` (hardware subset).
pub fn hardware(sec: &Sections) -> Map {
    let mut m = Map::new();
    let flags: Vec<Value> = sec
        .text("cpuflags")
        .lines()
        .next()
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().map(s).collect())
        .unwrap_or_default();
    m.insert("flags".into(), Value::Array(flags));
    let chassis = sec.text("chassis").trim().to_string();
    let ff = match chassis.parse::<usize>() {
        Ok(n) => FORM_FACTOR
            .get(n)
            .map(|f| f.to_string())
            .unwrap_or_else(|| format!("unknown ({chassis})")),
        Err(_) => "NA".to_string(),
    };
    m.insert("form_factor".into(), s(ff));
    m
}

/// `locally_reachable_ips`, `fibre_channel_wwn`, `iscsi_iqn`, `hostnqn` (network subset).
pub fn network(sec: &Sections) -> Map {
    let mut m = Map::new();
    let (mut v4, mut v6): (Vec<Value>, Vec<Value>) = (vec![], vec![]);
    for line in sec.text("local4").lines().chain(sec.text("local6").lines()) {
        let mut w = line.split_whitespace();
        if w.next() != Some("local") {
            continue;
        }
        let Some(addr) = w.next() else { continue };
        let list = if addr.contains(':') { &mut v6 } else { &mut v4 };
        if !list.iter().any(|x| x.as_str() == Some(addr)) {
            list.push(s(addr));
        }
    }
    m.insert(
        "locally_reachable_ips".into(),
        serde_json::json!({"ipv4": v4, "ipv6": v6}),
    );
    let wwn: Vec<Value> = sec
        .text("fcwwn")
        .lines()
        .map(|l| s(l.trim_end().get(2..).unwrap_or("")))
        .collect();
    m.insert("fibre_channel_wwn".into(), Value::Array(wwn));
    let iqn = sec
        .text("iscsi")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .find_map(|l| l.strip_prefix("InitiatorName="))
        .unwrap_or("");
    m.insert("iscsi_iqn".into(), s(iqn));
    let nqn = sec
        .text("nvme")
        .lines()
        .find(|l| l.starts_with("nqn."))
        .unwrap_or("");
    m.insert("hostnqn".into(), s(nqn));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_facts_as_ansible_shows_them() {
        let sec = Sections::parse(
            "\n@@KPLAY_FACTS@@ systemd\nsystemd 252 (252.39-1~deb12u1)\n+PAM +AUDIT\n\n@@KPLAY_FACTS@@ sshkeys\nssh_host_ed25519_key.pub ssh-ed25519 AAAAC3 root@h\n\n@@KPLAY_FACTS@@ caps\nCurrent: =ep cap_sys_resource-ep\n\n@@KPLAY_FACTS@@ python\nexe=/usr/bin/python3.11\nversion=Python 3.11.2\n\n@@KPLAY_FACTS@@ python_selinux\nlibselinux=1\n",
        );
        let m = minimal(&sec);
        assert_eq!(
            m["systemd"],
            serde_json::json!({"version": 252, "features": "+PAM +AUDIT"})
        );
        assert_eq!(m["ssh_host_key_ed25519_public"], "AAAAC3");
        assert_eq!(m["ssh_host_key_ed25519_public_keytype"], "ssh-ed25519");
        assert_eq!(
            m["system_capabilities"],
            serde_json::json!(["ep cap_sys_resource-ep"])
        );
        assert_eq!(m["system_capabilities_enforced"], "True");
        assert_eq!(m["python_version"], "3.11.2");
        assert_eq!(
            m["python"]["version_info"],
            serde_json::json!([3, 11, 2, "final", 0])
        );
        assert_eq!(m["lsb"], serde_json::json!({}));
        assert_eq!(m["selinux_python_present"], true);
    }

    #[test]
    fn network_extras() {
        let sec = Sections::parse("\n@@KPLAY_FACTS@@ local4\nlocal 10.0.0.2 dev eth0 proto kernel\nbroadcast 10.0.0.255 dev eth0\nlocal 127.0.0.0/8 dev lo\n\n@@KPLAY_FACTS@@ local6\nlocal ::1 dev lo\n");
        let m = network(&sec);
        assert_eq!(
            m["locally_reachable_ips"],
            serde_json::json!({"ipv4": ["10.0.0.2", "127.0.0.0/8"], "ipv6": ["::1"]})
        );
        assert_eq!(m["iscsi_iqn"], "");
        assert_eq!(m["fibre_channel_wwn"], serde_json::json!([]));
    }
}
