//! kplay-deploy: `kplay deploy` and `kplay reset` on top of the engine. The layered install steps
//! (bootstrap node, 00-preflight … 05-cluster-apps, hook stages) run in-process through the
//! engine's API; a state file records each finished step with the hash of its inputs, so a
//! deploy skips what is done, re-runs what changed and resumes where a killed one stopped.
//! Also: the config.yaml front end, `kplay init`/`diff-embedded` helpers, the step-level live view.

pub mod checks;
pub mod config;
pub mod content;
pub mod diff;
pub mod error;
pub mod hooks;
pub mod inputs;
pub mod layout;
pub mod plan;
pub mod reset;
pub mod run;
pub mod state;
pub mod steps;
pub mod view;

pub use error::DeployError;
pub use run::{deploy, Engine, Request};
