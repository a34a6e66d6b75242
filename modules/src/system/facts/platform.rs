//! The `min` subset apart from the distribution: platform (uname, hostname), user, environment,
//! date/time, DNS, service manager and package manager.

use super::sections::Sections;
use chrono::{DateTime, Utc};
use kplay_engine::value::{Map, Value};

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// uname, hostname/fqdn/domain, architecture, machine id.
pub fn platform(sec: &Sections) -> Map {
    let kv = sec.kv("uname");
    let get = |k: &str| kv.get(k).cloned().unwrap_or_default();
    let mut m = Map::new();
    let nodename = get("nodename");
    let fqdn = Some(get("fqdn"))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| nodename.clone());
    let machine = get("machine");
    m.insert("system".into(), s(get("system")));
    m.insert("kernel".into(), s(get("kernel")));
    m.insert("kernel_version".into(), s(get("kernel_version")));
    m.insert("machine".into(), s(machine.clone()));
    m.insert("architecture".into(), s(architecture(&machine)));
    let bits = get("long_bit");
    m.insert("userspace_bits".into(), s(bits.clone()));
    let userspace_arch = if machine == "x86_64" && bits == "32" {
        "i386".to_string()
    } else {
        architecture(&machine)
    };
    m.insert("userspace_architecture".into(), s(userspace_arch));
    m.insert("nodename".into(), s(nodename.clone()));
    m.insert(
        "hostname".into(),
        s(nodename.split('.').next().unwrap_or("").to_string()),
    );
    m.insert("fqdn".into(), s(fqdn.clone()));
    m.insert(
        "domain".into(),
        s(fqdn
            .split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default()),
    );
    m.insert("machine_id".into(), s(get("machine_id").trim().to_string()));
    m
}

/// Ansible reports `i386` for all 32-bit x86 machines.
fn architecture(machine: &str) -> String {
    match machine {
        "i486" | "i586" | "i686" => "i386".to_string(),
        other => other.to_string(),
    }
}

