//! `yum`: since ansible-core 2.17 `yum` is the `dnf` module under another name; kplay does the
//! same, but runs the `yum` executable when the host has it (EL7 has no dnf).

use crate::dnf::{run_rpm, RpmTool};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

pub struct YumModule;

#[async_trait]
impl Module for YumModule {
    fn name(&self) -> &'static str {
        "yum"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        run_rpm(ctx, "yum", RpmTool::Yum, args)
            .await
            .map(ModuleResult::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnf::{read_script, transaction, RpmArgs};
    use crate::testutil::args;
    use serde_json::json;

    #[test]
    fn yum_prefers_the_yum_executable() {
        let a = RpmArgs::parse("yum", args(json!({"name": "git"}))).unwrap();
        assert!(read_script(&a, RpmTool::Yum).contains("for t in yum dnf"));
        let (cmd, _) = transaction(&a, RpmTool::Yum, &[]).unwrap();
        assert_eq!(cmd, "yum -y install git");
    }

    #[test]
    fn use_backend_overrides_the_preference() {
        let a = RpmArgs::parse("yum", args(json!({"name": "git", "use_backend": "dnf"}))).unwrap();
        assert!(read_script(&a, RpmTool::Yum).contains("for t in dnf yum"));
    }

    #[test]
    fn unsupported_parameter_names_the_yum_module() {
        let e = RpmArgs::parse("yum", args(json!({"name": "git", "foo": 1}))).unwrap_err();
        assert!(e
            .msg
            .starts_with("Unsupported parameters for (yum) module: foo."));
    }
}
