//! Scenario 6: facts from kplay's `setup` compared field by field with ansible-core's on the same host.

use crate::harness::*;

/// Creates (once, cached under target/) a virtualenv with ansible-core 2.18; returns `ansible`.
pub fn ansible_bin() -> Result<PathBuf, String> {
    let venv = root_dir().join("target").join("ansible-venv");
    let ansible = venv.join("bin").join("ansible");
    let is_2_18 = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("[core 2.18.")
            })
    };
    if is_2_18(&ansible) {
        return Ok(ansible);
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    if !ok.is_ok_and(|s| s.success()) {
        return Err(format!("python3 -m venv {} failed", venv.display()));
    }
    let out = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            ANSIBLE_SPEC,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if is_2_18(&ansible) {
        Ok(ansible)
    } else {
        Err(format!("{} is not ansible-core 2.18", ansible.display()))
    }
}

/// `ansible <host> -m setup`'s facts.
pub fn ansible_facts(lab: &Lab, ansible: &Path, host: &str) -> Map<String, Value> {
    let out = Command::new(ansible)
        .arg("-i")
        .arg(&lab.inventory)
        .args([host, "-m", "setup"])
        .current_dir(&lab.work)
        .env("ANSIBLE_CONFIG", lab.work.join("no-such-ansible.cfg"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .stdin(Stdio::null())
        .output()
        .expect("running ansible");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ansible setup failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_text = stdout.split_once("=> ").map(|(_, j)| j).unwrap_or_default();
    let result: Value = serde_json::from_str(json_text)
        .unwrap_or_else(|e| panic!("ansible output ({e}):\n{stdout}"));
    match result.get("ansible_facts") {
        Some(Value::Object(f)) => f.clone(),
        _ => panic!("no ansible_facts in ansible's result:\n{stdout}"),
    }
}

/// `kplay adhoc <host> -m setup --output json`'s facts.
pub fn kplay_facts(lab: &Lab, host: &str) -> Map<String, Value> {
    let inv = lab.inventory.to_string_lossy().into_owned();
    let run = kplay_timeout(
        &lab.work,
        &["adhoc", host, "-i", &inv, "-m", "setup", "--output", "json"],
        RUN_TIMEOUT,
    );
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "kplay setup failed\n{}", run.dump());
    let facts = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_result" && e["host"] == host)
        .and_then(|e| e["result"]["ansible_facts"].as_object().cloned());
    facts.unwrap_or_else(|| panic!("no host_result with ansible_facts\n{}", run.dump()))
}

/// Compares facts field by field; collects every mismatch so one run shows them all.
pub struct FactDiff<'a> {
    ansible: &'a Map<String, Value>,
    kplay: &'a Map<String, Value>,
    mismatches: Vec<String>,
}

impl FactDiff<'_> {
    fn get<'v>(facts: &'v Map<String, Value>, path: &str) -> &'v Value {
        let mut v = facts
            .get(path.split('.').next().unwrap_or_default())
            .unwrap_or(&Value::Null);
        for part in path.split('.').skip(1) {
            v = v.get(part).unwrap_or(&Value::Null);
        }
        v
    }

    fn same(&mut self, path: &str) {
        let (a, k) = (Self::get(self.ansible, path), Self::get(self.kplay, path));
        if a.is_null() {
            self.mismatches
                .push(format!("{path}: ansible-core has no value (test premise)"));
        } else if a != k {
            self.mismatches
                .push(format!("{path}: ansible-core {a} vs kplay {k}"));
        }
    }

    fn same_set(&mut self, path: &str, a: BTreeSet<String>, k: BTreeSet<String>) {
        if a != k {
            self.mismatches.push(format!(
                "{path} (as sets): ansible-core {a:?} vs kplay {k:?}"
            ));
        }
    }

    fn strings(v: &Value) -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect()
    }

    fn same_string_set(&mut self, path: &str) {
        let a = Self::strings(Self::get(self.ansible, path));
        let k = Self::strings(Self::get(self.kplay, path));
        self.same_set(path, a, k);
    }

    fn field_set(&mut self, path: &str, field: &str) {
        let pick = |v: &Value| -> BTreeSet<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m[field].as_str().map(str::to_string))
                .collect()
        };
        let a = pick(Self::get(self.ansible, path));
        let k = pick(Self::get(self.kplay, path));
        self.same_set(&format!("{path}[].{field}"), a, k);
    }
}

