use super::*;
use std::io::Read;
use std::os::unix::fs::symlink;

fn smoke_image(dir: &Path) -> Image {
    let bin = dir.join("busybox");
    fs::write(&bin, b"#!/bin/sh\necho pretend busybox\n").unwrap();
    let mut layer = Layer::new().with_comment("busybox-static 1:1.35.0-4+b3");
    layer.file("/bin/busybox", &bin, 0o755).unwrap();
    layer.symlink("/bin/sh", "busybox").unwrap();
    layer.dir("/www", 0o755).unwrap();
    layer.bytes("/www/index.html", "ok\n", 0o644).unwrap();
    let mut image = Image::new();
    image.entrypoint = vec!["/bin/busybox".into()];
    image.cmd = vec![
        "httpd".into(),
        "-f".into(),
        "-p".into(),
        "8080".into(),
        "-h".into(),
        "/www".into(),
    ];
    image.working_dir = Some("/www".into());
    image.exposed_ports = vec!["8080/tcp".into()];
    image
        .labels
        .insert("org.opencontainers.image.version".into(), "1.35.0".into());
    image.layers.push(layer);
    image
}

/// (path, type, mode, uid, gid, mtime, content or link target) of every tar entry.
type TarEntry = (String, tar::EntryType, u32, u64, u64, u64, Vec<u8>);

fn read_layer(blob: &[u8]) -> (Vec<TarEntry>, Vec<u8>) {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(blob)
        .read_to_end(&mut raw)
        .unwrap();
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(raw.as_slice());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        if h.entry_type() == tar::EntryType::Symlink {
            content = e
                .link_name()
                .unwrap()
                .unwrap()
                .to_string_lossy()
                .as_bytes()
                .to_vec();
        } else {
            e.read_to_end(&mut content).unwrap();
        }
        out.push((
            path,
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            content,
        ));
    }
    (out, raw)
}

#[test]
fn writes_a_layout_with_manifest_config_and_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let image = smoke_image(tmp.path());
    let dir = OciDir::create(&tmp.path().join("images")).unwrap();
    let w = dir
        .write_image(&image, "registry.kplay.local:5000/smoke:1.35.0")
        .unwrap();

    let layout = fs::read_to_string(tmp.path().join("images/oci-layout")).unwrap();
    assert_eq!(layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = dir.index().unwrap();
    assert_eq!(index.manifests.len(), 1);
    let d = &index.manifests[0];
    assert_eq!(d.digest, w.manifest.digest);
    assert_eq!(
        d.annotations[ANNOTATION_REF_NAME],
        "registry.kplay.local:5000/smoke:1.35.0"
    );
    assert_eq!(
        d.annotations[ANNOTATION_CONTAINERD_NAME],
        "registry.kplay.local:5000/smoke:1.35.0"
    );
    assert_eq!(d.platform, Some(Platform::host()));

    let m = dir.manifest(&w.manifest.digest).unwrap();
    assert_eq!(m.schema_version, 2);
    assert_eq!(m.media_type.as_deref(), Some(MEDIA_TYPE_MANIFEST));
    assert_eq!(m.config.media_type, MEDIA_TYPE_CONFIG);
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, MEDIA_TYPE_LAYER_GZIP);

    let c = dir.config(&m.config.digest).unwrap();
    assert_eq!(c.os, "linux");
    assert_eq!(c.config.entrypoint, vec!["/bin/busybox"]);
    assert_eq!(
        c.config.cmd,
        vec!["httpd", "-f", "-p", "8080", "-h", "/www"]
    );
    assert_eq!(c.config.working_dir.as_deref(), Some("/www"));
    assert!(c.config.env[0].starts_with("PATH=/usr/local/sbin"));
    assert!(c.config.exposed_ports.contains_key("8080/tcp"));
    assert_eq!(
        c.config.labels["org.opencontainers.image.version"],
        "1.35.0"
    );
    assert_eq!(
        c.history[0].created_by.as_deref(),
        Some("busybox-static 1:1.35.0-4+b3")
    );
    let raw_config = dir.read_blob(&m.config.digest).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw_config).unwrap();
    assert!(v["config"]["ExposedPorts"]["8080/tcp"].is_object(), "{v}");
    assert_eq!(v["rootfs"]["type"], "layers");

    // The layer blob: its digest and size are the file's, its diff_id the uncompressed tar's.
    let blob = dir.read_blob(&m.layers[0].digest).unwrap();
    assert_eq!(blob.len() as u64, m.layers[0].size);
    let (entries, raw) = read_layer(&blob);
    assert_eq!(c.rootfs.diff_ids, vec![Digest::of(&raw)]);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["bin/", "bin/busybox", "bin/sh", "www/", "www/index.html"]
    );
    for e in &entries {
        assert_eq!((e.3, e.4, e.5), (0, 0, DEFAULT_MTIME), "{}", e.0);
    }
    assert_eq!(entries[0].1, tar::EntryType::Directory);
    assert_eq!(entries[0].2, 0o755);
    assert_eq!(entries[1].2, 0o755);
    assert_eq!(entries[1].6, b"#!/bin/sh\necho pretend busybox\n");
    assert_eq!(entries[2].1, tar::EntryType::Symlink);
    assert_eq!(entries[2].6, b"busybox");
    assert_eq!(entries[4].2, 0o644);
    assert_eq!(entries[4].6, b"ok\n");
    // gzip header: no mtime (bytes 4..8), so the blob does not depend on when it was made.
    assert_eq!(&blob[4..8], &[0, 0, 0, 0]);
    assert_eq!(w.size(), m.config.size + m.layers[0].size);
}

