//! Images of `build.type: debs`: the files of Debian packages (unpacked with `dpkg-deb -x`, no
//! maintainer scripts run) in one layer, plus links and small files from `build`, with the run
//! configuration from `build`. The smoke image is one: busybox from `busybox-static`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use kplay_engine::Value;

use crate::apt::Deb;
use crate::oci::{Image, Layer, OciDir, OciError, WrittenImage};
use crate::vars::ImageSpec;

/// Errors building a `debs` image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("offline_images.{image}.build.{key}: {message}")]
    Spec {
        image: String,
        key: &'static str,
        message: String,
    },
    #[error("offline_images.{image}: unpacking {deb}: {message}")]
    Unpack {
        image: String,
        deb: String,
        message: String,
    },
    #[error("offline_images.{image}: {source}")]
    Oci {
        image: String,
        #[source]
        source: OciError,
    },
}

/// The `build.packages` of a `debs` image.
pub fn packages_of(spec: &ImageSpec) -> Result<Vec<String>, ImageError> {
    strings(spec, "packages", true)
}

fn strings(spec: &ImageSpec, key: &'static str, required: bool) -> Result<Vec<String>, ImageError> {
    let bad = |message: String| ImageError::Spec {
        image: spec.name.clone(),
        key,
        message,
    };
    match spec.build.get(key) {
        None | Some(Value::Null) if !required => Ok(Vec::new()),
        Some(Value::Array(items)) if !items.is_empty() || !required => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(bad(format!("{other} is not a string"))),
            })
            .collect(),
        Some(other) => Err(bad(format!("must be a list of strings, got {other}"))),
        None => Err(bad("is required".into())),
    }
}

fn mapping(spec: &ImageSpec, key: &'static str) -> Result<BTreeMap<String, String>, ImageError> {
    match spec.build.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(ImageError::Spec {
                    image: spec.name.clone(),
                    key,
                    message: format!("{k}: {other} is not a string"),
                }),
            })
            .collect(),
        Some(other) => Err(ImageError::Spec {
            image: spec.name.clone(),
            key,
            message: format!("must be a mapping of path to text, got {other}"),
        }),
    }
}

/// Builds the `debs` image `spec` from `debs` (which must hold every package it names) into
/// `dir`, using `scratch` for unpacking.
pub fn build_debs_image(
    spec: &ImageSpec,
    debs: &[Deb],
    dir: &OciDir,
    scratch: &Path,
) -> Result<WrittenImage, ImageError> {
    let oci = |source| ImageError::Oci {
        image: spec.name.clone(),
        source,
    };
    let root = scratch.join(format!("image-{}", spec.name));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| ImageError::Unpack {
        image: spec.name.clone(),
        deb: root.display().to_string(),
        message: e.to_string(),
    })?;
    let mut versions = Vec::new();
    for name in packages_of(spec)? {
        let deb = debs
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| ImageError::Spec {
                image: spec.name.clone(),
                key: "packages",
                message: format!("{name} was not fetched"),
            })?;
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb.path)
            .arg(&root)
            .output()
            .map_err(|e| ImageError::Unpack {
                image: spec.name.clone(),
                deb: deb.file_name(),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(ImageError::Unpack {
                image: spec.name.clone(),
                deb: deb.file_name(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        versions.push(format!("{}={}", deb.name, deb.version));
    }
    let mut layer = Layer::new().with_comment(format!(
        "kplay bundle: Debian packages {}",
        versions.join(" ")
    ));
    layer.tree("/", &root).map_err(oci)?;
    for (path, target) in mapping(spec, "links")? {
        layer.symlink(&path, &target).map_err(oci)?;
    }
    for (path, text) in mapping(spec, "files")? {
        layer.bytes(&path, text.into_bytes(), 0o644).map_err(oci)?;
    }
    let mut image = Image::new();
    image.entrypoint = strings(spec, "entrypoint", false)?;
    image.cmd = strings(spec, "cmd", false)?;
    let env = strings(spec, "env", false)?;
    if !env.is_empty() {
        image.env.extend(env);
    }
    image.exposed_ports = strings(spec, "ports", false)?;
    image.working_dir = spec
        .build
        .get("workdir")
        .and_then(Value::as_str)
        .map(str::to_string);
    image.user = spec
        .build
        .get("user")
        .and_then(Value::as_str)
        .map(str::to_string);
    image
        .labels
        .insert("org.opencontainers.image.version".into(), spec.tag.clone());
    image
        .labels
        .insert("io.kplay.debian-packages".into(), versions.join(" "));
    image.layers.push(layer);
    let written = dir.write_image(&image, &spec.reference()).map_err(oci)?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(written)
}
