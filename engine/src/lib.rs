//! kplay-engine: everything between the command line and a host, except the modules themselves.
//!
//! Data flows one way (see `docs/DESIGN.md`): load → plan → execute → output. Each stage owns its
//! types; errors carry the [`span::Span`] of the YAML node they came from.

pub mod agent;
pub mod argspec;
pub mod config;
pub mod config_keys;
pub mod error;
pub mod exec;
pub mod inventory;
pub mod module;
pub mod output;
pub mod plan;
pub mod playbook;
pub mod span;
pub mod template;
pub mod transport;
pub mod value;
pub mod vars;
pub mod vault;
pub mod yaml;

pub use value::{Map, Value};