#[test]
fn same_inputs_give_the_same_digests() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let wa = OciDir::create(a.path())
        .unwrap()
        .write_image(&smoke_image(a.path()), "x/smoke:1")
        .unwrap();
    // Different source mtimes and owners on disk must not matter.
    let img_b = smoke_image(b.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(
        b.path().join("busybox"),
        b"#!/bin/sh\necho pretend busybox\n",
    )
    .unwrap();
    let wb = OciDir::create(b.path())
        .unwrap()
        .write_image(&img_b, "x/smoke:1")
        .unwrap();
    assert_eq!(wa.manifest.digest, wb.manifest.digest);
    assert_eq!(wa.layers, wb.layers);

    // A different mtime is a different image.
    let mut img_c = smoke_image(b.path());
    img_c.layers[0] = img_c.layers[0].clone().with_mtime(DEFAULT_MTIME + 1);
    let wc = OciDir::create(b.path())
        .unwrap()
        .write_image(&img_c, "x/smoke:2")
        .unwrap();
    assert_ne!(wa.layers[0].digest, wc.layers[0].digest);
}

#[test]
fn rewriting_a_reference_replaces_it_and_others_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = OciDir::create(&tmp.path().join("l")).unwrap();
    let img = smoke_image(tmp.path());
    dir.write_image(&img, "r/b:1").unwrap();
    dir.write_image(&img, "r/a:1").unwrap();
    let mut img2 = img.clone();
    img2.cmd = vec!["sh".into()];
    let w2 = dir.write_image(&img2, "r/b:1").unwrap();
    let images = dir.images().unwrap();
    let refs: Vec<&str> = images.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(refs, vec!["r/a:1", "r/b:1"]);
    assert_eq!(dir.find("r/b:1").unwrap().digest, w2.manifest.digest);
    let err = dir.find("r/c:1").unwrap_err().to_string();
    assert!(
        err.contains("r/c:1") && err.contains("r/a:1, r/b:1"),
        "{err}"
    );
    // Reopening sees the same content; a plain directory is not a layout.
    assert_eq!(OciDir::open(dir.root()).unwrap().images().unwrap(), images);
    let err = OciDir::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("not an OCI image layout"), "{err}");
}

#[test]
fn archive_holds_only_the_named_images_and_their_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = OciDir::create(&tmp.path().join("l")).unwrap();
    let wa = dir.write_image(&smoke_image(tmp.path()), "r/a:1").unwrap();
    let mut other = Image::new();
    let mut layer = Layer::new();
    layer.bytes("/etc/other", "other", 0o600).unwrap();
    other.layers.push(layer);
    let wo = dir.write_image(&other, "r/other:1").unwrap();
    let out = tmp.path().join("a.tar");
    dir.export_archive(&["r/a:1"], &out).unwrap();

    let mut names = Vec::new();
    let mut index_json = Vec::new();
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "index.json" {
            e.read_to_end(&mut index_json).unwrap();
        }
        names.push(name);
    }
    assert_eq!(
        names[..2],
        ["oci-layout".to_string(), "index.json".to_string()]
    );
    let index: Index = serde_json::from_slice(&index_json).unwrap();
    assert_eq!(index.manifests.len(), 1);
    assert_eq!(index.manifests[0].digest, wa.manifest.digest);
    for d in [&wa.manifest.digest, &wa.config.digest, &wa.layers[0].digest] {
        assert!(names.contains(&format!("blobs/sha256/{}", d.hex())), "{d}");
    }
    assert!(!names.contains(&format!("blobs/sha256/{}", wo.layers[0].digest.hex())));

    // Unknown names are refused; a corrupted blob is caught, not archived.
    let err = dir
        .export_archive(&["r/nope:1"], &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("r/nope:1"), "{err}");
    fs::write(dir.blob_path(&wa.layers[0].digest), b"tampered").unwrap();
    let err = dir
        .export_archive(&["r/a:1"], &tmp.path().join("b.tar"))
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
    assert!(!tmp.path().join("b.tar").exists());
}

