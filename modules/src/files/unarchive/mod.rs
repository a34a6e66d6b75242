//! `unarchive`: unpack a tar (plain, gz, bz2, xz, zstd) or zip archive into an existing
//! directory on the host. The archive comes from the controller (uploaded to a temp file), is
//! already on the host (`remote_src`), or is a URL the host downloads (`remote_src` + URL).
//!
//! Idempotence follows Ansible's handlers: tar archives are compared with `tar --diff` (with its
//! owner/mode noise filtered as Ansible filters it), zip archives by member existence, type and
//! size; `mode`/`owner`/`group` are compared on every member. `query` puts the archive on the
//! host (upload or download into a private directory, removed by `finish`) and inspects it in
//! one round trip ([`inspect`]); `plan` refuses members leaving `dest` and decides; `apply`
//! unpacks and fixes attributes in one round trip ([`extract`]).

pub mod extract;
pub mod inspect;
#[cfg(test)]
mod tests;

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::mode::ModeSpec;
use crate::common::upload::{self, Upload};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use inspect::{attr_fixes, escaping_member, relevant_diffs, Inspect};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("src", &[])
        .required()
        .doc("Archive on the controller, or (with `remote_src`) on the host or a URL."),
    p("dest", &[])
        .required()
        .doc("Existing remote directory to unpack into."),
    p("remote_src", &[])
        .flag(false)
        .doc("`src` is on the host (or a URL)."),
    p("copy", &[])
        .flag(true)
        .doc("Deprecated opposite of `remote_src`."),
    p("creates", &[]).doc("Skip when this remote path exists."),
    p("list_files", &[])
        .flag(false)
        .doc("Return the archive's file list as `files`."),
    p("keep_newer", &[])
        .flag(false)
        .doc("Do not replace files newer than the archive's."),
    p("exclude", &[])
        .list()
        .doc("Archive members (globs) not to unpack."),
    p("include", &[])
        .list()
        .doc("Only unpack these archive members."),
    p("extra_opts", &[])
        .list()
        .doc("Extra options for tar/unzip."),
    p("validate_certs", &[])
        .flag(true)
        .doc("Verify TLS certificates for a URL `src`."),
    p("io_buffer_size", &[]).doc("Accepted (no effect)."),
    p("decrypt", &[]).doc("Decrypt a vaulted archive (kplay always does)."),
];

/// `unarchive`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "unarchive",
    "Unpacks an archive after (optionally) copying it from the local machine",
    &[PARAMS, FILE_COMMON],
)
.mutually_exclusive(&[&["copy", "remote_src"], &["include", "exclude"]]);

/// Exit codes of the inspect snippet.
pub(crate) const RC_NOT_DIR: i32 = 84;
pub(crate) const RC_NO_SRC: i32 = 85;
pub(crate) const RC_NO_UNZIP: i32 = 86;
pub(crate) const RC_CREATES: i32 = 87;
pub(crate) const RC_LIST: i32 = 88;

/// Archive formats, named as Ansible's handlers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    TarZst,
    Zip,
}

impl Format {
    /// From the first bytes of the file as `od -An -tx1` prints them (hex, no spaces).
    pub fn from_magic(hex: &str) -> Format {
        match hex {
            h if h.starts_with("504b0304") || h.starts_with("504b0506") => Format::Zip,
            h if h.starts_with("1f8b") => Format::TarGz,
            h if h.starts_with("425a68") => Format::TarBz2,
            h if h.starts_with("fd377a585a00") => Format::TarXz,
            h if h.starts_with("28b52ffd") => Format::TarZst,
            _ => Format::Tar,
        }
    }

    pub fn handler(self) -> &'static str {
        match self {
            Format::Tar => "TarArchive",
            Format::TarGz => "TgzArchive",
            Format::TarBz2 => "TarBzipArchive",
            Format::TarXz => "TarXzArchive",
            Format::TarZst => "TarZstdArchive",
            Format::Zip => "ZipArchive",
        }
    }

    pub fn tar_flag(self) -> &'static str {
        match self {
            Format::TarGz => " -z",
            Format::TarBz2 => " -j",
            Format::TarXz => " -J",
            Format::TarZst => " --zstd",
            _ => "",
        }
    }
}

/// Where the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file of the controller's `files/` search path (uploaded by `query`).
    Controller(String),
    Host(String),
    /// Downloaded by the host (`query`).
    Url(String),
}

/// Checked `unarchive` arguments.
#[derive(Debug, Clone)]
pub struct UnarchiveArgs {
    pub src_name: String,
    pub source: Source,
    pub dest: String,
    pub creates: Option<String>,
    pub list_files: bool,
    pub keep_newer: bool,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
    pub extra_opts: Vec<String>,
    pub validate_certs: bool,
    pub attrs: AttrSpec,
}

