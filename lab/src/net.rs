//! The lab network: one bridge on the controller holding .1 of the lab's /24, one network namespace per
//! host joined by a veth pair, and an nft table that keeps the hosts air-gapped (they reach the lab
//! subnet and nothing else: no forwarding beyond the bridge, no other controller address).
//! Only interfaces, namespaces and the nft table named after the lab are ever touched.

use std::net::Ipv4Addr;

use crate::{cmd, names, LabError};

/// Whether the lab's /24 overlaps an address or route this machine already has (then another id is
/// tried). Default routes are ignored: they overlap everything by definition.
pub fn subnet_taken(id: u32) -> Result<bool, LabError> {
    let ours = names::bridge(id);
    let mut text = cmd::run("ip", &["-4", "-o", "addr", "show"])?;
    text.push_str(&cmd::run("ip", &["-4", "route", "show", "table", "all"])?);
    let net: Ipv4Addr = format!("{}.0", names::subnet_prefix(id))
        .parse()
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Ok(text.lines().filter(|l| !l.contains(&ours)).any(|l| {
        l.split_whitespace()
            .filter_map(parse_cidr)
            .any(|(addr, len)| len > 0 && overlaps(net, 24, addr, len))
    }))
}

fn parse_cidr(word: &str) -> Option<(Ipv4Addr, u32)> {
    let (a, len) = word.split_once('/').unwrap_or((word, "32"));
    Some((a.parse().ok()?, len.parse().ok().filter(|l| *l <= 32)?))
}

fn overlaps(a: Ipv4Addr, alen: u32, b: Ipv4Addr, blen: u32) -> bool {
    let len = alen.min(blen);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(a) & mask) == (u32::from(b) & mask)
}

/// Creates the bridge with the controller's address, forwarding off and no IPv6.
pub fn create_bridge(id: u32) -> Result<(), LabError> {
    let br = names::bridge(id);
    cmd::run("ip", &["link", "add", &br, "type", "bridge"])?;
    cmd::run(
        "ip",
        &[
            "addr",
            "add",
            &format!("{}/24", names::gateway(id)),
            "dev",
            &br,
        ],
    )?;
    // Per-interface switches of our own bridge only: packets arriving on it are never routed onwards.
    write_sysctl(&format!("/proc/sys/net/ipv4/conf/{br}/forwarding"), "0")?;
    write_sysctl(&format!("/proc/sys/net/ipv6/conf/{br}/disable_ipv6"), "1")?;
    cmd::run("ip", &["link", "set", &br, "up"])?;
    Ok(())
}

fn write_sysctl(path: &str, value: &str) -> Result<(), LabError> {
    if std::path::Path::new(path).exists() {
        std::fs::write(path, value).map_err(|e| LabError::io("writing", path, e))?;
    }
    Ok(())
}

/// The nft rules that make the lab air-gapped: from the bridge, only lab addresses are delivered
/// locally and nothing is forwarded; traffic between hosts stays on the bridge.
pub fn nft_rules(id: u32) -> String {
    let (t, br, net) = (
        names::nft_table(id),
        names::bridge(id),
        names::subnet_prefix(id),
    );
    format!(
        "table inet {t} {{\n\
         \tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"{br}\" meta nfproto ipv6 drop\n\
         \t\tiifname \"{br}\" ip daddr != {net}.0/24 drop\n\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{br}\" oifname != \"{br}\" drop\n\
         \t\toifname \"{br}\" iifname != \"{br}\" drop\n\t}}\n}}\n"
    )
}

/// Installs the lab's nft table.
pub fn create_firewall(id: u32) -> Result<(), LabError> {
    cmd::run_input("nft", &["-f", "-"], Some(&nft_rules(id))).map(|_| ())
}

/// Creates hosts `1..=count`: namespace, veth pair (host end `eth0`), address and default route via .1.
pub fn create_hosts(lab: &str, id: u32, count: usize) -> Result<(), LabError> {
    let br = names::bridge(id);
    let mut batch = String::new();
    for i in 1..=count {
        let ns = names::netns(lab, i);
        let veth = names::veth(id, i);
        batch.push_str(&format!(
            "netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\n"
        ));
        batch.push_str(&format!("link set {veth} master {br} up\n"));
    }
    cmd::run_input("ip", &["-batch", "-"], Some(&batch))?;
    for i in 1..=count {
        let ns = names::netns(lab, i);
        let inside = format!(
            "addr add {}/24 dev eth0\nlink set lo up\nlink set eth0 up\nroute add default via {}\n",
            names::host_ip(id, i),
            names::gateway(id)
        );
        cmd::run_input("ip", &["-n", &ns, "-batch", "-"], Some(&inside))?;
    }
    Ok(())
}

/// Removes the lab's namespaces, interfaces and nft table, whichever of them exist. `ids` are the lab
/// ids that may have been used (recorded and preferred), so a run killed before saving state is covered.
pub fn destroy(lab: &str, ids: &[u32]) -> Result<(), LabError> {
    let prefix = names::netns_prefix(lab);
    if let Ok(dir) = std::fs::read_dir("/run/netns") {
        for e in dir.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.strip_prefix(&prefix)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
            {
                cmd::run("ip", &["netns", "delete", &n])?;
            }
        }
    }
    let links = cmd::run("ip", &["-o", "link", "show"])?;
    for id in ids {
        let lp = names::link_prefix(*id);
        for line in links.lines() {
            // Format: "7: NAME@peer: <…" or "7: NAME: <…".
            let Some(name) = line
                .split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap_or(n))
            else {
                continue;
            };
            if name.starts_with(&lp) {
                // A veth may already be gone with its namespace's end; that is fine.
                let _ = cmd::run("ip", &["link", "delete", name]);
            }
        }
        let table = names::nft_table(*id);
        if cmd::exists("nft") && cmd::run("nft", &["list", "table", "inet", &table]).is_ok() {
            cmd::run("nft", &["delete", "table", "inet", &table])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_prefixes_are_detected() {
        let net: Ipv4Addr = "10.100.7.0".parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
        assert!(overlaps(net, 24, "10.0.0.0".parse().unwrap_or(net), 8));
        assert!(overlaps(net, 24, "10.100.7.9".parse().unwrap_or(net), 32));
        assert!(!overlaps(net, 24, "10.100.8.0".parse().unwrap_or(net), 24));
    }

    #[test]
    fn cidr_words_parse_and_others_do_not() {
        assert_eq!(
            parse_cidr("192.0.2.0/24"),
            Some(("192.0.2.0".parse().unwrap_or(Ipv4Addr::UNSPECIFIED), 24))
        );
        assert_eq!(parse_cidr("dev"), None);
        assert_eq!(parse_cidr("1.2.3.4/40"), None);
    }

    #[test]
    fn firewall_only_names_the_lab_bridge() {
        let rules = nft_rules(0x12);
        assert!(rules.contains("table inet kplay_lab_0012"));
        assert!(rules.contains("iifname \"kpl0012br\" ip daddr != 10.100.18.0/24 drop"));
        assert!(!rules.contains("eth0"));
    }
}
