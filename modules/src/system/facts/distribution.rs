//! `ansible_distribution*` and `ansible_os_family` from `/etc/os-release` and the per-family
//! release files, with Ansible's names (`RedHat`, `Archlinux`, `openSUSE Leap` …).

use super::sections::Sections;
use kplay_engine::value::{Map, Value};
use std::collections::HashMap;

/// os-release `ID` → Ansible's distribution name (where it is not just the capitalised ID).
const NAMES: &[(&str, &str)] = &[
    ("debian", "Debian"),
    ("ubuntu", "Ubuntu"),
    ("linuxmint", "Linux Mint"),
    ("pop", "Pop!_OS"),
    ("kali", "Kali"),
    ("raspbian", "Debian"),
    ("devuan", "Devuan"),
    ("neon", "KDE neon"),
    ("centos", "CentOS"),
    ("rhel", "RedHat"),
    ("fedora", "Fedora"),
    ("rocky", "Rocky"),
    ("almalinux", "AlmaLinux"),
    ("ol", "OracleLinux"),
    ("amzn", "Amazon"),
    ("opensuse-leap", "openSUSE Leap"),
    ("opensuse-tumbleweed", "openSUSE Tumbleweed"),
    ("opensuse", "openSUSE"),
    ("sles", "SLES"),
    ("sles_sap", "SLES_SAP"),
    ("sled", "SLED"),
    ("alpine", "Alpine"),
    ("arch", "Archlinux"),
    ("manjaro", "Manjaro"),
    ("gentoo", "Gentoo"),
    ("void", "Void"),
    ("nixos", "NixOS"),
    ("clear-linux-os", "ClearLinux"),
    ("flatcar", "Flatcar"),
    ("euleros", "EulerOS"),
    ("openEuler", "openEuler"),
    ("virtuozzo", "Virtuozzo"),
    ("cloudlinux", "CloudLinux"),
    ("scientific", "Scientific"),
    ("xenenterprise", "XenServer"),
    ("kylin", "Kylin"),
];

/// Ansible's OS_FAMILY_MAP: family → member distributions.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "RedHat",
        &[
            "RedHat",
            "RHEL",
            "Fedora",
            "CentOS",
            "Scientific",
            "SLC",
            "Ascendos",
            "CloudLinux",
            "PSBM",
            "OracleLinux",
            "OVS",
            "OEL",
            "Amazon",
            "Virtuozzo",
            "XenServer",
            "Alibaba",
            "EulerOS",
            "openEuler",
            "AlmaLinux",
            "Rocky",
            "TencentOS",
            "EuroLinux",
            "Kylin Linux Advanced Server",
            "MIRACLE",
        ],
    ),
    (
        "Debian",
        &[
            "Debian",
            "Ubuntu",
            "Raspbian",
            "Neon",
            "KDE neon",
            "Linux Mint",
            "SteamOS",
            "Devuan",
            "Kali",
            "Cumulus Linux",
            "Pop!_OS",
            "Parrot",
            "Pardus GNU/Linux",
            "Uos",
            "Deepin",
            "OSMC",
        ],
    ),
    (
        "Suse",
        &[
            "SuSE",
            "SLES",
            "SLED",
            "openSUSE",
            "openSUSE Tumbleweed",
            "SLES_SAP",
            "SUSE_LINUX",
            "openSUSE Leap",
            "ALP-Dolomite",
            "SL-Micro",
            "openSUSE MicroOS",
        ],
    ),
    ("Archlinux", &["Archlinux", "Antergos", "Manjaro"]),
    ("Gentoo", &["Gentoo", "Funtoo"]),
    ("Alpine", &["Alpine"]),
    ("ClearLinux", &["ClearLinux"]),
];

/// Parse os-release's `KEY=value` lines, removing shell quoting.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = shell_words::split(v)
                .ok()
                .and_then(|w| w.into_iter().next())
                .unwrap_or_else(|| v.trim_matches('"').to_string());
            (k.trim().to_string(), v)
        })
        .collect()
}

fn family_of(dist: &str, id_like: &str) -> String {
    if let Some((f, _)) = FAMILIES.iter().find(|(_, members)| members.contains(&dist)) {
        return f.to_string();
    }
    // Not in Ansible's table: ID_LIKE says whose derivative it is.
    for like in id_like.split_whitespace() {
        let f = match like {
            "debian" | "ubuntu" => "Debian",
            "rhel" | "fedora" | "centos" => "RedHat",
            "suse" | "opensuse" => "Suse",
            "arch" => "Archlinux",
            "alpine" => "Alpine",
            "gentoo" => "Gentoo",
            _ => continue,
        };
        return f.to_string();
    }
    dist.to_string()
}

