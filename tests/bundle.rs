//! The offline bundle end to end with the real binary: build a small bundle (a few Debian
//! packages, a file from a local HTTP server, the smoke image), list it, serve it with
//! `kplay serve` and install from it on an air-gapped lab host with the signature checked; push
//! images to Debian's real `docker-registry` over TLS and pull them back by digest; bad input.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kplay_bundle::oci::{Image, Layer, OciDir};
use kplay_bundle::registry::Registry;

/// A child process killed when the test ends, pass or fail.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kplay serve DIR --listen ADDR:0`; returns the guard and the port it bound.
fn serve(dir: &Path, addr: &str) -> (Guard, u16) {
    let mut child = Command::new(common::kplay_bin())
        .args(["serve"])
        .arg(dir)
        .args(["--listen", &format!("{addr}:0")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting kplay serve");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("reading the serve line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (Guard(child), port)
}

/// A raw HTTP/1.1 GET, returning (status line, headers+body text).
fn http_get(port: u16, path: &str, extra: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => buf[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A content dir with the repository's offline.yml and a site file overriding it.
fn content(dir: &Path, site: &str) -> PathBuf {
    let all = dir.join("content/playbooks/group_vars/all");
    fs::create_dir_all(&all).unwrap();
    // The repository's lists without the Kubernetes images (these small bundles need no
    // Kubernetes build; the lab bundle test below builds them).
    let offline = common::read(&common::fixture("../group_vars/all/offline.yml"));
    let offline: String = offline
        .lines()
        .filter(|l| !l.contains("build: {type: kubernetes}"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(all.join("offline.yml"), offline).unwrap();
    fs::write(all.join("zz-test.yml"), site).unwrap();
    dir.join("content")
}

#[test]
fn serve_answers_ranges_and_refuses_escapes() {
    let tmp = common::tempdir();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("debian")).unwrap();
    fs::write(root.join("debian/file.txt"), "0123456789").unwrap();
    fs::write(tmp.path().join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("leak")).unwrap();
    let (_g, port) = serve(&root, "127.0.0.1");
    let (status, body) = http_get(port, "/debian/file.txt", "");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, b"0123456789");
    let (status, body) = http_get(port, "/debian/file.txt", "Range: bytes=2-5\r\n");
    assert!(status.contains("206"), "{status}");
    assert_eq!(body, b"2345");
    for path in [
        "/../secret",
        "/debian/%2e%2e/%2e%2e/secret",
        "/leak",
        "/nope",
    ] {
        let (status, body) = http_get(port, path, "");
        assert!(
            status.contains("404") || status.contains("400"),
            "{path}: {status}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{path}");
    }
    // A directory that is not there is refused with a clear message.
    let run = common::kplay(
        tmp.path(),
        &["serve", "/nonexistent/kplay", "--listen", "127.0.0.1:0"],
    );
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(run.stderr.contains("/nonexistent/kplay"), "{}", run.dump());
}

#[test]
fn bad_bundle_input_is_refused_with_the_variable_named() {
    if !common::root_or_skip("bad_bundle_input_is_refused_with_the_variable_named") {
        return;
    }
    let tmp = common::tempdir();
    let build = |site: &str| {
        let dir = tmp.path().join(format!("c{}", sha256_hex(site.as_bytes())));
        fs::create_dir_all(&dir).unwrap();
        let content = content(&dir, site);
        let out = dir.join("out");
        let key = tmp.path().join("key.asc");
        let args = [
            "bundle",
            "build",
            "--output",
            out.to_str().unwrap(),
            "--content",
            content.to_str().unwrap(),
            "--signing-key",
            key.to_str().unwrap(),
        ];
        common::kplay_timeout(tmp.path(), &args, Duration::from_secs(600))
    };
    // A group_vars without the list.
    let dir = tmp.path().join("empty/playbooks/group_vars/all");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("x.yml"), "a: 1\n").unwrap();
    let run = common::kplay(
        tmp.path(),
        &[
            "bundle",
            "build",
            "--output",
            "o",
            "--content",
            tmp.path().join("empty").to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.stderr.contains("`offline_packages` is not defined"),
        "{}",
        run.dump()
    );

    // A package Debian does not have.
    let run = build("offline_packages: {os: [socat, kplay-no-such-package]}\noffline_images: {}\n");
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.stderr.contains("\"kplay-no-such-package\"")
            && run.stderr.contains("offline_packages.os"),
        "{}",
        run.dump()
    );

    // A file whose sha256 is not what group_vars says; nothing is left in files/.
    let up = tmp.path().join("up/example.com/t");
    fs::create_dir_all(&up).unwrap();
    fs::write(up.join("tool.bin"), "the real content").unwrap();
    let (_g, port) = serve(&tmp.path().join("up"), "127.0.0.1");
    let wrong = "0".repeat(64);
    let run = build(&format!(
        "offline_packages: {{os: [socat]}}\noffline_images: {{}}\noffline_files:\n  tool:\n    url: \"{{{{ files_repo }}}}/example.com/t/tool.bin\"\n    upstream: http://127.0.0.1:{port}/example.com/t/tool.bin\n    sha256: \"{wrong}\"\n"
    ));
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.stderr.contains("offline_files.tool")
            && run.stderr.contains(&sha256_hex(b"the real content")),
        "{}",
        run.dump()
    );
    // An unknown build type (kubernetes images need no flag: debian-source is the default).
    let run = build("offline_images: {x: {repo: r/x, tag: \"1\", build: {type: docker}}}\n");
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.stderr.contains("offline_images.x") && run.stderr.contains("\"docker\""),
        "{}",
        run.dump()
    );

    // The listing of a directory that is no bundle.
    let run = common::kplay(
        tmp.path(),
        &["bundle", "list", tmp.path().to_str().unwrap()],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("not a kplay bundle"), "{}", run.dump());
}

/// A lab torn down when the test ends.
struct Lab(String);
impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(common::kplay_bin())
            .args(["lab", "down", "--name", &self.0])
            .output();
    }
}

