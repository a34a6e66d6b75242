//! Waiting for hosts: a host counts as up once its sshd sends the SSH banner.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Whether an sshd answers on `ip:22` with an SSH banner within `timeout`.
pub fn sshd_answers(ip: &str, timeout: Duration) -> bool {
    format!("{ip}:22")
        .parse()
        .is_ok_and(|addr| banner_at(addr, timeout))
}

/// Whether whatever listens at `addr` starts talking SSH.
fn banner_at(addr: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err() {
        return false;
    }
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

/// Waits until every address answers or `limit` passes; returns the ones that never answered.
pub fn wait_all(ips: &[String], limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut pending: Vec<String> = ips.to_vec();
    while !pending.is_empty() && start.elapsed() < limit {
        pending.retain(|ip| !sshd_answers(ip, Duration::from_millis(500)));
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A one-shot local server that greets with `greeting`.
    fn server(greeting: &'static [u8]) -> Option<SocketAddr> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        let addr = listener.local_addr().ok()?;
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.write_all(greeting);
            }
        });
        Some(addr)
    }

    #[test]
    fn an_ssh_banner_counts_as_ready() {
        let addr = server(b"SSH-2.0-test\r\n");
        assert!(addr.is_some_and(|a| banner_at(a, Duration::from_secs(2))));
    }

    #[test]
    fn another_protocol_does_not_count() {
        let addr = server(b"HTTP/1.1 400\r\n");
        assert!(addr.is_some_and(|a| !banner_at(a, Duration::from_secs(2))));
    }

    #[test]
    fn an_invalid_address_is_not_ready() {
        assert!(!sshd_answers("not-an-ip", Duration::from_millis(100)));
    }
}
