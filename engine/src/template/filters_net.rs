//! The `ansible.utils` IP address filters kubespray-style playbooks lean on: `ipaddr` (with
//! its queries), `ipv4`, `ipv6`, `ipwrap`, `ipsubnet`, `ipmath` and `nthhost`, by short name and
//! as `ansible.utils.*`. An address is read as netaddr's `IPNetwork` reads it: `a.b.c.d`,
//! `a.b.c.d/len`, `a.b.c.d/netmask`, IPv6 likewise; a bare address is a /32 (/128). Values that
//! are not addresses give `False` (and are dropped from lists), as in Ansible.

use super::filters_strings::text;
use super::op_err;
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, Error};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn register(env: &mut Environment<'static>) {
    for prefix in ["", "ansible.utils.", "ansible.netcommon."] {
        env.add_filter(format!("{prefix}ipaddr"), ipaddr);
        env.add_filter(format!("{prefix}ipv4"), ipv4);
        env.add_filter(format!("{prefix}ipv6"), ipv6);
        env.add_filter(format!("{prefix}ipwrap"), ipwrap);
        env.add_filter(format!("{prefix}ipsubnet"), ipsubnet);
        env.add_filter(format!("{prefix}ipmath"), ipmath);
        env.add_filter(format!("{prefix}nthhost"), nthhost);
    }
}