#[test]
fn a_small_bundle_installs_air_gapped_on_a_lab_host_with_the_signature_checked() {
    if !common::root_or_skip(
        "a_small_bundle_installs_air_gapped_on_a_lab_host_with_the_signature_checked",
    ) {
        return;
    }
    let tmp = common::tempdir();
    let up = tmp.path().join("up/example.com/tools/v1");
    fs::create_dir_all(&up).unwrap();
    fs::write(up.join("tool.tar.gz"), b"pretend tarball").unwrap();
    let (_upstream, port) = serve(&tmp.path().join("up"), "127.0.0.1");
    let site = format!(
        "offline_packages: {{os: [socat, conntrack, ipset]}}\noffline_files:\n  tool:\n    version: v1\n    url: \"{{{{ files_repo }}}}/example.com/tools/v1/tool.tar.gz\"\n    upstream: http://127.0.0.1:{port}/example.com/tools/v1/tool.tar.gz\n    sha256: {}\n",
        sha256_hex(b"pretend tarball")
    );
    let content = content(tmp.path(), &site);
    let out = tmp.path().join("bundle");
    let key = tmp.path().join("key.asc");
    let args = [
        "bundle",
        "build",
        "--output",
        out.to_str().unwrap(),
        "--content",
        content.to_str().unwrap(),
        "--signing-key",
        key.to_str().unwrap(),
    ];
    let run = common::kplay_timeout(tmp.path(), &args, Duration::from_secs(900));
    run.assert_exit(0);
    eprintln!(
        "small bundle build: {:.1} s\n{}",
        run.elapsed.as_secs_f64(),
        run.stdout
    );
    for phase in [
        "[1/6] variables",
        "[3/6] packages",
        "[5/6] images",
        "[6/6] manifest",
    ] {
        assert!(
            run.stderr.contains(phase),
            "no progress line {phase}\n{}",
            run.dump()
        );
    }
    assert!(run.stdout.contains("total"), "{}", run.dump());

    // Layout and manifest.
    assert_eq!(
        fs::read(out.join("files/example.com/tools/v1/tool.tar.gz")).unwrap(),
        b"pretend tarball"
    );
    let m: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("manifest.json"))).unwrap();
    let names: Vec<&str> = m["debian"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["socat", "conntrack", "ipset", "libc6", "libipset13"] {
        assert!(names.contains(&p), "{p} not in the repository: {names:?}");
    }
    assert!(
        !names.contains(&"busybox-static"),
        "image packages stay out of the repo unless listed"
    );
    let smoke = &m["images"][0];
    assert_eq!(
        smoke["reference"],
        "registry.kplay.local:5000/kplay/smoke:1.35.0"
    );
    let images = OciDir::open(&out.join("images")).unwrap();
    assert_eq!(
        images
            .find("registry.kplay.local:5000/kplay/smoke:1.35.0")
            .unwrap()
            .digest
            .as_str(),
        smoke["digest"]
    );

    smoke_image_serves_http(
        &images,
        "registry.kplay.local:5000/kplay/smoke:1.35.0",
        tmp.path(),
    );

    let list = common::kplay(tmp.path(), &["bundle", "list", out.to_str().unwrap()]);
    list.assert_exit(0);
    for text in [
        "socat",
        "conntrack",
        "ipset",
        "tool",
        "example.com/tools/v1/tool.tar.gz",
        "kplay/smoke:1.35.0",
        "TOTAL",
        &sha256_hex(b"pretend tarball"),
    ] {
        assert!(
            list.stdout.contains(text),
            "bundle list lacks {text}\n{}",
            list.stdout
        );
    }
    let all = common::kplay(
        tmp.path(),
        &["bundle", "list", "--all", out.to_str().unwrap()],
    );
    assert!(all.stdout.contains("libc6"), "{}", all.stdout);

    // A second build reuses the cache and yields the same image digest (reproducible).
    let again = common::kplay_timeout(tmp.path(), &args, Duration::from_secs(600));
    again.assert_exit(0);
    eprintln!("cached rebuild: {:.1} s", again.elapsed.as_secs_f64());
    let m2: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("manifest.json"))).unwrap();
    assert_eq!(m2["images"][0]["digest"], smoke["digest"]);

    // The lab: an air-gapped host installs from the served bundle, apt checking the signature.
    let _lock = common::lab_lock();
    let (_lab, inventory, gateway) = lab_host("bundle-apt");
    let (_served, bport) = serve(&out, "0.0.0.0");
    let adhoc = |cmd: &str| {
        common::kplay_timeout(
            tmp.path(),
            &["adhoc", "all", "-i", &inventory, "-m", "shell", "-a", cmd],
            Duration::from_secs(300),
        )
    };
    let b64 = base64_encode(&fs::read(out.join("debian/kplay-archive-keyring.gpg")).unwrap());
    let setup = format!(
        "set -e; mkdir -p /etc/apt/keyrings; echo {b64} | base64 -d > /etc/apt/keyrings/kplay-archive-keyring.gpg; \
         rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; \
         echo 'deb [signed-by=/etc/apt/keyrings/kplay-archive-keyring.gpg] http://{gateway}:{bport}/debian kplay main' > /etc/apt/sources.list.d/kplay.list; \
         apt-get update 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends socat conntrack ipset 2>&1; socat -V | head -2; ipset version"
    );
    let run = adhoc(&setup);
    assert!(
        run.code == Some(0),
        "install from the bundle failed\n{}",
        run.dump()
    );
    assert!(run.stdout.contains("socat version"), "{}", run.dump());
    assert!(!run.stdout.contains("trusted=yes"), "{}", run.dump());

    // A tampered InRelease is refused: apt checks the signature, it does not trust the server.
    let inrelease = out.join("debian/dists/kplay/InRelease");
    let good = fs::read_to_string(&inrelease).unwrap();
    fs::write(
        &inrelease,
        good.replace("Label: kplay offline bundle", "Label: kplay offline bundlX"),
    )
    .unwrap();
    let run = adhoc("rm -rf /var/lib/apt/lists/*; apt-get update 2>&1");
    fs::write(&inrelease, good).unwrap();
    assert_ne!(
        run.code,
        Some(0),
        "apt accepted a tampered InRelease\n{}",
        run.dump()
    );
    assert!(
        run.stdout.contains("BADSIG")
            || run.stdout.contains("signature")
            || run.stdout.contains("not signed"),
        "{}",
        run.dump()
    );
}

