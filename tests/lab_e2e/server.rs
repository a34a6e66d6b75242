//! Test infrastructure: the HTTP server on lab host 1 (started with plain ssh, not by kplay) that the
//! apt, get_url/uri and wait_for scenarios talk to from the other hosts.

use crate::harness::*;

/// Starts `http_server.py` on host 1 as a transient systemd unit serving /srv/www, seeded with a
/// JSON document, a payload for get_url and an empty directory for the apt repository.
pub fn start_http_server(lab: &Lab) {
    let www = lab.work.join("www");
    std::fs::create_dir_all(www.join("files")).expect("www dir");
    std::fs::create_dir_all(www.join("repo")).expect("www repo dir");
    std::fs::write(
        www.join("status.json"),
        "{\"service\": \"kplay-e2e\", \"ok\": true}\n",
    )
    .expect("status.json");
    std::fs::write(www.join("files").join("payload.txt"), payload()).expect("payload");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&www)
        .args(["-cf", "-", "."])
        .output()
        .expect("tar of the www tree");
    assert!(tar.status.success(), "tar failed");
    let script = std::fs::read(fixtures().join("http_server.py")).expect("http_server.py");
    push(
        lab,
        lab.ip(1),
        "mkdir -p /srv/www && tar -C /srv/www -xf -",
        &tar.stdout,
    );
    push(lab, lab.ip(1), "cat > /srv/kplay-e2e-http.py", &script);
    lab.ssh_ok(
        lab.ip(1),
        &format!(
            "systemctl stop kplay-e2e-http 2>/dev/null; systemd-run --unit=kplay-e2e-http --collect \
             /usr/bin/python3 /srv/kplay-e2e-http.py {HTTP_PORT} /srv/www"
        ),
    );
    let addr = format!("{}:{HTTP_PORT}", lab.ip(1));
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the HTTP server on {addr} never listened"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn payload() -> String {
    "kplay lab e2e payload\n".repeat(100)
}

/// Pipes `data` into `command` on `ip` over plain ssh.
pub fn push(lab: &Lab, ip: &str, command: &str, data: &[u8]) {
    use std::io::Write;
    let mut child = Command::new("ssh")
        .arg("-i")
        .arg(&lab.key)
        .args(&lab.common_args)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
        .arg(format!("root@{ip}"))
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running ssh");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(data).expect("writing to ssh");
    }
    let out = child.wait_with_output().expect("waiting for ssh");
    assert!(
        out.status.success(),
        "ssh {ip} {command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