/// An address with the prefix it was written with (netaddr's `IPNetwork`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub ip: IpAddr,
    pub prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let max = max_len(&ip);
        let prefix = match len {
            None => max,
            Some(l) if l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty() => {
                let p: u8 = l.parse().ok()?;
                (p <= max).then_some(p)?
            }
            Some(l) => mask_len(l, &ip)?,
        };
        Some(Net { ip, prefix })
    }

    fn v4(&self) -> bool {
        self.ip.is_ipv4()
    }

    fn bits(&self) -> u32 {
        u32::from(max_len(&self.ip))
    }

    fn int(&self) -> u128 {
        to_int(&self.ip)
    }

    fn mask(&self) -> u128 {
        let host = self.bits() - u32::from(self.prefix);
        let all = if self.bits() == 128 {
            u128::MAX
        } else {
            (1u128 << self.bits()) - 1
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    fn network_int(&self) -> u128 {
        self.int() & self.mask()
    }

    /// Addresses in the network.
    fn size(&self) -> u128 {
        let host = self.bits() - u32::from(self.prefix);
        if host >= 128 {
            u128::MAX
        } else {
            1u128 << host
        }
    }

    fn last_int(&self) -> u128 {
        self.network_int().saturating_add(self.size() - 1)
    }

    fn addr(&self, n: u128) -> IpAddr {
        from_int(n, self.v4())
    }

    fn with_prefix(&self, ip: IpAddr) -> String {
        format!("{ip}/{}", self.prefix)
    }

    fn network(&self) -> IpAddr {
        self.addr(self.network_int())
    }

    fn cidr(&self) -> String {
        self.with_prefix(self.network())
    }

    fn is_network_address(&self) -> bool {
        self.int() == self.network_int()
    }

    fn is_private(&self) -> bool {
        match self.ip {
            IpAddr::V4(a) => {
                a.is_private() || a.is_loopback() || a.is_link_local() || {
                    let o = a.octets();
                    (o[0] == 100 && (64..128).contains(&o[1]))
                        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                }
            }
            IpAddr::V6(a) => {
                let s = a.segments();
                (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || a.is_loopback()
            }
        }
    }
}

fn max_len(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_int(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    }
}

fn from_int(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// `255.255.255.0` (netmask) or `0.0.0.255` (hostmask) as a prefix length.
fn mask_len(mask: &str, ip: &IpAddr) -> Option<u8> {
    let m: IpAddr = mask.parse().ok()?;
    if m.is_ipv4() != ip.is_ipv4() {
        return None;
    }
    let bits = u32::from(max_len(ip));
    let v = to_int(&m);
    let ones = v.count_ones();
    let contiguous = |x: u128| {
        let full = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let expect = if x == 0 {
            0
        } else {
            full & !((1u128 << (bits - x.count_ones())) - 1)
        };
        x == expect
    };
    if contiguous(v) {
        return Some(ones as u8);
    }
    let full = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    contiguous(full & !v).then_some((bits - ones) as u8)
}

fn no() -> MjValue {
    MjValue::from(false)
}

/// The answer of one `ipaddr` query for one value (False when it does not apply).
fn query_one(raw: &MjValue, query: &MjValue) -> Result<MjValue, Error> {
    if raw.is_none() || raw.is_undefined() {
        return Ok(no());
    }
    let s = text(raw)?;
    let Some(n) = Net::parse(&s) else {
        return Ok(no());
    };
    let s_out = || MjValue::from(s.trim().to_string());
    if query.is_none() || query.is_undefined() || query.as_str() == Some("") {
        return Ok(s_out());
    }
    if query.kind() == ValueKind::Number {
        let i = i128::try_from(query.clone()).map_err(|e| op_err(e.to_string()))?;
        return Ok(nth(&n, i, true));
    }
    let q = text(query)?;
    if let Ok(i) = q.parse::<i128>() {
        return Ok(nth(&n, i, true));
    }
    // A network (or address) as the query: the value when it lies inside it, else None
    // (kubespray: `pods | ipaddr(services) | string == 'None'` checks they do not overlap).
    if q.contains(['.', ':']) {
        if let Some(outer) = Net::parse(&q) {
            let inside = outer.v4() == n.v4()
                && n.network_int() >= outer.network_int()
                && n.last_int() <= outer.last_int();
            return Ok(if inside { s_out() } else { MjValue::from(()) });
        }
    }
    if let Some(passes) = kind_test(&n, &q) {
        return Ok(if passes { s_out() } else { no() });
    }
    let single = n.size() == 1;
    let point_to_point = n.size() == 2;
    let v = match q.as_str() {
        "address" => {
            if single || point_to_point || !n.is_network_address() {
                MjValue::from(n.ip.to_string())
            } else {
                no()
            }
        }
        "host" => {
            if single || point_to_point || !n.is_network_address() {
                MjValue::from(n.with_prefix(n.ip))
            } else {
                no()
            }
        }
        "host/prefix" | "address/prefix" => {
            if !single && (point_to_point || !n.is_network_address()) {
                MjValue::from(n.with_prefix(n.ip))
            } else {
                no()
            }
        }
        "net" => {
            if !single && n.is_network_address() {
                MjValue::from(n.cidr())
            } else {
                no()
            }
        }
        "network" => MjValue::from(n.network().to_string()),
        "subnet" | "cidr" | "network/prefix" => MjValue::from(n.cidr()),
        "netmask" => MjValue::from(n.addr(n.mask()).to_string()),
        "hostmask" => MjValue::from(n.addr(!n.mask() & (n.size() - 1)).to_string()),
        "broadcast" => {
            if n.v4() && !single && !point_to_point {
                MjValue::from(n.addr(n.last_int()).to_string())
            } else {
                MjValue::from(())
            }
        }
        "prefix" => MjValue::from(n.prefix),
        "size" => MjValue::from(n.size()),
        "version" => MjValue::from(if n.v4() { 4 } else { 6 }),
        "bool" => MjValue::from(true),
        "int" => MjValue::from(format!("{}/{}", n.int(), n.prefix)),
        "wrap" | "ipwrap" => MjValue::from(wrap(&s)),
        "revdns" => MjValue::from(revdns(&n.ip)),
        "first_usable" => usable(&n).map_or_else(no, |(f, _)| MjValue::from(n.addr(f).to_string())),
        "last_usable" => usable(&n).map_or_else(no, |(_, l)| MjValue::from(n.addr(l).to_string())),
        "range_usable" => usable(&n).map_or_else(no, |(f, l)| {
            MjValue::from(format!("{}-{}", n.addr(f), n.addr(l)))
        }),
        "next_usable" => match usable(&n) {
            Some((_, l)) if n.int() < l => MjValue::from(n.addr(n.int() + 1).to_string()),
            _ => no(),
        },
        "previous_usable" => match usable(&n) {
            Some((f, _)) if n.int() > f => MjValue::from(n.addr(n.int() - 1).to_string()),
            _ => no(),
        },
        other => return Err(op_err(format!("Unknown ipaddr filter query: {other}"))),
    };
    Ok(v)
}

/// The queries that ask what kind of address the value is (the value passes or becomes
/// false): `Some(passes)`, `None` for any other query.
fn kind_test(n: &Net, q: &str) -> Option<bool> {
    Some(match q {
        "ipv4" | "4" => n.v4(),
        "ipv6" | "6" => !n.v4(),
        "private" => n.is_private(),
        "public" => !n.is_private(),
        "loopback" => n.ip.is_loopback(),
        "multicast" => n.ip.is_multicast(),
        "unicast" => !n.ip.is_multicast(),
        "link-local" => match n.ip {
            IpAddr::V4(a) => a.is_link_local(),
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        },
        _ => return None,
    })
}

/// First and last usable addresses (IPv4 networks lose their network and broadcast
/// addresses, except /31 and /32).
fn usable(n: &Net) -> Option<(u128, u128)> {
    let (first, last) = (n.network_int(), n.last_int());
    if n.size() <= 2 || !n.v4() {
        return Some((first, last));
    }
    Some((first + 1, last - 1))
}

/// Address number `i` of the network (negative: from the end), with the prefix.
fn nth(n: &Net, i: i128, with_prefix: bool) -> MjValue {
    let size = n.size();
    let idx = if i >= 0 {
        i as u128
    } else {
        match size.checked_sub(i.unsigned_abs()) {
            Some(x) => x,
            None => return no(),
        }
    };
    if idx >= size {
        return no();
    }
    let ip = n.addr(n.network_int() + idx);
    if with_prefix {
        MjValue::from(n.with_prefix(ip))
    } else {
        MjValue::from(ip.to_string())
    }
}

fn wrap(s: &str) -> String {
    let (addr, rest) = match s.split_once('/') {
        Some((a, l)) => (a, format!("/{l}")),
        None => (s, String::new()),
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{addr}]{rest}"),
        _ => s.to_string(),
    }
}

fn revdns(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let hex: String = a.octets().iter().map(|b| format!("{b:02x}")).collect();
            let mut parts: Vec<String> = hex.chars().rev().map(String::from).collect();
            parts.push("ip6.arpa.".into());
            parts.join(".")
        }
    }
}