/// Text inside the last parentheses of a redhat-release line: "… release 9.3 (Blue Onyx)".
fn paren_codename(s: &str) -> Option<String> {
    let open = s.rfind('(')?;
    let close = s[open..].find(')')? + open;
    Some(s[open + 1..close].trim().to_string()).filter(|c| !c.is_empty())
}

/// The distribution facts (without the `ansible_` prefix).
pub fn collect(s: &Sections, system: &str) -> Map {
    let mut m = Map::new();
    let osr = parse_os_release(s.text("os_release"));
    let id = osr.get("ID").cloned().unwrap_or_default();
    let dist = if id.is_empty() {
        if system == "Linux" {
            "OtherLinux".to_string()
        } else {
            system.to_string()
        }
    } else {
        NAMES
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| capitalize(&id))
    };
    let family = family_of(&dist, osr.get("ID_LIKE").map(String::as_str).unwrap_or(""));
    let debian_version = s.text("debian_version").trim().to_string();
    let redhat_release = s.text("redhat_release").trim().to_string();
    let mut version = osr.get("VERSION_ID").cloned().unwrap_or_default();
    if dist == "Debian" && debian_version.starts_with(|c: char| c.is_ascii_digit()) {
        version = debian_version.clone();
    }
    if version.is_empty() && !debian_version.is_empty() {
        version = debian_version;
    }
    if family == "Alpine" {
        let a = s.text("alpine_release").trim();
        if !a.is_empty() {
            version = a.to_string();
        }
    }
    let mut parts = version.splitn(2, '.');
    let major = parts
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("NA")
        .to_string();
    let minor = parts
        .next()
        .map(|r| r.split('.').next().unwrap_or(r).to_string())
        .unwrap_or_else(|| "NA".to_string());
    let release = osr
        .get("VERSION_CODENAME")
        .filter(|c| !c.is_empty())
        .cloned()
        .or_else(|| paren_codename(&redhat_release))
        .unwrap_or_else(|| "NA".to_string());
    let (variety, path) = match family.as_str() {
        "RedHat" if !redhat_release.is_empty() => ("RedHat", "/etc/redhat-release"),
        "Alpine" => ("Alpine", "/etc/alpine-release"),
        "Suse" => ("SUSE", "/etc/os-release"),
        "Debian" => ("Debian", "/etc/os-release"),
        "Archlinux" => ("Archlinux", "/etc/os-release"),
        _ => ("", ""),
    };
    m.insert("distribution".into(), Value::String(dist));
    m.insert(
        "distribution_version".into(),
        Value::String(if version.is_empty() {
            "NA".into()
        } else {
            version
        }),
    );
    m.insert("distribution_major_version".into(), Value::String(major));
    m.insert("distribution_minor_version".into(), Value::String(minor));
    m.insert("distribution_release".into(), Value::String(release));
    if !variety.is_empty() {
        m.insert(
            "distribution_file_variety".into(),
            Value::String(variety.into()),
        );
        m.insert("distribution_file_path".into(), Value::String(path.into()));
        m.insert("distribution_file_parsed".into(), Value::Bool(true));
    }
    m.insert("os_family".into(), Value::String(family));
    m
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sections(os_release: &str, extra: &str) -> Sections {
        Sections::parse(&format!(
            "@@KPLAY_FACTS@@ os_release\n{os_release}\n@@KPLAY_FACTS@@ {extra}\n"
        ))
    }

    #[test]
    fn debian_uses_debian_version_for_point_release() {
        let s = sections(
            "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
            "debian_version\n12.11\n",
        );
        let m = collect(&s, "Linux");
        assert_eq!(m["distribution"], json!("Debian"));
        assert_eq!(m["distribution_version"], json!("12.11"));
        assert_eq!(m["distribution_major_version"], json!("12"));
        assert_eq!(m["distribution_minor_version"], json!("11"));
        assert_eq!(m["distribution_release"], json!("bookworm"));
        assert_eq!(m["os_family"], json!("Debian"));
    }

    #[test]
    fn rhel_is_redhat_family_with_codename_from_release_file() {
        let s = sections(
            "ID=\"rhel\"\nVERSION_ID=\"9.3\"\nID_LIKE=\"fedora\"\n",
            "redhat_release\nRed Hat Enterprise Linux release 9.3 (Plow)\n",
        );
        let m = collect(&s, "Linux");
        assert_eq!(m["distribution"], json!("RedHat"));
        assert_eq!(m["os_family"], json!("RedHat"));
        assert_eq!(m["distribution_release"], json!("Plow"));
        assert_eq!(m["distribution_major_version"], json!("9"));
    }

    #[test]
    fn unknown_derivative_takes_family_from_id_like() {
        let s = sections(
            "ID=mydistro\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=1.0\n",
            "x\n",
        );
        let m = collect(&s, "Linux");
        assert_eq!(m["distribution"], json!("Mydistro"));
        assert_eq!(m["os_family"], json!("Debian"));
    }
}
