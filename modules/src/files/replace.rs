//! `replace`: Python `re.subn` with `re.MULTILINE` over a whole file, optionally limited to the
//! section between `after` and `before` (matched with `re.DOTALL`). The substitution is pure;
//! reading and the one atomic write are the editors' shared pipeline (`common/text_edit.rs`).

use crate::common::args::{p, Args, Param, Spec, FILE_COMMON};
use crate::common::fail_rc;
use crate::common::pyre::{PyRegex, Template};
use crate::common::text::{Found, TextFile};
use crate::common::text_edit::{BACKUP_ORIGINAL, EDITED_PATH, EditArgs, Edited, TextChange, TextEditor, VALIDATE_EDITED};
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    EDITED_PATH,
    p("regexp", &[])
        .str()
        .required()
        .doc("Python regular expression (MULTILINE) to look for."),
    p("replace", &[])
        .str()
        .doc("The replacement; may use backreferences. Empty removes the matches."),
    p("after", &[])
        .str()
        .doc("Only replace after the first match of this expression."),
    p("before", &[])
        .str()
        .doc("Only replace before the first match of this expression."),
    BACKUP_ORIGINAL,
    VALIDATE_EDITED,
    p("encoding", &[])
        .str()
        .doc("Accepted; files are read as UTF-8."),
];

/// `replace`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "replace",
    "Replace all instances of a pattern within a file",
    &[PARAMS, FILE_COMMON],
);

/// `ansible.builtin.replace`; registered as `Planned(ReplaceModule)`.
pub struct ReplaceModule;

/// The section `after`/`before` select, as a Python pattern (Ansible builds the same one).
fn section_pattern(after: Option<&str>, before: Option<&str>) -> Option<String> {
    match (
        after.filter(|s| !s.is_empty()),
        before.filter(|s| !s.is_empty()),
    ) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    }
}

/// The outcome of the substitution on a file's text.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// `after`/`before` did not match: Ansible stops right there.
    NoSection(String),
    Unchanged,
    Replaced {
        text: String,
        count: usize,
    },
}

/// Checked arguments.
pub struct Replace {
    re: PyRegex,
    template: Template,
    section: Option<(PyRegex, String)>,
}

impl Replace {
    fn from_args(a: &Args) -> Result<Replace, ModuleError> {
        let regexp = a.required_str("regexp")?;
        let re =
            PyRegex::compile(&regexp, true, false).map_err(|x| ModuleError::new(x.to_string()))?;
        let repl = a.str("replace")?.unwrap_or_default();
        let template = re.template(&repl).map_err(|x| {
            ModuleError::new(format!("Unable to process replace due to error: {x}"))
        })?;
        let section = match section_pattern(a.str("after")?.as_deref(), a.str("before")?.as_deref())
        {
            Some(pat) => Some((
                PyRegex::compile(&pat, false, true).map_err(|x| ModuleError::new(x.to_string()))?,
                pat,
            )),
            None => None,
        };
        Ok(Replace {
            re,
            template,
            section,
        })
    }

    fn apply(&self, contents: &str) -> Result<Outcome, ModuleError> {
        let err = |x: crate::common::pyre::PyReError| {
            ModuleError::new(format!("Unable to process replace due to error: {x}"))
        };
        let (start, end) = match &self.section {
            None => (0, contents.len()),
            Some((sre, pat)) => {
                let caps = sre.search(contents).map_err(err)?;
                match caps.as_ref().and_then(|c| c.name("subsection")) {
                    Some(m) => (m.start(), m.end()),
                    None => {
                        return Ok(Outcome::NoSection(format!(
                            "Pattern for before/after params did not match the given file: {pat}"
                        )))
                    }
                }
            }
        };
        let section = &contents[start..end];
        let (replaced, count) = self.re.subn(section, &self.template).map_err(err)?;
        if count == 0 || replaced == section {
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Replaced {
            text: format!("{}{replaced}{}", &contents[..start], &contents[end..]),
            count,
        })
    }
}

impl TextEditor for ReplaceModule {
    type Edit = Replace;

    fn name(&self) -> &'static str {
        "replace"
    }

    fn parse(&self, args: Map) -> Result<EditArgs<Replace>, ModuleError> {
        EditArgs::parse(&SPEC, args, Replace::from_args)
    }

    fn edit(e: &Replace, path: &str, file: &TextFile) -> Result<Edited, ModuleError> {
        let contents = match &file.found {
            Found::Directory => return Err(fail_rc(format!("Path {path} is a directory !"), 256)),
            Found::Missing => return Err(fail_rc(format!("Path {path} does not exist !"), 257)),
            Found::File { content, .. } => content.as_str(),
        };
        let result = ModuleResult::new(false).set("rc", Value::from(0));
        Ok(match e.apply(contents)? {
            Outcome::NoSection(m) => Edited::Stop(result.set("msg", m)),
            Outcome::Unchanged => Edited::Text(TextChange {
                after: None,
                msg: String::new(),
                result,
            }),
            Outcome::Replaced { text, count } => Edited::Text(TextChange {
                // Ansible's replace uses the bare path as both headers, and shows a diff
                // only when something was replaced.
                result: result.with_diff(path, path, contents, &text),
                after: Some(text),
                msg: format!("{count} replacements made"),
            }),
        })
    }
}

#[cfg(test)]
#[path = "tests/replace.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/replace_plan.rs"]
mod plan_tests;