#[test]
fn tree_keeps_modes_and_symlinks_and_drops_owners() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("usr/bin/tool"), b"bin").unwrap();
    fs::set_permissions(
        root.join("usr/bin/tool"),
        fs::Permissions::from_mode(0o4750),
    )
    .unwrap();
    fs::write(root.join("etc/conf"), b"c").unwrap();
    fs::set_permissions(root.join("etc/conf"), fs::Permissions::from_mode(0o600)).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    let mut layer = Layer::new();
    layer.tree("/", &root).unwrap();
    layer.chown("/etc/conf", 101, 102).unwrap();
    let mut image = Image::new();
    image.layers.push(layer);
    let dir = OciDir::create(&tmp.path().join("l")).unwrap();
    let w = dir.write_image(&image, "t:1").unwrap();
    let (entries, _) = read_layer(&dir.read_blob(&w.layers[0].digest).unwrap());
    let find = |p: &str| {
        entries
            .iter()
            .find(|e| e.0 == p)
            .unwrap_or_else(|| panic!("{p}: {entries:?}"))
    };
    assert_eq!(find("bin").1, tar::EntryType::Symlink);
    assert_eq!(find("bin").6, b"usr/bin");
    assert_eq!(find("usr/bin/tool").2, 0o4750);
    assert_eq!(find("etc/conf").2, 0o600);
    assert_eq!((find("etc/conf").3, find("etc/conf").4), (101, 102));
    assert_eq!((find("usr/bin/tool").3, find("usr/bin/tool").4), (0, 0));
}

#[test]
fn bad_layer_paths_are_refused() {
    let mut layer = Layer::new();
    let err = layer
        .bytes("/etc/../../x", "x", 0o644)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`..`"), "{err}");
    assert!(layer.bytes("/", "x", 0o644).is_err());
    layer.bytes("/a/file", "x", 0o644).unwrap();
    let err = layer.bytes("a/file", "y", 0o644).unwrap_err().to_string();
    assert!(err.contains("added twice"), "{err}");
    let err = layer
        .bytes("/a/file/under", "y", 0o644)
        .unwrap_err()
        .to_string();
    assert!(err.contains("parent is already a file"), "{err}");
    let err = layer.symlink("/a", "b").unwrap_err().to_string();
    assert!(err.contains("already a directory"), "{err}");
    // An implicit parent may still be given its own mode.
    layer.dir("/a", 0o700).unwrap();
    assert_eq!(layer.paths().collect::<Vec<_>>(), vec!["a", "a/file"]);
    assert!(layer.chown("/nope", 1, 1).is_err());
    let err = layer
        .file("/x", Path::new("/nonexistent/kplay"), 0o644)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/kplay"), "{err}");
}

#[test]
fn digests_parse_strictly_and_blobs_are_verified() {
    assert!(Digest::parse("sha256:abc").is_err());
    assert!(Digest::parse(&format!("sha512:{}", "a".repeat(64))).is_err());
    assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
    let d = Digest::of(b"hello");
    assert_eq!(
        d.as_str(),
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    let tmp = tempfile::tempdir().unwrap();
    let dir = OciDir::create(tmp.path()).unwrap();
    assert_eq!(dir.write_blob(b"hello").unwrap(), d);
    assert!(dir.has_blob(&d));
    assert_eq!(mode_of(&dir.blob_path(&d)), 0o644);
    fs::write(dir.blob_path(&d), b"jello").unwrap();
    assert!(matches!(
        dir.read_blob(&d),
        Err(OciError::DigestMismatch { .. })
    ));
}

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}
