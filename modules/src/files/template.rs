//! `template`: render a controller-side Jinja file with the host's variables and install the
//! result at `dest` exactly as `copy` would (same probe, comparison, write, diff).

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::install::{install_file, Install, Source};
use crate::common::{basename, validate};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;
use std::path::PathBuf;

const PARAMS: &[Param] = &[
    p("src", &[]).path().required().doc(
        "Jinja2 template on the controller (role `templates/`, then the playbook's directory).",
    ),
    p("dest", &[])
        .path()
        .required()
        .doc("Remote path to write the rendered template to."),
    p("backup", &[])
        .flag(false)
        .doc("Keep a timestamped copy of the file being replaced."),
    p("force", &[])
        .flag(true)
        .doc("Replace a file whose content differs; false only creates missing files."),
    p("validate", &[])
        .str()
        .doc("Command run on the temp file (`%s`) before it replaces `dest`."),
    p("follow", &[])
        .flag(false)
        .doc("Follow a `dest` that is a symbolic link."),
    p("newline_sequence", &[])
        .choices(&["\\n", "\\r", "\\r\\n", "\n", "\r", "\r\n"])
        .doc("Line ending of the written file."),
    p("output_encoding", &[])
        .str()
        .doc("Accepted; output is UTF-8."),
    p("trim_blocks", &[])
        .doc("Accepted; kplay renders templates with trim_blocks on, as Ansible's default."),
    p("lstrip_blocks", &[]).doc("Accepted (Jinja's lstrip_blocks)."),
    p("variable_start_string", &[])
        .str()
        .doc("Accepted; `{{` is used."),
    p("variable_end_string", &[])
        .str()
        .doc("Accepted; `}}` is used."),
    p("block_start_string", &[])
        .str()
        .doc("Accepted; `{%` is used."),
    p("block_end_string", &[])
        .str()
        .doc("Accepted; `%}` is used."),
    p("comment_start_string", &[])
        .str()
        .doc("Accepted; `{#` is used."),
    p("comment_end_string", &[])
        .str()
        .doc("Accepted; `#}` is used."),
];

/// `template`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "template",
    "Template a file out to a target host",
    &[PARAMS, FILE_COMMON],
);

/// Checked `template` arguments.
#[derive(Debug, Clone)]
struct TemplateArgs {
    src: PathBuf,
    src_name: String,
    dest: String,
    attrs: AttrSpec,
    backup: bool,
    force: bool,
    follow: bool,
    validate: Option<String>,
    newline: String,
}

impl TemplateArgs {
    fn parse(args: Map, ctx: &ModuleContext<'_>) -> Result<TemplateArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let src_name = a.str("src")?.unwrap_or_default();
        let newline = a
            .choice(
                "newline_sequence",
                &["\\n", "\\r", "\\r\\n", "\n", "\r", "\r\n"],
            )?
            .unwrap_or_else(|| "\n".into());
        let newline = newline.replace("\\n", "\n").replace("\\r", "\r");
        let validate = validate::from_args(&a)?;
        let src = ctx
            .env
            .find_file(FileKind::Templates, &src_name)
            .ok_or_else(|| ModuleError::new(format!("Could not find or access '{src_name}'")))?;
        let mut attrs = AttrSpec::from_args(&a, true)?;
        attrs.resolve_preserve(&src)?;
        Ok(TemplateArgs {
            src,
            src_name,
            dest: a.str("dest")?.unwrap_or_default(),
            attrs,
            backup: a.flag("backup"),
            force: a.flag("force"),
            follow: a.flag("follow"),
            validate,
            newline,
        })
    }
}

pub struct TemplateModule;

