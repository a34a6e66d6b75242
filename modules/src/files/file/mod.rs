//! `file`: make a path be a file (attributes only), directory, symlink, hard link, touched file,
//! or absent. `query` probes the path (itself, followed, and a link's `src`) and, for
//! `recurse`, lists the attributes below a directory; `plan` decides without the host;
//! `apply` makes the change by kplay's agent or one sh script that also reports the final stat.
//!
//! Other modules (archive) apply owner/group/mode through [`FileModule::run`].

mod apply;
mod args;
mod links;
mod plan;
mod query;
mod states;
mod tree;

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod tests;

pub use args::{FileArgs, Stamp, State, SPEC};
pub use plan::Changes;
pub use query::Seen;

use crate::planned::{Plan, Planned, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

/// `ansible.builtin.file`.
pub struct FileModule;

impl FileModule {
    /// Run `file` with `args` as a task would (check mode and diff from `ctx`), for modules
    /// that finish their work through it.
    pub async fn run(
        &self,
        ctx: &ModuleContext<'_>,
        args: Map,
    ) -> Result<ModuleResult, ModuleError> {
        Planned(FileModule).run(ctx, args).await
    }
}

#[async_trait]
impl QueryPlanApply for FileModule {
    type Args = FileArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "file"
    }

    fn parse(&self, args: Map) -> Result<FileArgs, ModuleError> {
        FileArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &FileArgs) -> Result<Seen, ModuleError> {
        query::query(ctx, a).await
    }

    fn plan(a: &FileArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        plan::plan(a, seen)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _a: &FileArgs,
        ch: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        apply::apply(ctx, ch, result).await
    }
}
