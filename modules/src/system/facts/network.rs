//! The `network` subset: interfaces from `/sys/class/net`, addresses from `ip -o addr`, and the
//! default routes from `ip route get` (the same probe addresses Ansible uses).

use super::sections::Sections;
use kplay_engine::value::{Map, Value};
use std::net::Ipv4Addr;

/// One interface as `ansible_<name>` shows it, keyed by device name.
fn interface_base(line: &str) -> Option<(String, Map)> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 6 || f[0].is_empty() {
        return None;
    }
    let (name, typ, mac, mtu, flags, kind) = (
        f[0],
        f[1].trim(),
        f[2].trim(),
        f[3].trim(),
        f[4].trim(),
        f[5].trim(),
    );
    let flags = u64::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap_or(0);
    let mut m = Map::new();
    m.insert("device".into(), name.into());
    m.insert("active".into(), Value::Bool(flags & 0x1 != 0));
    if !mac.is_empty() && mac != "00:00:00:00:00:00" {
        m.insert("macaddress".into(), mac.into());
    }
    if let Ok(n) = mtu.parse::<u64>() {
        m.insert("mtu".into(), n.into());
    }
    m.insert("promisc".into(), Value::Bool(flags & 0x100 != 0));
    let t = match (kind, typ) {
        ("bonding", _) => "bonding",
        ("bridge", _) => "bridge",
        (_, "1") => "ether",
        (_, "512") => "ppp",
        (_, "772") => "loopback",
        _ => "unknown",
    };
    m.insert("type".into(), t.into());
    // Link speed in Mb/s where the driver reports one (reading it fails for a link that is down).
    if let Some(speed) = f.get(6).and_then(|s| s.trim().parse::<i64>().ok()) {
        m.insert("speed".into(), speed.into());
    }
    Some((name.to_string(), m))
}

fn netmask(prefix: u32) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    };
    Ipv4Addr::from(bits)
}

/// One `ip -o addr` line: (device, address, prefix, broadcast, scope, label).
struct AddrLine {
    device: String,
    address: String,
    prefix: String,
    broadcast: String,
    scope: String,
    label: String,
}

fn parse_addr_line(line: &str) -> Option<AddrLine> {
    let line = line.split('\\').next().unwrap_or(line);
    let w: Vec<&str> = line.split_whitespace().collect();
    let device = w
        .get(1)?
        .trim_end_matches(':')
        .split('@')
        .next()?
        .to_string();
    let fam = w.iter().position(|x| *x == "inet" || *x == "inet6")?;
    let (address, prefix) = w
        .get(fam + 1)?
        .split_once('/')
        .map(|(a, p)| (a.to_string(), p.to_string()))?;
    let after = |k: &str| {
        w.iter()
            .position(|x| *x == k)
            .and_then(|i| w.get(i + 1))
            .map(|s| s.to_string())
    };
    let label = if w[fam] == "inet" {
        w.last()
            .filter(|l| l.starts_with(device.as_str()))
            .map(|s| s.to_string())
    } else {
        None
    };
    Some(AddrLine {
        device: device.clone(),
        address,
        prefix,
        broadcast: after("brd").unwrap_or_default(),
        scope: after("scope").unwrap_or_default(),
        label: label.unwrap_or(device),
    })
}

fn ipv4_entry(a: &AddrLine) -> Map {
    let mut m = Map::new();
    let prefix: u32 = a.prefix.parse().unwrap_or(32);
    let mask = netmask(prefix);
    let network = a
        .address
        .parse::<Ipv4Addr>()
        .map(|ip| Ipv4Addr::from(u32::from(ip) & u32::from(mask)).to_string())
        .unwrap_or_default();
    m.insert("address".into(), a.address.clone().into());
    m.insert("broadcast".into(), a.broadcast.clone().into());
    m.insert("netmask".into(), mask.to_string().into());
    m.insert("network".into(), network.into());
    m.insert("prefix".into(), a.prefix.clone().into());
    m
}

