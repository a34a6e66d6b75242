//! Carrying out a planned [`Step`]: one atomic write (temp file, owner/group/mode, validate,
//! backup, rename) or one attribute change, then the result's path keys from the real stat.

use super::{Source, Step};
use crate::common::attrs::path_info;
use crate::common::fail_with;
use crate::common::write::{set_attrs, write_file, WriteRequest};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};

/// Do `step` and complete the plan's `result` with what the host reports afterwards
/// (`dest`, `checksum`, `backup_file`, `md5sum` of written content, the final
/// owner/group/mode/size).
pub async fn apply(
    ctx: &ModuleContext<'_>,
    step: Step,
    mut result: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    let final_st = match step {
        Step::Fail { msg, checksum } => {
            return Err(fail_with(msg, [("checksum", checksum.into())]))
        }
        Step::Attrs { target, attrs } => set_attrs(ctx, &target, &attrs, false).await?,
        Step::Write(w) => {
            let req = WriteRequest {
                dest: &w.target,
                data: match &w.source {
                    Source::Data(d) => d,
                    Source::File(_) | Source::Remote(_) => &[],
                },
                data_file: match &w.source {
                    Source::File(p) => Some(p),
                    _ => None,
                },
                checksum: Some(&w.checksum),
                mode: w.attrs.mode.map(|(_, m)| m),
                owner: w.attrs.owner.as_ref().map(|(_, o)| o.as_str()),
                group: w.attrs.group.as_ref().map(|(_, g)| g.as_str()),
                validate: w.validate.as_deref(),
                backup: w.backup,
                backup_as: None,
                from_remote: match &w.source {
                    Source::Remote(s) => Some(s),
                    _ => None,
                },
                create_parent: w.create_parent,
            };
            let out = write_file(ctx, &req).await?;
            result.insert("dest", w.target.as_str());
            result.insert("checksum", w.checksum.as_str());
            if let Some(b) = out.backup_file {
                result.insert("backup_file", b);
            }
            if let Some(m) = &w.md5 {
                result.insert("md5sum", m.as_str());
            }
            out.stat
        }
    };
    path_info(&final_st, &mut result.extra);
    Ok(result)
}