/// `user_*` facts and the real/effective ids, from `id` and the passwd entry.
pub fn user(sec: &Sections) -> Map {
    let kv = sec.kv("user");
    let get = |k: &str| kv.get(k).cloned().unwrap_or_default();
    let num = |k: &str| {
        get(k)
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let pw: Vec<String> = get("passwd").split(':').map(str::to_string).collect();
    let field = |i: usize| pw.get(i).cloned().unwrap_or_default();
    let mut m = Map::new();
    m.insert("user_id".into(), s(get("user_id")));
    m.insert("user_uid".into(), num("uid"));
    m.insert(
        "user_gid".into(),
        pw.get(3)
            .and_then(|g| g.parse::<i64>().ok())
            .map(Value::from)
            .unwrap_or_else(|| num("gid")),
    );
    m.insert(
        "user_gecos".into(),
        s(field(4).split(',').next().unwrap_or("").to_string()),
    );
    m.insert("user_dir".into(), s(field(5)));
    m.insert("user_shell".into(), s(field(6)));
    m.insert("real_user_id".into(), num("ruid"));
    m.insert("effective_user_id".into(), num("uid"));
    m.insert("real_group_id".into(), num("rgid"));
    m.insert("effective_group_id".into(), num("gid"));
    m
}

/// The login environment as `ansible_env`: NUL-separated `/proc/self/environ`, else `env` lines.
pub fn env(sec: &Sections) -> Map {
    let mut m = Map::new();
    let environ = sec.text("environ");
    let entries: Vec<&str> = if environ.contains('\0') {
        environ.split('\0').collect()
    } else {
        sec.text("env_lines").lines().collect()
    };
    for e in entries {
        if let Some((k, v)) = e.split_once('=') {
            if !k.is_empty() && !k.contains('\n') {
                // Under sudo, SUDO_COMMAND holds the command sudo ran: this very script. Name
                // it instead of showing it (ansible-core shows its own module command there).
                if k == "SUDO_COMMAND" && v.contains("KPLAY_FACTS") {
                    m.insert(k.to_string(), s("/bin/sh -c <kplay fact gathering>"));
                    continue;
                }
                m.insert(k.to_string(), s(v));
            }
        }
    }
    m
}

/// `ansible_date_time` from the host's `date` output (local fields) and its epoch (UTC fields).
pub fn date_time(sec: &Sections) -> Option<Map> {
    let line = sec.text("date").trim().to_string();
    let f: Vec<&str> = line.split('|').collect();
    if f.len() < 13 {
        return None;
    }
    let (y, mo, d, h, mi, se, epoch, tz, off, wd, wdn, wn, nanos) = (
        f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12],
    );
    // `%N` is a GNU extension: busybox prints it literally.
    let micros = if nanos.len() >= 6 && nanos.bytes().all(|b| b.is_ascii_digit()) {
        nanos[..6].to_string()
    } else {
        "000000".to_string()
    };
    let epoch_i: i64 = epoch.parse().ok()?;
    let utc: DateTime<Utc> = DateTime::from_timestamp(epoch_i, 0)?;
    let mut m = Map::new();
    m.insert("year".into(), s(y));
    m.insert("month".into(), s(mo));
    m.insert("weekday".into(), s(wd));
    m.insert("weekday_number".into(), s(wdn));
    m.insert("weeknumber".into(), s(wn));
    m.insert("day".into(), s(d));
    m.insert("hour".into(), s(h));
    m.insert("minute".into(), s(mi));
    m.insert("second".into(), s(se));
    m.insert("epoch".into(), s(epoch));
    m.insert("epoch_int".into(), s(epoch));
    m.insert("date".into(), s(format!("{y}-{mo}-{d}")));
    m.insert("time".into(), s(format!("{h}:{mi}:{se}")));
    m.insert(
        "iso8601_micro".into(),
        s(format!("{}.{micros}Z", utc.format("%Y-%m-%dT%H:%M:%S"))),
    );
    m.insert(
        "iso8601".into(),
        s(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    m.insert(
        "iso8601_basic".into(),
        s(format!("{y}{mo}{d}T{h}{mi}{se}{micros}")),
    );
    m.insert(
        "iso8601_basic_short".into(),
        s(format!("{y}{mo}{d}T{h}{mi}{se}")),
    );
    m.insert("tz".into(), s(tz));
    // The daylight-saving zone name needs the zone database; the current name is the best
    // one-call answer (identical wherever there is no DST, e.g. UTC).
    m.insert("tz_dst".into(), s(tz));
    m.insert("tz_offset".into(), s(off));
    Some(m)
}

/// `ansible_dns` from resolv.conf.
pub fn dns(sec: &Sections) -> Map {
    let mut m = Map::new();
    let mut nameservers = Vec::new();
    let mut search = Vec::new();
    let mut options = Map::new();
    for line in sec.text("resolv").lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => nameservers.extend(words.next().map(s)),
            Some("domain") => {
                if let Some(d) = words.next() {
                    m.insert("domain".into(), s(d));
                }
            }
            Some("search") => search.extend(words.map(s)),
            Some("sortlist") => {
                m.insert("sortlist".into(), Value::Array(words.map(s).collect()));
            }
            Some("options") => {
                for o in words {
                    match o.split_once(':') {
                        Some((k, v)) => options.insert(k.to_string(), s(v)),
                        None => options.insert(o.to_string(), Value::Bool(true)),
                    };
                }
            }
            _ => {}
        }
    }
    if !nameservers.is_empty() {
        m.insert("nameservers".into(), Value::Array(nameservers));
    }
    if !search.is_empty() {
        m.insert("search".into(), Value::Array(search));
    }
    if !options.is_empty() {
        m.insert("options".into(), Value::Object(options));
    }
    m
}

