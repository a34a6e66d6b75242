//! The `kplay` binary: parses the command line and wires the engine, the modules and the lab
//! together. No behaviour lives here.

mod agent_embed;
mod bundle_cmd;
mod cli;
mod deploy_cmd;
mod deploy_lab;
mod doc_cmd;
mod embedded;
mod excerpt;
mod lab_cmd;
mod run_cmd;
mod secret;
mod syntax_cmd;
mod vault_cmd;

use clap::Parser;
use std::process::ExitCode;

/// ansible-playbook's exit code for bad options (clap's own code is 2, which means "a host failed" to Ansible users).
const EXIT_BAD_OPTIONS: u8 = 5;

fn main() -> ExitCode {
    if let Some(code) = std::env::args_os()
        .nth(1)
        .and_then(|a| agent_embed::command(&a))
    {
        return ExitCode::from(code);
    }
    agent_embed::register();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_BAD_OPTIONS),
            };
        }
    };
    let code = match cli.command {
        cli::Command::Lab(args) => lab_cmd::run(args),
        cli::Command::Run(args) => run_cmd::run(args),
        cli::Command::Plan(args) => run_cmd::plan(args),
        cli::Command::Inventory(args) => run_cmd::inventory(args),
        cli::Command::Adhoc(args) => run_cmd::adhoc(args),
        cli::Command::Bundle(args) => bundle_cmd::run(args),
        cli::Command::Serve(args) => bundle_cmd::serve(args),
        cli::Command::Content(args) => match args.command {
            cli::ContentCommand::List => embedded::list(),
            cli::ContentCommand::Extract { dir } => embedded::extract(&dir),
        },
        cli::Command::Deploy(args) => deploy_cmd::deploy(args),
        cli::Command::Reset(args) => deploy_cmd::reset(args),
        cli::Command::Config(args) => deploy_cmd::config(args.command),
        cli::Command::Init { dir } => deploy_cmd::init(&dir),
        cli::Command::Doc(args) => doc_cmd::run(args),
        cli::Command::DiffEmbedded { dir } => deploy_cmd::diff_embedded(&dir),
        cli::Command::Vault(args) => vault_cmd::run(args.command),
    };
    ExitCode::from(code)
}
