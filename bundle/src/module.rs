//! The `registry_push` module: pushes the bundle's images to a registry from the controller
//! (it is controller-only, like `delegate_to: localhost`), for the bootstrap role:
//!
//! ```yaml
//! - name: Push the bundle's images to the bootstrap registry
//!   registry_push:
//!     bundle: "{{ kplay_bundle_dir }}"          # DIR of `kplay bundle build` (or its images/)
//!     registry: "{{ bootstrap_address }}:{{ registry_port }}"
//!     ca_cert: "{{ kplay_ca_dir }}/ca.pem"
//!     images: "{{ offline_images.values() | map(attribute='repo') ... }}"   # optional: all
//! ```
//!
//! Idempotent: `changed` only when a tag did not already point at the bundle's manifest; in
//! check mode nothing is sent and `changed` says whether a push would change anything.

use std::path::PathBuf;

use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::{Map, Value};

use crate::oci::OciDir;
use crate::registry::{Reference, Registry};

pub struct RegistryPush;

fn arg_str(args: &Map, key: &str) -> Result<Option<String>, ModuleError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ModuleError::new(format!(
            "registry_push: `{key}` must be a string, got {other}"
        ))),
    }
}

/// The image layout of a bundle directory or an `images/` directory itself.
pub fn layout_of(path: &std::path::Path) -> Result<OciDir, String> {
    let images = path.join("images");
    let dir = if images.join("oci-layout").is_file() {
        images
    } else {
        path.to_path_buf()
    };
    OciDir::open(&dir).map_err(|e| e.to_string())
}

#[async_trait]
impl Module for RegistryPush {
    fn name(&self) -> &'static str {
        "registry_push"
    }

    fn controller_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        for k in args.keys() {
            if !["bundle", "registry", "ca_cert", "images", "plain_http"].contains(&k.as_str()) {
                return Err(ModuleError::new(format!(
                    "registry_push: unsupported parameter `{k}` (supported: bundle, registry, ca_cert, images, plain_http)"
                )));
            }
        }
        let bundle = arg_str(&args, "bundle")?
            .ok_or_else(|| ModuleError::new("registry_push: `bundle` is required"))?;
        let registry = arg_str(&args, "registry")?
            .ok_or_else(|| ModuleError::new("registry_push: `registry` (HOST:PORT) is required"))?;
        let ca_cert = arg_str(&args, "ca_cert")?.map(PathBuf::from);
        let plain_http = matches!(args.get("plain_http"), Some(Value::Bool(true)));
        let wanted: Vec<String> = match args.get("images") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ModuleError::new(format!("registry_push: images: {v} is not a string"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ModuleError::new(format!(
                    "registry_push: `images` must be a list, got {other}"
                )))
            }
        };
        let check = ctx.check_mode;
        let result = tokio::task::spawn_blocking(move || -> Result<Map, String> {
            let dir = layout_of(std::path::Path::new(&bundle))?;
            let client = Registry::new(&registry, ca_cert.as_deref(), plain_http)
                .map_err(|e| e.to_string())?;
            client.ping().map_err(|e| e.to_string())?;
            let refs: Vec<String> = if wanted.is_empty() {
                dir.images()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(r, _)| r)
                    .collect()
            } else {
                wanted
            };
            let mut changed = false;
            let mut out = Vec::new();
            for r in &refs {
                let mut entry = Map::new();
                if check {
                    let parsed = Reference::parse(r).map_err(|e| e.to_string())?;
                    let want = dir.find(r).map_err(|e| e.to_string())?.digest;
                    let have = client
                        .manifest_digest(&parsed.repository, &parsed.tag)
                        .map_err(|e| e.to_string())?;
                    let would = have.as_ref() != Some(&want);
                    changed |= would;
                    entry.insert("image".into(), Value::String(r.clone()));
                    entry.insert("digest".into(), Value::String(want.to_string()));
                    entry.insert("changed".into(), Value::Bool(would));
                } else {
                    let p = client.push_image(&dir, r).map_err(|e| e.to_string())?;
                    changed |= p.changed;
                    entry.insert("image".into(), Value::String(r.clone()));
                    entry.insert("repository".into(), Value::String(p.repository));
                    entry.insert("tag".into(), Value::String(p.tag));
                    entry.insert("digest".into(), Value::String(p.digest.to_string()));
                    entry.insert("uploaded".into(), Value::from(p.uploaded));
                    entry.insert("mounted".into(), Value::from(p.mounted));
                    entry.insert("existing".into(), Value::from(p.existing));
                    entry.insert("changed".into(), Value::Bool(p.changed));
                }
                out.push(Value::Object(entry));
            }
            let mut m = Map::new();
            m.insert("changed".into(), Value::Bool(changed));
            m.insert("images".into(), Value::Array(out));
            Ok(m)
        })
        .await
        .map_err(|e| ModuleError::new(format!("registry_push: {e}")))?;
        result
            .map(ModuleResult::from)
            .map_err(|e| ModuleError::new(format!("registry_push: {e}")))
    }
}