/// `ansible_service_mgr` with Ansible's rules: PID 1's name unless it is a generic `init` or a
/// shell, then systemd/openrc/sysvinit detection by their footprints.
pub fn service_mgr(sec: &Sections) -> String {
    let kv = sec.kv("init");
    let comm = kv
        .get("comm")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let generic = comm.is_empty() || comm == "init" || comm.ends_with("sh");
    if !generic {
        return match comm.as_str() {
            "openrc-init" => "openrc".to_string(),
            "runit-init" | "runit" => "runit".to_string(),
            "svscan" => "svc".to_string(),
            c => c.to_string(),
        };
    }
    if kv.contains_key("systemd_dirs") && kv.contains_key("systemctl") {
        "systemd".to_string()
    } else if kv.contains_key("openrc") {
        "openrc".to_string()
    } else if kv.contains_key("initd") {
        "sysvinit".to_string()
    } else {
        "service".to_string()
    }
}

/// `ansible_pkg_mgr`: the family's manager when present, else the last one found (Ansible's
/// order), else `unknown`.
pub fn pkg_mgr(sec: &Sections, os_family: &str) -> String {
    let found: Vec<&str> = sec
        .text("pkg")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let has = |p: &str| found.contains(&p);
    let by_family = match os_family {
        "Debian" if has("/usr/bin/apt-get") => Some("apt"),
        "RedHat" if has("/usr/bin/rpm-ostree") => Some("atomic_container"),
        "RedHat" if has("/usr/bin/dnf5") => Some("dnf5"),
        "RedHat" if has("/usr/bin/dnf") => Some("dnf"),
        "RedHat" if has("/usr/bin/yum") => Some("yum"),
        "Suse" if has("/usr/bin/zypper") => Some("zypper"),
        "Alpine" if has("/sbin/apk") => Some("apk"),
        "Archlinux" if has("/usr/bin/pacman") => Some("pacman"),
        "Gentoo" if has("/usr/bin/emerge") => Some("portage"),
        _ => None,
    };
    if let Some(p) = by_family {
        return p.to_string();
    }
    let name = |p: &str| {
        match p.rsplit('/').next().unwrap_or(p) {
            "apt-get" => "apt",
            "emerge" => "portage",
            "xbps-install" => "xbps",
            "rpm-ostree" => "atomic_container",
            other => other,
        }
        .to_string()
    };
    found
        .last()
        .map(|p| name(p))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Kernel command line as Ansible's `cmdline` (last value wins) and `proc_cmdline` (repeated
/// keys become lists); a bare word is `true`.
fn cmdline_facts(line: &str) -> (Map, Map) {
    let mut last = Map::new();
    let mut all = Map::new();
    for word in line.split_whitespace() {
        let (k, v) = match word.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (word.to_string(), Value::Bool(true)),
        };
        last.insert(k.clone(), v.clone());
        match all.get_mut(&k) {
            Some(Value::Array(list)) => list.push(v),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, v]);
            }
            None => {
                all.insert(k, v);
            }
        }
    }
    (last, all)
}

