//! `-k` / `-K`: read a password from the terminal with echo off (rpassword, on `/dev/tty`), so
//! it never shows on screen or in a terminal recording. Without a terminal the password is read
//! from standard input, and kplay says so on stderr: piping a password in is a choice the
//! operator must know they made.

use std::io::{BufRead, IsTerminal};

/// Prompt on the terminal and read one line without echo; `None` when nothing could be read.
pub fn read_password(prompt: &str) -> Option<String> {
    match rpassword::prompt_password(prompt) {
        Ok(p) => Some(p),
        Err(_) if !std::io::stdin().is_terminal() => {
            eprintln!(
                "[WARNING]: no terminal to ask for the password with echo off: reading \"{}\" from standard input",
                prompt.trim_end().trim_end_matches(':')
            );
            let mut s = String::new();
            std::io::stdin().lock().read_line(&mut s).ok()?;
            Some(s.trim_end_matches(['\n', '\r']).to_string())
        }
        Err(e) => {
            eprintln!("ERROR! cannot read the password: {e}");
            None
        }
    }
}