/// A one-host lab (sshd only; apt needs no init), torn down when the guard drops. Returns the
/// guard, the inventory path and the controller's address on the lab network.
fn lab_host(name: &str) -> (Lab, String, String) {
    let _ = Command::new(common::kplay_bin())
        .args(["lab", "down", "--name", name])
        .output();
    let up = Command::new(common::kplay_bin())
        .args([
            "lab", "up", "--hosts", "1", "--name", name, "--init", "none",
        ])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "lab up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let lab = Lab(name.to_string());
    let inventory = String::from_utf8_lossy(&up.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let inv = common::read(Path::new(&inventory));
    let host_ip = inv
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ansible_host="))
        .expect("host ip")
        .to_string();
    let gateway = format!("{}.1", host_ip.rsplit_once('.').unwrap().0);
    (lab, inventory, gateway)
}

/// The lab bundle built from the repository's own group_vars: every package of every feature
/// installs on a bare lab host (debootstrap minbase + sshd) from the bundle alone, which is
/// what "dependencies resolved" promises in offline.yml.
#[test]
fn every_offline_package_of_the_lab_bundle_installs_on_a_minbase_host() {
    if !common::root_or_skip("every_offline_package_of_the_lab_bundle_installs_on_a_minbase_host") {
        return;
    }
    let tmp = common::tempdir();
    let out = tmp.path().join("bundle");
    let key = tmp.path().join("key.asc");
    let repo = common::fixture("..");
    let run = common::kplay_timeout(
        &repo,
        &[
            "bundle",
            "build",
            "--output",
            out.to_str().unwrap(),
            "--signing-key",
            key.to_str().unwrap(),
        ],
        Duration::from_secs(1800),
    );
    run.assert_exit(0);
    eprintln!(
        "lab bundle build: {:.1} s\n{}",
        run.elapsed.as_secs_f64(),
        run.stdout
    );
    let m: serde_json::Value =
        serde_json::from_str(&common::read(&out.join("manifest.json"))).unwrap();
    let mut wanted: Vec<String> = m["debian"]["requested"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    assert!(wanted.len() >= 15, "{wanted:?}");

    let _lock = common::lab_lock();
    let (_lab, inventory, gateway) = lab_host("bundle-all");
    let (_served, port) = serve(&out, "0.0.0.0");
    let b64 = base64_encode(&fs::read(out.join("debian/kplay-archive-keyring.gpg")).unwrap());
    let cmd = format!(
        "set -e; mkdir -p /etc/apt/keyrings; echo {b64} | base64 -d > /etc/apt/keyrings/kplay-archive-keyring.gpg; \
         rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; \
         echo 'deb [signed-by=/etc/apt/keyrings/kplay-archive-keyring.gpg] http://{gateway}:{port}/debian kplay main' > /etc/apt/sources.list.d/kplay.list; \
         apt-get update 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {} 2>&1; \
         dpkg-query -W -f='${{Package}} ${{Status}}\\n' {} ",
        wanted.join(" "),
        wanted.join(" ")
    );
    let run = common::kplay_timeout(
        tmp.path(),
        &["adhoc", "all", "-i", &inventory, "-m", "shell", "-a", &cmd],
        Duration::from_secs(1200),
    );
    assert_eq!(
        run.code,
        Some(0),
        "installing the lab bundle's packages failed\n{}",
        run.dump()
    );
    for p in &wanted {
        assert!(
            run.stdout.contains(&format!("{p} install ok installed")),
            "{p} not installed\n{}",
            run.dump()
        );
    }
}

/// Unpacks the image's layers and runs its own entrypoint + cmd (chrooted, in a private network
/// namespace), then fetches /index.html with the image's busybox: the smoke image really serves.
fn smoke_image_serves_http(images: &OciDir, reference: &str, tmp: &Path) {
    let desc = images.find(reference).unwrap();
    let m = images.manifest(&desc.digest).unwrap();
    let c = images.config(&m.config.digest).unwrap();
    let root = tmp.join("smoke-root");
    fs::create_dir_all(&root).unwrap();
    for l in &m.layers {
        let st = Command::new("tar")
            .arg("xzf")
            .arg(images.blob_path(&l.digest))
            .arg("-C")
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut argv: Vec<String> = c.config.entrypoint.clone();
    argv.extend(c.config.cmd.iter().cloned());
    assert!(argv.contains(&"8080".to_string()), "{argv:?}");
    let server: Vec<String> = argv
        .iter()
        .filter(|a| *a != "-f")
        .map(|a| format!("'{a}'"))
        .collect();
    let script = format!(
        "ip link set lo up && chroot {root} {server} && sleep 0.5 && chroot {root} /bin/busybox wget -q -O- http://127.0.0.1:8080/index.html",
        root = root.display(),
        server = server.join(" ")
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("kplay smoke image"),
        "smoke image did not serve: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Test CA and a server certificate for 127.0.0.1/localhost signed by it.
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kplay test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let server =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    fs::write(&paths.0, ca_cert.pem()).unwrap();
    fs::write(&paths.1, cert.pem()).unwrap();
    fs::write(&paths.2, key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn images_round_trip_through_a_real_docker_registry_over_tls() {
    if !Path::new("/usr/bin/docker-registry").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("docker-registry is missing (tests/install-deps.sh installs it)");
        }
        eprintln!("SKIPPED: docker-registry not installed");
        return;
    }
    let tmp = common::tempdir();
    let (ca, cert, key) = test_pki(tmp.path());
    let port = free_port();
    let config = tmp.path().join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n",
            tmp.path().join("data").display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting docker-registry");
    let _registry = Guard(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "docker-registry did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Two images sharing a base layer; one layer is larger than a chunk (PATCH path).
    let layout = tmp.path().join("bundle/images");
    let dir = OciDir::create(&layout).unwrap();
    let mut big = vec![0u8; (kplay_bundle::registry::CHUNK as usize) * 2 + 12345];
    let mut x: u32 = 12345;
    for b in big.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 24) as u8;
    }
    let mut base = Layer::new();
    base.bytes("/data/big.bin", big, 0o644).unwrap();
    let mut a = Image::new();
    a.layers.push(base.clone());
    let mut top = Layer::new();
    top.bytes("/etc/a", "a", 0o644).unwrap();
    a.layers.push(top);
    a.cmd = vec!["/bin/a".into()];
    let mut b = Image::new();
    b.layers.push(base);
    b.cmd = vec!["/bin/b".into()];
    let wa = dir
        .write_image(&a, "registry.kplay.local:5000/kplay/a:1")
        .unwrap();
    let wb = dir
        .write_image(&b, "registry.kplay.local:5000/other/b:2")
        .unwrap();

    let registry = format!("127.0.0.1:{port}");
    let bundle = tmp.path().join("bundle");
    let push = |ca: &Path| {
        common::kplay_timeout(
            tmp.path(),
            &[
                "bundle",
                "push",
                bundle.to_str().unwrap(),
                "--registry",
                &registry,
                "--ca-cert",
                ca.to_str().unwrap(),
            ],
            Duration::from_secs(300),
        )
    };
    let run = push(&ca);
    run.assert_exit(0);
    assert!(
        run.stdout.contains(&format!(
            "pushed {registry}/kplay/a:1 {}",
            wa.manifest.digest
        )),
        "{}",
        run.dump()
    );
    // The shared base layer went up once and was mounted into the second repository.
    assert!(run.stdout.contains("1 mounted"), "{}", run.dump());
    let again = push(&ca);
    again.assert_exit(0);
    assert_eq!(
        again.stdout.matches("unchanged").count(),
        2,
        "{}",
        again.dump()
    );

    // Pulled back by a fresh client, every digest checked, equal to what was built.
    let client = Registry::new(&registry, Some(&ca), false).unwrap();
    let pulled = OciDir::create(&tmp.path().join("pulled")).unwrap();
    let da = client.pull_image("kplay/a", "1", &pulled, "a").unwrap();
    let db = client.pull_image("other/b", "2", &pulled, "b").unwrap();
    assert_eq!(da, wa.manifest.digest);
    assert_eq!(db, wb.manifest.digest);
    let m = pulled.manifest(&da).unwrap();
    assert_eq!(m.layers, wa.layers);
    assert!(
        pulled.read_blob(&wa.layers[0].digest).unwrap().len() as u64
            > kplay_bundle::registry::CHUNK
    );

    // The registry_push module, run on the controller from a playbook: nothing to change now;
    // a new image makes it changed, and check mode only reports.
    let mut c = Image::new();
    c.cmd = vec!["/bin/c".into()];
    let mut l = Layer::new();
    l.bytes("/etc/c", "c", 0o644).unwrap();
    c.layers.push(l);
    dir.write_image(&c, "registry.kplay.local:5000/kplay/c:3")
        .unwrap();
    let pb = format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - registry_push:\n        bundle: {}\n        registry: \"{registry}\"\n        ca_cert: {}\n      register: pushed\n    - debug: var=pushed.images\n",
        bundle.display(),
        ca.display()
    );
    let check = common::run_local(tmp.path(), &pb, &["--check"]);
    check.assert_exit(0);
    assert_eq!(check.host("localhost").changed, 1, "{}", check.dump());
    let client_c = Registry::new(&registry, Some(&ca), false).unwrap();
    assert_eq!(
        client_c.manifest_digest("kplay/c", "3").unwrap(),
        None,
        "check mode pushed"
    );
    let real = common::run_local(tmp.path(), &pb, &[]);
    real.assert_exit(0);
    assert_eq!(real.host("localhost").changed, 1, "{}", real.dump());
    assert!(client_c.manifest_digest("kplay/c", "3").unwrap().is_some());
    let again = common::run_local(tmp.path(), &pb, &[]);
    again.assert_exit(0);
    assert_eq!(again.host("localhost").changed, 0, "{}", again.dump());

    // Another CA: the registry's certificate is refused, nothing is pushed.
    let other = tmp.path().join("other");
    fs::create_dir_all(&other).unwrap();
    let (other_ca, _, _) = test_pki(&other);
    let run = push(&other_ca);
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(run.stderr.contains(&registry), "{}", run.dump());
}

/// Waits for a Unix socket to appear.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `oci-archive` export is what containerd and skopeo read: `ctr images import` (into a
/// containerd of the test's own, unpacked with the native snapshotter) names the image by its
/// reference with the digest kplay computed, and `skopeo` reads the same manifest.
#[test]
fn oci_archives_import_into_containerd_and_read_in_skopeo() {
    for tool in ["/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/skopeo"] {
        if !Path::new(tool).exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{tool} is missing (tests/install-deps.sh installs it)");
            }
            eprintln!("SKIPPED: {tool} not installed");
            return;
        }
    }
    if !common::root_or_skip("oci_archives_import_into_containerd_and_read_in_skopeo") {
        return;
    }
    let tmp = common::tempdir();
    let dir = OciDir::create(&tmp.path().join("images")).unwrap();
    let mut layer = Layer::new();
    layer.bytes("/etc/kplay-test", "hello\n", 0o644).unwrap();
    layer.symlink("/etc/kplay-link", "kplay-test").unwrap();
    let mut image = Image::new();
    image.cmd = vec!["/bin/true".into()];
    image.layers.push(layer);
    let reference = "registry.kplay.local:5000/kplay/archive-test:1";
    let w = dir.write_image(&image, reference).unwrap();
    let mut other = Image::new();
    let mut l2 = Layer::new();
    l2.bytes("/x", "x", 0o644).unwrap();
    other.layers.push(l2);
    dir.write_image(&other, "registry.kplay.local:5000/kplay/not-exported:1")
        .unwrap();
    let archive = tmp.path().join("archive.tar");
    dir.export_archive(&[reference], &archive).unwrap();

    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        format!("sha256:{}", sha256_hex(&out.stdout)),
        w.manifest.digest.as_str()
    );

    let sock = tmp.path().join("containerd.sock");
    let config = tmp.path().join("containerd.toml");
    fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{sock}\"\n",
            root = tmp.path().join("root").display(),
            state = tmp.path().join("state").display(),
            sock = sock.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/containerd")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _containerd = Guard(child);
    wait_for(&sock);
    let ctr = |args: &[&str]| {
        Command::new("/usr/bin/ctr")
            .arg("--address")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap()
    };
    let imported = ctr(&[
        "images",
        "import",
        "--snapshotter",
        "native",
        archive.to_str().unwrap(),
    ]);
    assert!(
        imported.status.success(),
        "ctr import: {}{}",
        String::from_utf8_lossy(&imported.stdout),
        String::from_utf8_lossy(&imported.stderr)
    );
    let ls = ctr(&["images", "ls"]);
    let listing = String::from_utf8_lossy(&ls.stdout).into_owned();
    let line = listing
        .lines()
        .find(|l| l.starts_with(reference))
        .unwrap_or_else(|| panic!("{reference} not imported:\n{listing}"));
    assert!(line.contains(w.manifest.digest.as_str()), "{line}");
    assert!(!listing.contains("not-exported"), "{listing}");
    let check = ctr(&["images", "check"]);
    let check = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check
            .lines()
            .any(|l| l.starts_with(reference) && l.contains("complete")),
        "{check}"
    );
}