/// Apply a query to a value or each item of a list (dropping the items it rejects).
fn apply(
    value: &MjValue,
    f: impl Fn(&MjValue) -> Result<MjValue, Error>,
) -> Result<MjValue, Error> {
    if value.kind() == ValueKind::Seq {
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let r = f(&item)?;
            if r.is_true() || r.kind() == ValueKind::Number {
                out.push(r);
            }
        }
        return Ok(MjValue::from(out));
    }
    f(value)
}

/// `value | ipaddr(query='')`.
fn ipaddr(value: &MjValue, query: Option<MjValue>) -> Result<MjValue, Error> {
    super::defined(value)?;
    let q = query.unwrap_or(MjValue::from(""));
    apply(value, |v| query_one(v, &q))
}

fn by_version(
    value: &MjValue,
    query: Option<MjValue>,
    version: &'static str,
) -> Result<MjValue, Error> {
    super::defined(value)?;
    let q = query.unwrap_or(MjValue::from(""));
    apply(value, |v| {
        let kept = query_one(v, &MjValue::from(version))?;
        if !kept.is_true() {
            return Ok(no());
        }
        query_one(&kept, &q)
    })
}

/// `value | ipv4(query='')`: ipaddr on IPv4 values only.
fn ipv4(value: &MjValue, query: Option<MjValue>) -> Result<MjValue, Error> {
    by_version(value, query, "ipv4")
}

/// `value | ipv6(query='')`: ipaddr on IPv6 values only.
fn ipv6(value: &MjValue, query: Option<MjValue>) -> Result<MjValue, Error> {
    by_version(value, query, "ipv6")
}

/// `value | ipwrap`: IPv6 addresses in brackets; anything else unchanged (lists keep every
/// item).
fn ipwrap(value: &MjValue) -> Result<MjValue, Error> {
    super::defined(value)?;
    let one = |v: &MjValue| -> Result<MjValue, Error> {
        if v.kind() != ValueKind::String {
            return Ok(v.clone());
        }
        Ok(MjValue::from(wrap(&text(v)?)))
    };
    if value.kind() == ValueKind::Seq {
        return value
            .try_iter()?
            .map(|v| one(&v))
            .collect::<Result<Vec<_>, _>>()
            .map(MjValue::from);
    }
    one(value)
}