/// `via`, `dev` and `src` of an `ip route get` answer.
fn route_words(text: &str) -> Option<(Option<String>, String, String)> {
    let w: Vec<&str> = text.split_whitespace().collect();
    let after = |k: &str| {
        w.iter()
            .position(|x| *x == k)
            .and_then(|i| w.get(i + 1))
            .map(|s| s.to_string())
    };
    Some((after("via"), after("dev")?, after("src")?))
}

/// Fact name for an interface: Ansible replaces characters not valid in a variable name.
pub fn iface_fact_name(dev: &str) -> String {
    format!("ansible_{}", dev.replace(['-', ':', '.'], "_"))
}

/// All network facts, keyed with the `ansible_` prefix (interface facts are named by device).
pub fn collect(sec: &Sections) -> Map {
    let mut ifaces: Vec<(String, Map)> = sec
        .text("netdev")
        .lines()
        .filter_map(interface_base)
        .collect();
    let v4: Vec<AddrLine> = sec
        .text("addr4")
        .lines()
        .filter_map(parse_addr_line)
        .collect();
    let v6: Vec<AddrLine> = sec
        .text("addr6")
        .lines()
        .filter_map(parse_addr_line)
        .collect();
    for (name, m) in ifaces.iter_mut() {
        let mine: Vec<&AddrLine> = v4.iter().filter(|a| &a.device == name).collect();
        if let Some(first) = mine.first() {
            m.insert("ipv4".into(), Value::Object(ipv4_entry(first)));
        }
        if mine.len() > 1 {
            m.insert(
                "ipv4_secondaries".into(),
                Value::Array(
                    mine[1..]
                        .iter()
                        .map(|a| Value::Object(ipv4_entry(a)))
                        .collect(),
                ),
            );
        }
        let six: Vec<Value> = v6
            .iter()
            .filter(|a| &a.device == name)
            .map(
                |a| serde_json::json!({"address": a.address, "prefix": a.prefix, "scope": a.scope}),
            )
            .collect();
        if !six.is_empty() {
            m.insert("ipv6".into(), Value::Array(six));
        }
    }
    let mut out = Map::new();
    let all4: Vec<Value> = v4
        .iter()
        .filter(|a| !a.address.starts_with("127."))
        .map(|a| a.address.clone().into())
        .collect();
    let all6: Vec<Value> = v6
        .iter()
        .filter(|a| a.address != "::1")
        .map(|a| a.address.clone().into())
        .collect();
    out.insert("ansible_all_ipv4_addresses".into(), Value::Array(all4));
    out.insert("ansible_all_ipv6_addresses".into(), Value::Array(all6));
    out.insert(
        "ansible_default_ipv4".into(),
        Value::Object(default_v4(sec, &ifaces, &v4)),
    );
    out.insert(
        "ansible_default_ipv6".into(),
        Value::Object(default_v6(sec, &ifaces, &v6)),
    );
    out.insert(
        "ansible_interfaces".into(),
        Value::Array(
            ifaces
                .iter()
                .map(|(n, _)| Value::String(n.clone()))
                .collect(),
        ),
    );
    for (name, m) in ifaces {
        out.insert(iface_fact_name(&name), Value::Object(m));
    }
    out
}

/// Copy the link-level keys Ansible adds to `default_ipv4/6` from the interface.
fn add_link_keys(d: &mut Map, iface: Option<&Map>) {
    if let Some(i) = iface {
        for k in ["macaddress", "mtu", "type"] {
            if let Some(v) = i.get(k) {
                d.insert(k.into(), v.clone());
            }
        }
    }
}

fn default_v4(sec: &Sections, ifaces: &[(String, Map)], v4: &[AddrLine]) -> Map {
    default_route(sec.text("route4"), ifaces, v4, |a, d| {
        for (k, v) in ipv4_entry(a) {
            d.insert(k, v);
        }
        d.insert("alias".into(), a.label.clone().into());
    })
}