/// Small `min` facts: kernel command line, FIPS, AppArmor/SELinux status, chroot detection.
pub fn misc(sec: &Sections) -> Map {
    let kv = sec.kv("misc");
    let mut m = Map::new();
    let (cmdline, proc_cmdline) =
        cmdline_facts(kv.get("cmdline").map(String::as_str).unwrap_or(""));
    m.insert("cmdline".into(), Value::Object(cmdline));
    m.insert("proc_cmdline".into(), Value::Object(proc_cmdline));
    m.insert(
        "fips".into(),
        Value::Bool(kv.get("fips").is_some_and(|f| f.trim() == "1")),
    );
    let apparmor = if kv.contains_key("apparmor") {
        "enabled"
    } else {
        "disabled"
    };
    m.insert("apparmor".into(), serde_json::json!({"status": apparmor}));
    let selinux = match kv.get("selinux").map(|s| s.trim()) {
        None => serde_json::json!({"status": "disabled"}),
        Some("1") => serde_json::json!({"status": "enabled", "mode": "enforcing"}),
        Some(_) => serde_json::json!({"status": "enabled", "mode": "permissive"}),
    };
    m.insert("selinux".into(), selinux);
    // Not in a chroot when / is the same inode as PID 1's root; unknown (unreadable) counts as not.
    let (root, p1) = (
        kv.get("root_ino").map(|s| s.trim()),
        kv.get("proc_root_ino").map(|s| s.trim()),
    );
    let chroot =
        matches!((root, p1), (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() && a != b);
    m.insert("is_chroot".into(), Value::Bool(chroot));
    m.insert("local".into(), Value::Object(Map::new()));
    m
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
    fn hostname_is_nodename_up_to_first_dot_and_domain_from_fqdn() {
        let m = platform(&sec(
            "uname",
            "nodename=web1.example.com\nfqdn=web1.example.com\nmachine=x86_64\nlong_bit=64",
        ));
        assert_eq!(m["hostname"], json!("web1"));
        assert_eq!(m["domain"], json!("example.com"));
        assert_eq!(m["architecture"], json!("x86_64"));
    }

    #[test]
    fn user_facts_come_from_passwd() {
        let m = user(&sec("user", "user_id=bob\nuid=1000\ngid=1000\nruid=1000\nrgid=1000\npasswd=bob:x:1000:100:Bob B,,,:/home/bob:/bin/zsh"));
        assert_eq!(m["user_dir"], json!("/home/bob"));
        assert_eq!(m["user_shell"], json!("/bin/zsh"));
        assert_eq!(m["user_gid"], json!(100));
        assert_eq!(m["user_gecos"], json!("Bob B"));
        assert_eq!(m["user_uid"], json!(1000));
    }

    #[test]
    fn date_time_splits_local_and_utc_fields() {
        let m = date_time(&sec(
            "date",
            "2024|03|05|15|07|09|1709647629|CET|+0100|Tuesday|2|10|123456789",
        ))
        .unwrap();
        assert_eq!(m["date"], json!("2024-03-05"));
        assert_eq!(m["time"], json!("15:07:09"));
        assert_eq!(m["iso8601"], json!("2024-03-05T14:07:09Z"));
        assert_eq!(m["iso8601_micro"], json!("2024-03-05T14:07:09.123456Z"));
        assert_eq!(m["iso8601_basic_short"], json!("20240305T150709"));
        assert_eq!(m["tz_offset"], json!("+0100"));
    }

    #[test]
    fn dns_reads_nameservers_search_and_options() {
        let m = dns(&sec("resolv", "# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch a.com b.com\noptions ndots:2 rotate"));
        assert_eq!(m["nameservers"], json!(["1.1.1.1", "8.8.8.8"]));
        assert_eq!(m["search"], json!(["a.com", "b.com"]));
        assert_eq!(m["options"], json!({"ndots": "2", "rotate": true}));
    }

    #[test]
    fn service_mgr_prefers_pid1_name_then_footprints() {
        assert_eq!(service_mgr(&sec("init", "comm=systemd")), "systemd");
        assert_eq!(
            service_mgr(&sec("init", "comm=init\nsystemd_dirs=1\nsystemctl=1")),
            "systemd"
        );
        assert_eq!(service_mgr(&sec("init", "comm=bash\ninitd=1")), "sysvinit");
    }

    #[test]
    fn cmdline_keeps_last_value_and_proc_cmdline_all() {
        let m = misc(&sec(
            "misc",
            "cmdline=ro console=tty0 console=ttyS0 root=/dev/sda1",
        ));
        assert_eq!(m["cmdline"]["console"], json!("ttyS0"));
        assert_eq!(m["cmdline"]["ro"], json!(true));
        assert_eq!(m["proc_cmdline"]["console"], json!(["tty0", "ttyS0"]));
        assert_eq!(m["selinux"], json!({"status": "disabled"}));
    }

    #[test]
    fn pkg_mgr_follows_family() {
        assert_eq!(
            pkg_mgr(&sec("pkg", "/usr/bin/yum\n/usr/bin/dnf"), "RedHat"),
            "dnf"
        );
        assert_eq!(pkg_mgr(&sec("pkg", "/usr/bin/apt-get"), "Debian"), "apt");
        assert_eq!(pkg_mgr(&sec("pkg", ""), "Debian"), "unknown");
    }
}
