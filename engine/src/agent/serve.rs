//! The agent's main loop on the host: read a request, carry it out, answer; until the
//! controller closes stdin (end of the run or a lost connection). One request at a time, so
//! no locking and no threads.

use super::fsops::handle;
use super::proto::{decode, read_frame, write_frame, FailedStep, Reply, Request};
use std::io::{BufReader, BufWriter};

/// Serve requests on stdin/stdout. Returns the process exit code.
pub fn serve_stdio() -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut r = BufReader::new(stdin.lock());
    let mut w = BufWriter::new(stdout.lock());
    loop {
        let body = match read_frame(&mut r) {
            Ok(Some(b)) => b,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("kplay agent: {e}");
                return 1;
            }
        };
        let reply = match decode::<Request>(&body) {
            Ok(req) => handle(req),
            // A request of a newer controller: say so, keep serving.
            Err(e) => Reply::Failed {
                step: FailedStep::Protocol,
                message: format!("the agent does not understand the request: {e}"),
            },
        };
        if let Err(e) = write_frame(&mut w, &reply) {
            eprintln!("kplay agent: {e}");
            return 1;
        }
    }
}