fn default_v6(sec: &Sections, ifaces: &[(String, Map)], v6: &[AddrLine]) -> Map {
    default_route(sec.text("route6"), ifaces, v6, |a, d| {
        d.insert("prefix".into(), a.prefix.clone().into());
        d.insert("scope".into(), a.scope.clone().into());
    })
}

/// `default_ipv4`/`default_ipv6`: the default route's gateway, interface and source address,
/// the keys `addr_keys` adds for that address when the interface has it, and the interface's
/// link keys; empty without a default route.
fn default_route(
    route: &str,
    ifaces: &[(String, Map)],
    addrs: &[AddrLine],
    addr_keys: impl Fn(&AddrLine, &mut Map),
) -> Map {
    let mut d = Map::new();
    let Some((via, dev, src)) = route_words(route) else {
        return d;
    };
    if let Some(g) = via {
        d.insert("gateway".into(), g.into());
    }
    d.insert("interface".into(), dev.clone().into());
    d.insert("address".into(), src.clone().into());
    if let Some(a) = addrs.iter().find(|a| a.device == dev && a.address == src) {
        addr_keys(a, &mut d);
    }
    add_link_keys(
        &mut d,
        ifaces.iter().find(|(n, _)| *n == dev).map(|(_, m)| m),
    );
    d.sort_keys();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Sections {
        Sections::parse(
            "@@KPLAY_FACTS@@ netdev\neth0\t1\t02:fc:00:00:00:01\t1400\t0x1003\t\nlo\t772\t00:00:00:00:00:00\t65536\t0x9\t\nbr0\t1\taa:bb:cc:dd:ee:ff\t1500\t0x1002\tbridge\n\
             @@KPLAY_FACTS@@ addr4\n1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
             4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n\
             @@KPLAY_FACTS@@ addr6\n4: eth0    inet6 fe80::fc:ff:fe00:1/64 scope link \\       valid_lft forever preferred_lft forever\n\
             @@KPLAY_FACTS@@ route4\n8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \n    cache \n\
             @@KPLAY_FACTS@@ route6\n\n@@KPLAY_FACTS@@ end\n",
        )
    }

    #[test]
    fn default_ipv4_combines_route_and_interface() {
        let f = collect(&sample());
        assert_eq!(
            f["ansible_default_ipv4"],
            json!({"address": "192.0.2.2", "alias": "eth0", "broadcast": "192.0.2.255", "gateway": "192.0.2.1", "interface": "eth0",
                   "macaddress": "02:fc:00:00:00:01", "mtu": 1400, "netmask": "255.255.255.0", "network": "192.0.2.0", "prefix": "24", "type": "ether"})
        );
        assert_eq!(f["ansible_default_ipv6"], json!({}));
    }

    #[test]
    fn interfaces_have_ansible_shape() {
        let f = collect(&sample());
        assert_eq!(f["ansible_interfaces"], json!(["eth0", "lo", "br0"]));
        assert_eq!(f["ansible_lo"]["type"], json!("loopback"));
        assert!(f["ansible_lo"].get("macaddress").is_none());
        assert_eq!(f["ansible_lo"]["ipv4"]["broadcast"], json!(""));
        assert_eq!(f["ansible_br0"]["type"], json!("bridge"));
        assert_eq!(f["ansible_br0"]["active"], json!(false));
        assert_eq!(
            f["ansible_eth0"]["ipv6"],
            json!([{"address": "fe80::fc:ff:fe00:1", "prefix": "64", "scope": "link"}])
        );
    }

    #[test]
    fn all_addresses_skip_loopback() {
        let f = collect(&sample());
        assert_eq!(f["ansible_all_ipv4_addresses"], json!(["192.0.2.2"]));
        assert_eq!(
            f["ansible_all_ipv6_addresses"],
            json!(["fe80::fc:ff:fe00:1"])
        );
    }

    #[test]
    fn netmask_from_prefix() {
        assert_eq!(netmask(0).to_string(), "0.0.0.0");
        assert_eq!(netmask(20).to_string(), "255.255.240.0");
        assert_eq!(netmask(32).to_string(), "255.255.255.255");
    }
}
