//! Drives the lab without the kplay CLI: `lab up N [NAME] [systemd|none]`, `lab status [NAME]`,
//! `lab down [NAME]`. Useful while developing the lab crate on its own.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let mut progress = |line: &str| eprintln!("{line}");
    let result = match arg(0, "").as_str() {
        "up" => {
            let init = if arg(3, "systemd") == "none" {
                kplay_lab::Init::None
            } else {
                kplay_lab::Init::Systemd
            };
            let opts = kplay_lab::UpOptions {
                hosts: arg(1, "3").parse().unwrap_or(0),
                name: arg(2, "lab"),
                init,
                ..Default::default()
            };
            kplay_lab::up(&opts, &mut progress).map(|p| println!("{}", p.display()))
        }
        "status" => kplay_lab::status(&arg(1, "lab")).map(|s| print!("{s}")),
        "down" => kplay_lab::down(&arg(1, "lab"), &mut progress),
        _ => {
            eprintln!("usage: lab up N [NAME] [systemd|none] | status [NAME] | down [NAME]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::FAILURE
        }
    }
}
