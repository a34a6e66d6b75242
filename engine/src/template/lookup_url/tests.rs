//! The `url` lookup against a small HTTP server on the loopback interface.

use crate::template::Templar;
use crate::value::split_lines;
use minijinja::Value as MjValue;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// Serves `answers` (status line, extra headers, body) to one connection each, sending each
/// request's head back on the channel.
fn serve(
    answers: Vec<(&'static str, &'static str, &'static str)>,
) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, headers, body) in answers {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut head = String::new();
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = tx.send(head);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), rx)
}

fn render(src: &str) -> Result<String, String> {
    Templar::new()
        .render_str(src, &MjValue::from(()))
        .map(|v| crate::value::to_display_string(&v))
        .map_err(|e| e.to_string())
}

#[test]
fn bodies_come_back_split_into_lines_unless_asked_not_to() {
    let (base, _rx) = serve(vec![
        ("200 OK", "", "one\ntwo\r\nthree"),
        ("200 OK", "", "one\ntwo\n"),
    ]);
    let listed = render(&format!("{{{{ query('url', '{base}/a') | join('|') }}}}")).unwrap();
    assert_eq!(listed, "one|two|three");
    let whole = render(&format!(
        "{{{{ lookup('url', '{base}/b', split_lines=False) | length }}}}"
    ))
    .unwrap();
    assert_eq!(whole, "8");
}

#[test]
fn headers_and_forced_basic_auth_are_sent() {
    let (base, rx) = serve(vec![("200 OK", "", "ok")]);
    let out = render(&format!(
        "{{{{ lookup('url', '{base}/x', headers={{'X-Token': 'abc'}}, username='u', \
         password='p', force_basic_auth=True) }}}}"
    ))
    .unwrap();
    assert_eq!(out, "ok");
    let head = rx.recv().unwrap().to_ascii_lowercase();
    assert!(head.contains("x-token: abc"), "{head}");
    assert!(head.contains("authorization: basic dtpw"), "{head}");
    assert!(head.contains("user-agent: ansible-httpget"), "{head}");
}

#[test]
fn credentials_answer_a_basic_challenge() {
    let (base, rx) = serve(vec![
        (
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"x\"\r\n",
            "",
        ),
        ("200 OK", "", "secret"),
    ]);
    let out = render(&format!(
        "{{{{ lookup('url', '{base}/s', username='u', password='p') }}}}"
    ))
    .unwrap();
    assert_eq!(out, "secret");
    assert!(!rx
        .recv()
        .unwrap()
        .to_ascii_lowercase()
        .contains("authorization"));
    assert!(rx
        .recv()
        .unwrap()
        .to_ascii_lowercase()
        .contains("authorization: basic"));
}

#[test]
fn http_errors_read_as_ansible_core_reports_them() {
    let (base, _rx) = serve(vec![("404 Not Found", "", "nope")]);
    let err = render(&format!("{{{{ lookup('url', '{base}/missing') }}}}")).unwrap_err();
    assert!(
        err.contains(&format!(
            "Received HTTP error for {base}/missing : HTTP Error 404: Not Found"
        )),
        "{err}"
    );
    let refused = render("{{ lookup('url', 'http://127.0.0.1:1/') }}").unwrap_err();
    assert!(
        refused.contains("Error connecting to http://127.0.0.1:1/"),
        "{refused}"
    );
}

#[test]
fn lines_split_as_python_splitlines() {
    assert_eq!(split_lines("a\r\nb\rc\n\nd\n"), ["a", "b", "c", "", "d"]);
    assert!(split_lines("").is_empty());
}