/// `network | ipsubnet(prefix, index=None)`: how many /prefix subnets fit (no index), the
/// index-th of them, or, for an address or a smaller network, the /prefix network holding it.
fn ipsubnet(
    value: &MjValue,
    query: Option<MjValue>,
    index: Option<MjValue>,
) -> Result<MjValue, Error> {
    super::defined(value)?;
    let Some(n) = Net::parse(&text(value)?) else {
        return Ok(no());
    };
    let Some(query) = query.filter(|q| !q.is_none()) else {
        return Ok(MjValue::from(n.cidr()));
    };
    let Ok(new_len) = text(&query)?.trim().parse::<u8>() else {
        return Ok(no());
    };
    if new_len > max_len(&n.ip) {
        return Ok(no());
    }
    if n.size() == 1 || new_len <= n.prefix {
        if index.is_some() {
            return Ok(no());
        }
        let outer = Net {
            ip: n.ip,
            prefix: new_len,
        };
        return Ok(MjValue::from(outer.cidr()));
    }
    let count = 1u128 << u32::from(new_len - n.prefix).min(127);
    let Some(index) = index.filter(|i| !i.is_none()) else {
        return Ok(MjValue::from(count.to_string()));
    };
    let i = i128::try_from(index).map_err(|e| op_err(e.to_string()))?;
    let idx = if i >= 0 {
        i as u128
    } else {
        match count.checked_sub(i.unsigned_abs()) {
            Some(x) => x,
            None => return Ok(no()),
        }
    };
    if idx >= count {
        return Ok(no());
    }
    let sub = Net {
        ip: n.addr(n.network_int()),
        prefix: new_len,
    };
    let start = n.network_int() + idx * sub.size();
    Ok(MjValue::from(format!("{}/{new_len}", n.addr(start))))
}

