//! `yum`: since ansible-core 2.17 `yum` is the `dnf` module under another name; kplay does the
//! same, but runs the `yum` executable when the host has it (EL7 has no dnf).

//! The module itself is [`crate::dnf::YUM`]; these are its tests.

#[cfg(test)]
mod tests {
    use crate::dnf::{read_script, transaction, RpmArgs, RpmTool};
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
