//! The agent's main loop on the host: read a request, carry it out, answer; until the
//! controller closes stdin (end of the run or a lost connection). One request at a time, so
//! no locking and no threads.

use crate::fsops::handle;
use crate::proto::{decode, read_frame, write_frame, FailedStep, FrameError, Reply, Request};
use std::io::{BufReader, BufWriter, Read, Write};

/// Serve requests on stdin/stdout. Returns the process exit code.
pub fn serve_stdio() -> i32 {
    serve(std::io::stdin().lock(), std::io::stdout().lock())
}

/// Serve requests from `input`, answering on `output`, until `input` ends (exit code 0) or
/// breaks (1).
pub fn serve(input: impl Read, output: impl Write) -> i32 {
    let mut r = BufReader::new(input);
    let mut w = BufWriter::new(output);
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
        let sent = match write_frame(&mut w, &reply) {
            // Nothing was written: say so in a small answer, and the controller takes its sh path.
            Err(FrameError::TooBig(n)) => write_frame(
                &mut w,
                &Reply::Failed {
                    step: FailedStep::Protocol,
                    message: format!("the answer of {n} bytes is larger than a message may be"),
                },
            ),
            other => other,
        };
        if let Err(e) = sent {
            eprintln!("kplay agent: {e}");
            return 1;
        }
    }
}
