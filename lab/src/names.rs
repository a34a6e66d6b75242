//! Names and addresses derived from a lab's name: validation, the lab id, its subnet, and the names of
//! its hosts, namespaces, bridge, veths, nft table and cgroups. Everything here is a pure function so the
//! same name always maps to the same resources, which is what lets `up` and `down` find a killed run's
//! leftovers.

use crate::LabError;

/// Hosts get .2 up to .254 of the lab's /24; .1 is the controller (the bridge), and one address is kept
/// free so tests always have an unused, unreachable address inside the subnet.
pub const MAX_HOSTS: usize = 252;
/// Longest lab name: keeps hostnames and file names short.
pub const MAX_NAME_LEN: usize = 24;
/// Number of distinct lab ids; id `n` owns 10.(100 + n / 256).(n % 256).0/24.
pub const ID_SPACE: u32 = 100 * 256;

/// Checks that `name` is usable as a hostname prefix, file name and namespace-name part.
/// `_` is excluded on purpose: it separates the parts of namespace names.
pub fn validate(name: &str) -> Result<(), LabError> {
    let bad = |reason| {
        Err(LabError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return bad("it must be 1 to 24 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return bad("only lowercase letters, digits and '-' are allowed");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.ends_with('-') {
        return bad("it must start with a letter and not end with '-'");
    }
    Ok(())
}

/// The lab id tried first for `name` (FNV-1a), so a name keeps its subnet from one `up` to the next.
pub fn preferred_id(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % ID_SPACE
}

/// The first three octets of the lab's /24, e.g. `10.137.42`.
pub fn subnet_prefix(id: u32) -> String {
    format!("10.{}.{}", 100 + (id / 256) % 100, id % 256)
}

/// The controller's (bridge's) address in the lab.
pub fn gateway(id: u32) -> String {
    format!("{}.1", subnet_prefix(id))
}

/// The address of host `index` (1-based): .2, .3, …
pub fn host_ip(id: u32, index: usize) -> String {
    format!("{}.{}", subnet_prefix(id), index + 1)
}

/// An address inside the subnet that no host ever gets: the "unreachable host" for tests.
pub fn unused_ip(id: u32) -> String {
    format!("{}.254", subnet_prefix(id))
}

/// Hostname and inventory name of host `index` (1-based).
pub fn host_name(lab: &str, index: usize) -> String {
    format!("{lab}-{index}")
}

/// Prefix of every network namespace of the lab (`ip netns list`).
pub fn netns_prefix(lab: &str) -> String {
    format!("kplay_{lab}_")
}

/// Network namespace of host `index`.
pub fn netns(lab: &str, index: usize) -> String {
    format!("{}{index}", netns_prefix(lab))
}

/// Prefix of the lab's interfaces on the controller; interface names are capped at 15 bytes, so they
/// carry the id, not the name.
pub fn link_prefix(id: u32) -> String {
    format!("kpl{id:04x}")
}

/// The lab's bridge.
pub fn bridge(id: u32) -> String {
    format!("{}br", link_prefix(id))
}

/// Controller end of host `index`'s veth pair (the host end is `eth0` in its namespace).
pub fn veth(id: u32, index: usize) -> String {
    format!("{}v{index}", link_prefix(id))
}

/// The nft table that keeps the lab air-gapped.
pub fn nft_table(id: u32) -> String {
    format!("kplay_lab_{id:04x}")
}

/// Directory, relative to each cgroup hierarchy's root, holding the lab's host cgroups.
pub fn cgroup_dir(lab: &str) -> String {
    format!("kplay-lab/{lab}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_valid() {
        assert!(validate("lab").is_ok());
        assert!(validate("k8s-a1").is_ok());
    }

    #[test]
    fn names_with_underscore_or_uppercase_are_rejected() {
        assert!(validate("my_lab").is_err());
        assert!(validate("Lab").is_err());
        assert!(validate("1lab").is_err());
        assert!(validate("").is_err());
        assert!(validate(&"a".repeat(25)).is_err());
    }

    #[test]
    fn different_names_get_different_subnets() {
        assert_ne!(preferred_id("lab"), preferred_id("scale"));
        assert_eq!(preferred_id("lab"), preferred_id("lab"));
    }

    #[test]
    fn subnet_stays_in_ten_one_hundreds() {
        for id in [0, 255, 256, ID_SPACE - 1] {
            let p = subnet_prefix(id);
            let second: u32 = p
                .split('.')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            assert!((100..200).contains(&second), "{p}");
        }
        assert_eq!(subnet_prefix(0), "10.100.0");
        assert_eq!(subnet_prefix(ID_SPACE - 1), "10.199.255");
    }

    #[test]
    fn addresses_follow_the_plan() {
        assert_eq!(gateway(1), "10.100.1.1");
        assert_eq!(host_ip(1, 1), "10.100.1.2");
        assert_eq!(host_ip(1, MAX_HOSTS), "10.100.1.253");
        assert_eq!(unused_ip(1), "10.100.1.254");
    }

    #[test]
    fn interface_names_fit_fifteen_bytes() {
        assert!(veth(ID_SPACE - 1, MAX_HOSTS).len() <= 15);
        assert!(bridge(ID_SPACE - 1).len() <= 15);
    }
}
