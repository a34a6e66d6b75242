//! The `virtual` subset: whether the host is a container or VM guest (or a KVM host), from
//! `systemd-detect-virt` when present, else container marker files and the CPU hypervisor flag.

use super::sections::Sections;
use kplay_engine::value::{Map, Value};

/// systemd-detect-virt names → Ansible's `virtualization_type`.
fn from_detect(name: &str) -> Option<&'static str> {
    Some(match name {
        "kvm" => "kvm",
        "qemu" => "kvm",
        "vmware" => "VMware",
        "oracle" => "virtualbox",
        "xen" => "xen",
        "microsoft" => "VirtualPC",
        "bhyve" => "bhyve",
        "docker" => "docker",
        "podman" => "podman",
        "lxc" | "lxc-libvirt" => "lxc",
        "systemd-nspawn" => "systemd-nspawn",
        "openvz" => "openvz",
        "wsl" => "wsl",
        "amazon" => "kvm",
        _ => return None,
    })
}

fn from_dmi(vendor: &str, product: &str) -> Option<&'static str> {
    let v = format!("{vendor} {product}");
    Some(
        if v.contains("KVM")
            || v.contains("QEMU")
            || v.contains("OpenStack")
            || v.contains("Amazon EC2")
        {
            "kvm"
        } else if v.contains("VMware") {
            "VMware"
        } else if v.contains("VirtualBox") || v.contains("innotek") {
            "virtualbox"
        } else if v.contains("Xen") {
            "xen"
        } else if v.contains("Microsoft") {
            "VirtualPC"
        } else {
            return None;
        },
    )
}

pub fn collect(sec: &Sections) -> Map {
    let kv = sec.kv("virt");
    let get = |k: &str| kv.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let container = get("container");
    let cgroup = get("cgroup");
    let guest: Option<&str> = from_detect(&get("detect"))
        .or_else(|| kv.contains_key("dockerenv").then_some("docker"))
        .or_else(|| kv.contains_key("containerenv").then_some("podman"))
        .or_else(|| (container == "lxc" || cgroup.contains("/lxc/")).then_some("lxc"))
        .or_else(|| (cgroup.contains("/docker/") || cgroup.contains("docker-")).then_some("docker"))
        .or_else(|| from_dmi(&get("sys_vendor"), &get("product_name")))
        // Any other `container=` in PID 1's environment (systemd-nspawn style managers, the
        // kplay lab): ansible-core calls it a `container` guest.
        .or_else(|| (!container.is_empty()).then_some("container"));
    let (typ, role) = match guest {
        Some(t) => (t.to_string(), "guest"),
        None if kv.contains_key("hypervisor") => ("NA".to_string(), "guest"),
        None if kv.contains_key("dev_kvm") => ("kvm".to_string(), "host"),
        None => ("NA".to_string(), "NA"),
    };
    let mut m = Map::new();
    m.insert("virtualization_type".into(), Value::String(typ.clone()));
    m.insert("virtualization_role".into(), Value::String(role.into()));
    let mut guests: Vec<Value> = if role == "guest" && typ != "NA" {
        vec![Value::String(typ.clone())]
    } else {
        vec![]
    };
    // Ansible lists the generic "container" technology beside the container runtime.
    if [
        "docker",
        "podman",
        "lxc",
        "systemd-nspawn",
        "openvz",
        "containerd",
    ]
    .contains(&typ.as_str())
    {
        guests.push(Value::String("container".into()));
    }
    let systemd_container = get("systemd_container");
    if !systemd_container.is_empty() && !guests.iter().any(|g| g == &systemd_container) {
        guests.insert(0, Value::String(systemd_container));
    }
    if !container.is_empty() && !guests.iter().any(|g| g == "container") {
        guests.push(Value::String("container".into()));
    }
    m.insert("virtualization_tech_guest".into(), Value::Array(guests));
    let hosts: Vec<Value> = if kv.contains_key("dev_kvm") {
        vec![Value::String("kvm".into())]
    } else {
        vec![]
    };
    m.insert("virtualization_tech_host".into(), Value::Array(hosts));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sec(body: &str) -> Sections {
        Sections::parse(&format!(
            "@@KPLAY_FACTS@@ virt\n{body}\n@@KPLAY_FACTS@@ end\n"
        ))
    }

    #[test]
    fn docker_container_is_a_guest() {
        let m = collect(&sec("dockerenv=1\ncontainer="));
        assert_eq!(m["virtualization_type"], json!("docker"));
        assert_eq!(m["virtualization_role"], json!("guest"));
    }

    #[test]
    fn dmi_vendor_identifies_vm() {
        let m = collect(&sec(
            "sys_vendor=QEMU\nproduct_name=Standard PC\nhypervisor=1",
        ));
        assert_eq!(m["virtualization_type"], json!("kvm"));
    }

    #[test]
    fn bare_metal_with_kvm_is_a_host() {
        let m = collect(&sec("dev_kvm=1"));
        assert_eq!(m["virtualization_role"], json!("host"));
    }
}
