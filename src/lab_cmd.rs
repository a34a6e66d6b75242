//! `kplay lab …`: thin wiring to the kplay-lab crate.

use crate::cli::{LabArgs, LabCommand, LabInit};

pub fn run(args: LabArgs) -> u8 {
    let mut progress = |line: &str| eprintln!("{line}");
    let result = match args.command {
        LabCommand::Up { hosts, name, init } => {
            let init = match init {
                LabInit::Systemd => kplay_lab::Init::Systemd,
                LabInit::None => kplay_lab::Init::None,
            };
            let opts = kplay_lab::UpOptions { hosts, name, init };
            kplay_lab::up(&opts, &mut progress).map(|inv| {
                // The inventory path is the last line of all output, so scripts can take `tail -n1`.
                kplay_engine::output::sink::line(&inv.display().to_string());
            })
        }
        LabCommand::Status { name } => {
            kplay_lab::status(&name).map(|s| kplay_engine::output::sink::text(&s))
        }
        LabCommand::Down { name } => kplay_lab::down(&name, &mut progress),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR! {e}");
            1
        }
    }
}