impl UnarchiveArgs {
    pub fn parse(args: Map) -> Result<UnarchiveArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let remote_src = a.flag("remote_src") || !a.flag("copy");
        let src = a.str("src")?.unwrap_or_default();
        let source = if src.contains("://") {
            if !remote_src {
                return Err(ModuleError::new(format!(
                    "src must be a file on the controller unless remote_src is set: {src}"
                )));
            }
            Source::Url(src.clone())
        } else if remote_src {
            Source::Host(src.clone())
        } else {
            Source::Controller(src.clone())
        };
        let mut attrs = AttrSpec::from_args(&a, false)?;
        if let Some(ModeSpec::Preserve) = attrs.mode {
            attrs.mode = None;
        }
        Ok(UnarchiveArgs {
            src_name: src,
            source,
            dest: a.str("dest")?.unwrap_or_default(),
            creates: a.str("creates")?,
            list_files: a.flag("list_files"),
            keep_newer: a.flag("keep_newer"),
            exclude: a.list("exclude"),
            include: a.list("include"),
            extra_opts: a.list("extra_opts"),
            validate_certs: a.flag("validate_certs"),
            attrs,
        })
    }

    pub fn quoted(list: &[String]) -> String {
        list.iter().map(|x| format!(" {}", sh_quote(x))).collect()
    }

    /// Options shared by list, diff and extract for tar.
    pub fn tar_opts(&self, fmt: Format) -> String {
        let mut o = fmt.tar_flag().to_string();
        for e in &self.exclude {
            o.push_str(&format!(" --exclude={}", sh_quote(e)));
        }
        o
    }

    /// The extract command for `fmt` (archive in `$a`, destination in `$d`).
    pub fn extract_cmd(&self, fmt: Format) -> String {
        match fmt {
            Format::Zip => {
                let mut c = format!(
                    "unzip -o{} \"$a\"{}",
                    Self::quoted(&self.extra_opts),
                    Self::quoted(&self.include)
                );
                if !self.exclude.is_empty() {
                    c.push_str(&format!(" -x{}", Self::quoted(&self.exclude)));
                }
                c.push_str(" -d \"$d\"");
                c
            }
            _ => {
                let keep = if self.keep_newer {
                    " --keep-newer-files"
                } else {
                    ""
                };
                let owner = self
                    .attrs
                    .owner
                    .as_ref()
                    .map(|o| format!(" --owner={}", sh_quote(o)))
                    .unwrap_or_default();
                let group = self
                    .attrs
                    .group
                    .as_ref()
                    .map(|g| format!(" --group={}", sh_quote(g)))
                    .unwrap_or_default();
                format!(
                    "tar --extract -C \"$d\"{owner}{group}{keep}{}{} -f \"$a\"{}",
                    self.tar_opts(fmt),
                    Self::quoted(&self.extra_opts),
                    Self::quoted(&self.include)
                )
            }
        }
    }
}

/// What `query` found.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The archive's path on the host.
    pub archive: String,
    /// The private directory it was uploaded or downloaded to (removed by `finish`).
    pub temp: Option<Upload>,
    /// `None`: `creates` exists, nothing was inspected.
    pub inspect: Option<Inspect>,
}

/// What `apply` does: extract (when not everything is in place) and fix attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub archive: String,
    pub format: Format,
    /// Every member is already in place: only attributes are fixed.
    pub unpacked: bool,
    /// sh fixing the attributes of members already in place.
    pub attrs_sh: String,
}

/// `ansible.builtin.unarchive`.
pub struct UnarchiveModule;

#[async_trait]
impl QueryPlanApply for UnarchiveModule {
    type Args = UnarchiveArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "unarchive"
    }

    fn parse(&self, args: Map) -> Result<UnarchiveArgs, ModuleError> {
        UnarchiveArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &UnarchiveArgs) -> Result<Seen, ModuleError> {
        extract::query(ctx, a).await
    }

    fn plan(a: &UnarchiveArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let Some(ins) = &seen.inspect else {
            let msg = format!(
                "skipped, since {} exists",
                a.creates.as_deref().unwrap_or_default()
            );
            return Ok(Plan::nothing(
                ModuleResult::new(false)
                    .set("skipped", true)
                    .set("msg", msg),
            ));
        };
        // On every run, before anything is written or any attribute fixed.
        if let Some(why) = escaping_member(ins) {
            return Err(ModuleError::new(format!(
                "refusing to unpack {}: member {why} '{}'",
                a.src_name, a.dest
            )));
        }
        let format = Format::from_magic(&ins.magic);
        let unpacked = relevant_diffs(&ins.diffs, a, ins.uid).is_empty();
        let (attrs_differ, attrs_sh) = attr_fixes(a, ins, &a.dest);
        let src = match seen.temp {
            Some(_) => a.src_name.as_str(),
            None => seen.archive.as_str(),
        };
        let mut r = ModuleResult::new(false)
            .set("dest", a.dest.as_str())
            .set("src", src)
            .set("handler", format.handler());
        if a.list_files {
            let files = ins.files.iter().map(|f| Value::String(f.clone())).collect();
            r.insert("files", Value::Array(files));
        }
        if unpacked && !attrs_differ {
            return Ok(Plan::nothing(r));
        }
        let changes = Changes {
            archive: seen.archive.clone(),
            format,
            unpacked,
            attrs_sh,
        };
        Ok(Plan::change(changes, r))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &UnarchiveArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        extract::apply(ctx, a, &c, result).await
    }

    async fn finish(&self, ctx: &ModuleContext<'_>, seen: &Seen) {
        if let Some(up) = &seen.temp {
            upload::remove(ctx, up).await;
        }
    }
}