pub fn facts_match_ansible(lab: &Lab) {
    let ansible = match ansible_bin() {
        Ok(a) => a,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("no ansible-core: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED facts comparison: no ansible-core ({why})");
            return;
        }
    };
    let host = lab.name(1);
    let a = ansible_facts(lab, &ansible, host);
    let k = kplay_facts(lab, host);
    let mut d = FactDiff {
        ansible: &a,
        kplay: &k,
        mismatches: Vec::new(),
    };
    for f in [
        "ansible_hostname",
        "ansible_fqdn",
        "ansible_nodename",
        "ansible_os_family",
        "ansible_kernel",
        "ansible_architecture",
        "ansible_machine",
        "ansible_memtotal_mb",
        "ansible_processor_vcpus",
        "ansible_processor_cores",
        "ansible_service_mgr",
        "ansible_pkg_mgr",
        "ansible_user_id",
        "ansible_product_uuid",
        "ansible_default_ipv4.address",
        "ansible_default_ipv4.interface",
        "ansible_default_ipv4.gateway",
        "ansible_default_ipv4.macaddress",
        "ansible_env.HOME",
        "ansible_env.USER",
        "ansible_env.LOGNAME",
        "ansible_env.SHELL",
        "ansible_env.PATH",
    ] {
        d.same(f);
    }
    let distribution: Vec<String> = a
        .keys()
        .filter(|k| k.starts_with("ansible_distribution"))
        .cloned()
        .collect();
    assert!(
        distribution.len() >= 4,
        "ansible-core reported too few ansible_distribution* facts: {distribution:?}"
    );
    for f in &distribution {
        d.same(f);
    }
    d.same_string_set("ansible_all_ipv4_addresses");
    d.same_string_set("ansible_interfaces");
    d.field_set("ansible_mounts", "mount");
    for iface in FactDiff::strings(FactDiff::get(&a, "ansible_interfaces")) {
        let key = format!("ansible_{}", iface.replace(['-', ':', '.'], "_"));
        for field in [
            "device",
            "macaddress",
            "mtu",
            "active",
            "type",
            "promisc",
            "ipv4",
        ] {
            if !FactDiff::get(&a, &format!("{key}.{field}")).is_null() {
                d.same(&format!("{key}.{field}"));
            }
        }
        d.field_set(&format!("{key}.ipv6"), "address");
    }
    // Issue [12] item 9: every fact ansible-core's setup returns, kplay returns too.
    let names = |f: &Map<String, Value>| f.keys().cloned().collect::<BTreeSet<String>>();
    let (an, kn) = (names(&a), names(&k));
    if an != kn {
        d.mismatches.push(format!(
            "fact names: only ansible-core: {:?}; only kplay: {:?}",
            an.difference(&kn).collect::<Vec<_>>(),
            kn.difference(&an).collect::<Vec<_>>()
        ));
    }
    for f in [
        "ansible_lsb",
        "ansible_systemd",
        "ansible_lvm",
        "ansible_form_factor",
        "ansible_hostnqn",
        "ansible_iscsi_iqn",
        "ansible_fibre_channel_wwn",
        "ansible_flags",
        "ansible_device_links",
        "ansible_python_version",
        "ansible_python.version",
        "ansible_selinux_python_present",
        "ansible_system_capabilities",
        "ansible_system_capabilities_enforced",
        "ansible_virtualization_type",
        "ansible_virtualization_role",
        "discovered_interpreter_python",
        "ansible_devices.vda.size",
        "ansible_devices.vda.scheduler_mode",
        "ansible_devices.vda.rotational",
    ] {
        d.same(f);
    }
    for key in an.iter().filter(|k| k.starts_with("ansible_ssh_host_key_")) {
        d.same(key);
    }
    d.same_string_set("ansible_locally_reachable_ips.ipv4");
    d.same_string_set("ansible_locally_reachable_ips.ipv6");
    d.same_string_set("ansible_virtualization_tech_guest");
    let epoch = |f: &Map<String, Value>| {
        FactDiff::get(f, "ansible_date_time.epoch")
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
    };
    match (epoch(&a), epoch(&k)) {
        (Some(x), Some(y)) if (x - y).abs() <= 60 => {}
        (x, y) => d.mismatches.push(format!(
            "ansible_date_time.epoch not within a minute: {x:?} vs {y:?}"
        )),
    }
    assert!(
        d.mismatches.is_empty(),
        "facts differ from ansible-core's on {host}:\n  {}",
        d.mismatches.join("\n  ")
    );
}