#[async_trait]
impl Module for TemplateModule {
    fn name(&self) -> &'static str {
        "template"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = TemplateArgs::parse(args, ctx)?;
        let bytes = std::fs::read(&a.src).map_err(|e| {
            ModuleError::new(format!("Could not find or access '{}': {e}", a.src_name))
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            ModuleError::new(format!("template {} is not valid UTF-8", a.src.display()))
        })?;
        let mut rendered = ctx
            .env
            .render_template_text(&text, &a.src)
            .map_err(ModuleError::new)?;
        if a.newline != "\n" {
            rendered = rendered.replace('\n', &a.newline);
        }
        let inst = Install {
            dest: &a.dest,
            source: Source::Data(rendered.as_bytes()),
            basename: Some(basename(&a.src_name)),
            attrs: a.attrs.clone(),
            force: a.force,
            backup: a.backup,
            validate: a.validate.as_deref(),
            follow: a.follow,
            after_header: a.src.display().to_string(),
            directory_mode: None,
        };
        let r = install_file(ctx, &inst).await?;
        Ok(r.set("src", a.src.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::snapshot::{snapshot, temp_leftovers};
    use crate::testutil::HostFx;
    use serde_json::json;

    /// `tpl/app.conf.j2` with `tpl` as its text, rendered with `port: 8080`.
    fn fx(tpl: &str) -> HostFx {
        let mut fx = HostFx::new(&TemplateModule, "tpl");
        std::fs::write(fx.dir.path().join("tpl/app.conf.j2"), tpl).unwrap();
        fx.env.vars.insert("port".into(), json!(8080));
        fx
    }

    crate::testutil::both_paths! {
    async fn renders_then_is_idempotent() {
        let fx = fx("port={{ port }}\n");
        let a = json!({"src": "app.conf.j2", "dest": fx.host("app.conf")});
        let r = fx.run(false, false, a.clone()).await.unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(
            std::fs::read_to_string(fx.host("app.conf")).unwrap(),
            "port=8080\n"
        );
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
        assert!(temp_leftovers(&fx.host_root()).is_empty());
    }
    }

    crate::testutil::both_paths! {
    async fn check_mode_with_diff_changes_nothing_and_shows_rendered_text() {
        let fx = fx("port={{ port }}\n");
        std::fs::write(fx.host("app.conf"), "port=1\n").unwrap();
        let before = snapshot(&fx.host_root());
        let r = fx
            .run(
                true,
                true,
                json!({"src": "app.conf.j2", "dest": fx.host("app.conf")}),
            )
            .await
            .unwrap();
        assert_eq!(r["changed"], true);
        let d = &r["diff"][0];
        assert_eq!(d["before"], "port=1\n");
        assert_eq!(d["after"], "port=8080\n");
        assert_eq!(
            d["after_header"],
            fx.dir
                .path()
                .join("tpl/app.conf.j2")
                .to_string_lossy()
                .as_ref()
        );
        assert_eq!(snapshot(&fx.host_root()), before);
    }
    }

    crate::testutil::both_paths! {
    async fn mode_and_newline_sequence_are_applied() {
        let fx = fx("a\nb\n");
        let r = fx
            .run(
                false,
                false,
                json!({"src": "app.conf.j2", "dest": fx.host("x"), "mode": "0600", "newline_sequence": "\\r\\n"}),
            )
            .await
            .unwrap();
        assert_eq!(r["mode"], "0600");
        assert_eq!(std::fs::read(fx.host("x")).unwrap(), b"a\r\nb\r\n");
    }
    }

    crate::testutil::both_paths! {
    async fn directory_dest_uses_template_basename() {
        let fx = fx("x");
        let r = fx
            .run(
                false,
                false,
                json!({"src": "app.conf.j2", "dest": fx.host("")}),
            )
            .await
            .unwrap();
        assert_eq!(r["dest"], fx.host("app.conf.j2"));
    }
    }

    crate::testutil::both_paths! {
    async fn bad_arguments_are_rejected() {
        let fx = fx("x");
        let e = fx
            .run(
                false,
                false,
                json!({"src": "app.conf.j2", "dest": fx.host("x"), "bogus": 1}),
            )
            .await
            .unwrap_err();
        assert!(e
            .msg
            .starts_with("Unsupported parameters for (template) module: bogus."));
        let e = fx
            .run(
                false,
                false,
                json!({"src": "missing.j2", "dest": fx.host("x")}),
            )
            .await
            .unwrap_err();
        assert_eq!(e.msg, "Could not find or access 'missing.j2'");
        let e = fx
            .run(false, false, json!({"src": "app.conf.j2"}))
            .await
            .unwrap_err();
        assert_eq!(e.msg, "missing required arguments: dest");
        assert!(snapshot(&fx.host_root()).is_empty());
    }
    }
}
