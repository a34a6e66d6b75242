//! `template`: render a controller-side Jinja file with the host's variables and install the
//! result at `dest` exactly as `copy` would: `query` renders on the controller and probes the
//! host; `plan` and `apply` are the shared install pipeline's.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::install::{self, Install, Queried, Source, Step};
use crate::common::{basename, validate};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, ModuleContext, ModuleError, ModuleResult};
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
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateArgs {
    pub src: String,
    pub dest: String,
    /// `mode: preserve` is resolved against the template file in `query`.
    pub attrs: AttrSpec,
    pub backup: bool,
    pub force: bool,
    pub follow: bool,
    pub validate: Option<String>,
    pub newline: String,
}

/// What `query` found: the template file and the file to install (rendered text, probed).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSeen {
    pub src: PathBuf,
    pub file: Queried,
}

pub struct TemplateModule;

#[async_trait]
impl QueryPlanApply for TemplateModule {
    type Args = TemplateArgs;
    type Seen = TemplateSeen;
    /// The file's step and the template's path (the result's `src`).
    type Changes = (Step, String);

    fn name(&self) -> &'static str {
        "template"
    }

    fn parse(&self, args: Map) -> Result<TemplateArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let newline = a
            .choice(
                "newline_sequence",
                &["\\n", "\\r", "\\r\\n", "\n", "\r", "\r\n"],
            )?
            .unwrap_or_else(|| "\n".into());
        let newline = newline.replace("\\n", "\n").replace("\\r", "\r");
        Ok(TemplateArgs {
            src: a.str("src")?.unwrap_or_default(),
            dest: a.str("dest")?.unwrap_or_default(),
            validate: validate::from_args(&a)?,
            attrs: AttrSpec::from_args(&a, true)?,
            backup: a.flag("backup"),
            force: a.flag("force"),
            follow: a.flag("follow"),
            newline,
        })
    }

    /// Find and render the template on the controller, then probe `dest`.
    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        a: &TemplateArgs,
    ) -> Result<TemplateSeen, ModuleError> {
        let src = ctx
            .env
            .find_file(FileKind::Templates, &a.src)
            .ok_or_else(|| ModuleError::new(format!("Could not find or access '{}'", a.src)))?;
        let bytes = std::fs::read(&src)
            .map_err(|e| ModuleError::new(format!("Could not find or access '{}': {e}", a.src)))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            ModuleError::new(format!("template {} is not valid UTF-8", src.display()))
        })?;
        let mut rendered = ctx
            .env
            .render_template_text(&text, &src)
            .map_err(ModuleError::new)?;
        if a.newline != "\n" {
            rendered = rendered.replace('\n', &a.newline);
        }
        let mut attrs = a.attrs.clone();
        attrs.resolve_preserve(&src)?;
        let inst = Install {
            basename: Some(basename(&a.src)),
            attrs,
            force: a.force,
            backup: a.backup,
            validate: a.validate.clone(),
            follow: a.follow,
            after_header: src.display().to_string(),
            ..Install::new(a.dest.as_str(), Source::Data(rendered.into_bytes()))
        };
        let file = install::query(ctx, vec![inst])
            .await?
            .pop()
            .ok_or_else(|| ModuleError::new("the host reported nothing about dest"))?;
        Ok(TemplateSeen { src, file })
    }

    fn plan(_: &TemplateArgs, seen: &TemplateSeen) -> Result<Plan<(Step, String)>, ModuleError> {
        let p = install::plan(&seen.file)?;
        let src = seen.src.display().to_string();
        let mut result = p.result;
        if result.extra.contains_key("dest") {
            result.insert("src", src.as_str());
        }
        Ok(Plan {
            changes: p.changes.map(|s| (s, src)),
            result,
        })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _: &TemplateArgs,
        (step, src): (Step, String),
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        Ok(install::apply(ctx, step, result).await?.set("src", src))
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
        let mut fx = HostFx::new(&crate::planned::Planned(TemplateModule), "tpl");
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