/// `address | ipmath(amount)`: the address `amount` further on (or back).
fn ipmath(value: &MjValue, amount: i64) -> Result<MjValue, Error> {
    let s = text(value)?;
    let ip: IpAddr = s
        .trim()
        .parse()
        .map_err(|_| op_err(format!("You must pass a valid IP address; {s} is invalid")))?;
    let n = Net {
        ip,
        prefix: max_len(&ip),
    };
    let max = if n.v4() {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    let v = if amount >= 0 {
        n.int().checked_add(amount as u128)
    } else {
        n.int().checked_sub(amount.unsigned_abs() as u128)
    }
    .filter(|v| *v <= max)
    .ok_or_else(|| op_err(format!("the result of {s} + {amount} is not an IP address")))?;
    Ok(MjValue::from(n.addr(v).to_string()))
}

/// `network | nthhost(n)`: address number n of the network (negative: from the end).
fn nthhost(value: &MjValue, query: MjValue) -> Result<MjValue, Error> {
    let Some(n) = Net::parse(&text(value)?) else {
        return Ok(no());
    };
    let Ok(i) = text(&query)?.trim().parse::<i128>() else {
        return Ok(no());
    };
    Ok(nth(&n, i, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(expr: &str) -> String {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(expr, ()).unwrap()
    }

    /// Expected values from the ansible.utils filter documentation.
    #[test]
    fn ipaddr_queries() {
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('address') }}"),
            "192.168.0.1"
        );
        assert_eq!(r("{{ '192.168.0.0/24' | ipaddr('address') }}"), "False");
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('network') }}"),
            "192.168.0.0"
        );
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('netmask') }}"),
            "255.255.255.0"
        );
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('hostmask') }}"),
            "0.0.0.255"
        );
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('broadcast') }}"),
            "192.168.0.255"
        );
        assert_eq!(r("{{ '192.168.0.1/24' | ipaddr('prefix') }}"), "24");
        assert_eq!(r("{{ '192.168.0.1/24' | ipaddr('size') }}"), "256");
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('subnet') }}"),
            "192.168.0.0/24"
        );
        assert_eq!(
            r("{{ '192.168.0.1/24' | ipaddr('host') }}"),
            "192.168.0.1/24"
        );
        assert_eq!(r("{{ '192.168.0.1' | ipaddr('host') }}"), "192.168.0.1/32");
        assert_eq!(
            r("{{ '192.168.0.0/24' | ipaddr('net') }}"),
            "192.168.0.0/24"
        );
        assert_eq!(r("{{ '192.168.0.1/24' | ipaddr('net') }}"), "False");
        assert_eq!(
            r("{{ '192.168.0.1/255.255.255.0' | ipaddr('prefix') }}"),
            "24"
        );
        assert_eq!(r("{{ 'not an ip' | ipaddr }}"), "False");
        assert_eq!(r("{{ '10.0.0.1' | ipaddr }}"), "10.0.0.1");
        assert_eq!(r("{{ ['192.24.2.1', 'host.fqdn', '::1', '192.168.32.0/24', 'fe80::100/10', true, ''] | ipaddr | join(' ') }}"),
            "192.24.2.1 ::1 192.168.32.0/24 fe80::100/10");
        assert_eq!(r("{{ '10.0.0.0/24' | ipaddr('first_usable') }} {{ '10.0.0.0/24' | ipaddr('last_usable') }}"), "10.0.0.1 10.0.0.254");
        assert_eq!(
            r("{{ '192.168.0.1' | ipaddr('revdns') }}"),
            "1.0.168.192.in-addr.arpa."
        );
        assert_eq!(
            r("{{ '10.0.0.1' | ipaddr('private') }} {{ '8.8.8.8' | ipaddr('public') }}"),
            "10.0.0.1 8.8.8.8"
        );
    }

    /// The kubespray idiom: the first address of the service network.
    #[test]
    fn nth_address_of_a_network() {
        assert_eq!(r("{{ '10.233.0.0/18' | ansible.utils.ipaddr('net') | ansible.utils.ipaddr(1) | ansible.utils.ipaddr('address') }}"), "10.233.0.1");
        assert_eq!(r("{{ '10.233.0.0/18' | ipaddr(10) }}"), "10.233.0.10/18");
        assert_eq!(r("{{ '192.168.0.0/24' | ipaddr(-1) }}"), "192.168.0.255/24");
        assert_eq!(r("{{ '10.0.0.0/8' | nthhost(305) }}"), "10.0.1.49");
        assert_eq!(r("{{ '10.0.0.0/30' | nthhost(4) }}"), "False");
        assert_eq!(
            r("{{ 'fd00::/64' | ipaddr(1) | ipaddr('address') }}"),
            "fd00::1"
        );
    }

    /// kubespray's overlap checks: a network as the query keeps values inside it.
    #[test]
    fn network_query_keeps_values_inside_it() {
        assert_eq!(
            r("{{ '10.233.64.0/18' | ansible.utils.ipaddr('10.233.0.0/18') | string }}"),
            "None"
        );
        assert_eq!(
            r("{{ '10.233.1.0/24' | ipaddr('10.233.0.0/18') }}"),
            "10.233.1.0/24"
        );
        assert_eq!(
            r("{{ '10.233.0.5' | ipaddr('10.233.0.0/18') }}"),
            "10.233.0.5"
        );
        assert_eq!(
            r("{{ ['10.233.64.0/20', '192.168.0.0/24'] | ipaddr('10.233.64.0/18') | length }}"),
            "1"
        );
        assert_eq!(r("{{ 'fd00::1' | ipaddr('10.0.0.0/8') | string }}"), "None");
    }

    #[test]
    fn versions_wrap_math_subnets() {
        assert_eq!(
            r("{{ ['192.168.0.1', '::1', 'x'] | ipv4 | join(',') }}"),
            "192.168.0.1"
        );
        assert_eq!(
            r("{{ ['192.168.0.1', '::1', 'x'] | ipv6 | join(',') }}"),
            "::1"
        );
        assert_eq!(r("{{ '2001:db8::1/64' | ipv6('address') }}"), "2001:db8::1");
        assert_eq!(
            r("{{ ['192.24.2.1', '::1', 'host.fqdn', '2001:db8::/48'] | ipwrap | join(' ') }}"),
            "192.24.2.1 [::1] host.fqdn [2001:db8::]/48"
        );
        assert_eq!(
            r("{{ '192.168.1.5' | ipmath(5) }} {{ '192.168.0.5' | ipmath(-10) }}"),
            "192.168.1.10 192.167.255.251"
        );
        assert_eq!(r("{{ '2001::1' | ipmath(10) }}"), "2001::b");
        assert_eq!(r("{{ '192.168.0.0/16' | ipsubnet(20) }}"), "16");
        assert_eq!(
            r("{{ '192.168.0.0/16' | ipsubnet(20, 0) }}"),
            "192.168.0.0/20"
        );
        assert_eq!(
            r("{{ '192.168.0.0/16' | ipsubnet(20, -1) }}"),
            "192.168.240.0/20"
        );
        assert_eq!(
            r("{{ '192.168.144.5' | ipsubnet(20) }}"),
            "192.168.144.0/20"
        );
        assert_eq!(r("{{ '192.168.0.0/16' | ipsubnet }}"), "192.168.0.0/16");
    }
}
