//! `lineinfile`: make sure one line is present in (or absent from) a text file, Ansible's rules
//! for `regexp`/`search_string`, `insertafter`/`insertbefore`, `firstmatch` and `backrefs`.
//! The file is read once, edited in memory by the pure [`TextEditor::edit`] below and written
//! back atomically once by the editors' shared pipeline (`common/text_edit.rs`).

use crate::common::args::{p, Args, Param, Spec, FILE_COMMON};
use crate::common::fail_rc;
use crate::common::pyre::{PyRegex, Template};
use crate::common::text::{split_lines_lf, strip_eol, Found, TextFile, WriteOpts};
use crate::common::text_edit::{BACKUP_ORIGINAL, EDITED_PATH, EditArgs, Edited, TextChange, TextEditor, VALIDATE_EDITED, content_diff};
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    EDITED_PATH,
    p("state", &[]).choices(&["absent", "present"]).default_str("present").doc("Whether the line should be there or not."),
    p("regexp", &["regex"]).str().doc("Python regular expression looked for in every line; the last match is replaced or removed."),
    p("search_string", &[]).str().doc("Literal string looked for in every line (instead of `regexp`)."),
    p("line", &["value"]).str().doc("The line to insert or replace; required with state=present."),
    p("insertafter", &[]).str().doc("`EOF` or a regexp: a new line goes after the last line matching it."),
    p("insertbefore", &[]).str().doc("`BOF` or a regexp: a new line goes before the last line matching it."),
    p("backrefs", &[]).flag(false).doc("Expand `regexp`'s backreferences in `line`; leave the file alone when nothing matches."),
    p("create", &[]).flag(false).doc("Create the file when it does not exist."),
    BACKUP_ORIGINAL,
    p("firstmatch", &[]).flag(false).doc("Use the first line matching `insertafter`/`insertbefore` instead of the last."),
    VALIDATE_EDITED,
];

/// `lineinfile`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "lineinfile",
    "Manage lines in text files",
    &[PARAMS, FILE_COMMON],
)
.mutually_exclusive(&[
    &["insertbefore", "insertafter"],
    &["regexp", "search_string"],
    &["backrefs", "search_string"],
]);

/// `ansible.builtin.lineinfile`; registered as `Planned(LineinfileModule)`.
pub struct LineinfileModule;

/// How the line is looked for.
enum Finder {
    Regexp(PyRegex),
    Search(String),
    None,
}

/// Where a missing line goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    Eof,
    Bof,
    After,
    Before,
}

/// Checked arguments for state=present.
struct Present {
    finder: Finder,
    line: String,
    anchor: Anchor,
    anchor_re: Option<PyRegex>,
    backrefs: Option<Template>,
    firstmatch: bool,
}

/// The edit's outcome: new lines, message, changed.
#[derive(Debug, PartialEq, Eq)]
struct Edit {
    lines: Vec<String>,
    msg: String,
    changed: bool,
}

fn compile(pattern: &str) -> Result<PyRegex, ModuleError> {
    PyRegex::compile(pattern, false, false).map_err(|e| ModuleError::new(e.to_string()))
}

impl Present {
    fn from_args(a: &Args) -> Result<Present, ModuleError> {
        let regexp = a.str("regexp")?;
        let search = a.str("search_string")?;
        let backrefs = a.flag("backrefs");
        if backrefs && regexp.is_none() {
            return Err(ModuleError::new("regexp is required with backrefs=true"));
        }
        let line = a
            .str("line")?
            .ok_or_else(|| ModuleError::new("line is required with state=present"))?;
        let finder = match (regexp, search) {
            (Some(r), _) => Finder::Regexp(compile(&r)?),
            (None, Some(s)) => Finder::Search(s),
            (None, None) => Finder::None,
        };
        let backrefs = match (&finder, backrefs) {
            (Finder::Regexp(re), true) => Some(
                re.template(&line)
                    .map_err(|e| ModuleError::new(e.to_string()))?,
            ),
            _ => None,
        };
        let after = a.str("insertafter")?;
        let before = a.str("insertbefore")?;
        let (anchor, anchor_re) = match (after.as_deref(), before.as_deref()) {
            (Some("EOF"), _) | (None, None) => (Anchor::Eof, None),
            (Some("BOF"), _) | (None, Some("BOF")) => (Anchor::Bof, None),
            (Some(r), _) => (Anchor::After, Some(compile(r)?)),
            (None, Some(r)) => (Anchor::Before, Some(compile(r)?)),
        };
        Ok(Present {
            finder,
            line,
            anchor,
            anchor_re,
            backrefs,
            firstmatch: a.flag("firstmatch"),
        })
    }

    /// Ansible's scan: the last (or, with `firstmatch`, first) line the finder matches; when
    /// none, the last line equal to `line` and where the anchor puts a new one. Returns
    /// (found line, whether the finder matched, insertion point).
    fn locate(
        &self,
        lines: &[String],
    ) -> Result<(Option<usize>, bool, Option<usize>), ModuleError> {
        let err = |e: crate::common::pyre::PyReError| ModuleError::new(e.to_string());
        let mut found: Option<usize> = None;
        for (i, cur) in lines.iter().enumerate() {
            let hit = match &self.finder {
                Finder::Regexp(re) => re.is_match(cur).map_err(err)?,
                Finder::Search(s) => cur.contains(s.as_str()),
                Finder::None => false,
            };
            if hit {
                found = Some(i);
                if self.firstmatch {
                    break;
                }
            }
        }
        if found.is_some() {
            return Ok((found, true, None));
        }
        let mut insert_at: Option<usize> = None;
        for (i, cur) in lines.iter().enumerate() {
            if self.line == strip_eol(cur) {
                found = Some(i);
            } else if let Some(re) = &self.anchor_re {
                if re.is_match(cur).map_err(err)? {
                    insert_at = Some(if self.anchor == Anchor::After {
                        i + 1
                    } else {
                        i
                    });
                    if self.firstmatch {
                        break;
                    }
                }
            }
        }
        Ok((found, false, insert_at))
    }

    /// Ansible's `present()`: the line (or regexp/search_string match) is replaced in place;
    /// otherwise the line goes after/before the anchor, at BOF, or at EOF.
    fn apply(&self, mut lines: Vec<String>) -> Result<Edit, ModuleError> {
        let (found, matched, insert_at) = self.locate(&lines)?;
        let done = |lines: Vec<String>, msg: &str, changed: bool| {
            Ok(Edit {
                lines,
                msg: msg.to_string(),
                changed,
            })
        };
        if let Some(i) = found {
            let mut replacement = match (&self.backrefs, &self.finder, matched) {
                (Some(t), Finder::Regexp(re), true) => match re
                    .search(&lines[i])
                    .map_err(|e| ModuleError::new(e.to_string()))?
                {
                    Some(caps) => t.expand(&caps),
                    None => self.line.clone(),
                },
                _ => self.line.clone(),
            };
            if !replacement.ends_with('\n') {
                replacement.push('\n');
            }
            if lines[i] != replacement {
                lines[i] = replacement;
                return done(lines, "line replaced", true);
            }
            return done(lines, "", false);
        }
        if self.backrefs.is_some() {
            // Without a match there is nothing to fill the backreferences with: do nothing.
            return done(lines, "", false);
        }
        let new_line = format!("{}\n", self.line);
        match (&self.anchor, insert_at) {
            (Anchor::Bof, _) => {
                lines.insert(0, new_line);
                done(lines, "line added", true)
            }
            (Anchor::Eof, _) | (_, None) => {
                ensure_last_line_ends(&mut lines);
                lines.push(new_line);
                done(lines, "line added", true)
            }
            (Anchor::After, Some(at)) => {
                let already = if at == lines.len() {
                    strip_eol(&lines[at - 1]) == self.line
                } else {
                    strip_eol(&lines[at]) == self.line
                };
                if already {
                    return done(lines, "", false);
                }
                if at == lines.len() {
                    // Deviation from ansible-core: it would glue the new line onto an
                    // unterminated last line; kplay terminates that line first.
                    ensure_last_line_ends(&mut lines);
                }
                lines.insert(at, new_line);
                done(lines, "line added", true)
            }
            (Anchor::Before, Some(at)) => {
                lines.insert(at, new_line);
                done(lines, "line added", true)
            }
        }
    }
}

/// A file whose last line lacks a newline gets one before anything is appended.
fn ensure_last_line_ends(lines: &mut [String]) {
    if let Some(last) = lines.last_mut() {
        if !last.ends_with('\n') && !last.ends_with('\r') {
            last.push('\n');
        }
    }
}

/// Ansible's `absent()`: drop every line matching regexp, search_string, or equal to `line`.
fn remove_lines(
    lines: Vec<String>,
    finder: &Finder,
    line: Option<&str>,
) -> Result<(Vec<String>, usize), ModuleError> {
    let mut kept = Vec::with_capacity(lines.len());
    let mut found = 0usize;
    for cur in lines {
        let hit = match finder {
            Finder::Regexp(re) => re
                .is_match(&cur)
                .map_err(|e| ModuleError::new(e.to_string()))?,
            Finder::Search(s) => cur.contains(s.as_str()),
            Finder::None => line.is_some_and(|l| l == strip_eol(&cur)),
        };
        if hit {
            found += 1;
        } else {
            kept.push(cur);
        }
    }
    Ok((kept, found))
}

/// The warning Ansible gives for an empty regexp or search_string.
fn empty_pattern_warning(a: &Args) -> Result<Option<String>, ModuleError> {
    let base = "is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending.";
    if a.str("regexp")?.as_deref() == Some("") {
        return Ok(Some(format!(
            "The regular expression {base} If this is desired, use '^' to match every line in the file and avoid this warning."
        )));
    }
    if a.str("search_string")?.as_deref() == Some("") {
        return Ok(Some(format!("The search string {base}")));
    }
    Ok(None)
}

/// What the task asks of the file's lines.
enum Action {
    Present(Present),
    /// Lines to drop: those the finder matches, or (without one) those equal to the line.
    Absent(Finder, Option<String>),
}

/// `lineinfile`'s checked arguments.
pub struct LineEdit {
    action: Action,
    create: bool,
    warning: Option<String>,
}

impl LineEdit {
    fn from_args(a: &Args) -> Result<LineEdit, ModuleError> {
        let warning = empty_pattern_warning(a)?;
        let action = if a.required_str("state")? == "present" {
            Action::Present(Present::from_args(a)?)
        } else {
            let line = a.str("line")?;
            let finder = match (a.str("regexp")?, a.str("search_string")?) {
                (Some(r), _) => Finder::Regexp(compile(&r)?),
                (None, Some(s)) => Finder::Search(s),
                (None, None) if line.is_some() => Finder::None,
                (None, None) => {
                    return Err(ModuleError::new(
                        "one of line, search_string, or regexp is required with state=absent",
                    ))
                }
            };
            Action::Absent(finder, line)
        };
        Ok(LineEdit {
            action,
            create: a.flag("create"),
            warning,
        })
    }

    /// The result every exit carries: the warning (Ansible gives it before anything else).
    fn base_result(&self) -> ModuleResult {
        let mut r = ModuleResult::new(false);
        if let Some(w) = &self.warning {
            r.warnings.push(w.clone());
        }
        r
    }
}

impl TextEditor for LineinfileModule {
    type Edit = LineEdit;
    const BACKUP_KEY: &'static str = "backup";

    fn name(&self) -> &'static str {
        "lineinfile"
    }

    fn parse(&self, args: Map) -> Result<EditArgs<LineEdit>, ModuleError> {
        let a = SPEC.parse(args)?;
        Ok(EditArgs {
            path: a.required_str("path")?,
            opts: WriteOpts::from_args(&a)?,
            edit: LineEdit::from_args(&a)?,
        })
    }

    fn edit(e: &LineEdit, path: &str, file: &TextFile) -> Result<Edited, ModuleError> {
        let present = matches!(e.action, Action::Present(_));
        let original = match &file.found {
            Found::Directory => return Err(fail_rc(format!("Path {path} is a directory !"), 256)),
            Found::Missing if present && !e.create => {
                return Err(fail_rc(format!("Destination {path} does not exist !"), 257))
            }
            Found::Missing if !present => {
                return Ok(Edited::Stop(e.base_result().set("msg", "file not present")));
            }
            Found::Missing => "",
            Found::File { content, .. } => content.as_str(),
        };
        let lines = split_lines_lf(original);
        // Every exit past this point reports `backup`, empty unless one was made.
        let mut result = e.base_result().set("backup", "");
        let (new_lines, msg, changed) = match &e.action {
            Action::Present(p) => {
                let done = p.apply(lines)?;
                (done.lines, done.msg, done.changed)
            }
            Action::Absent(finder, line) => {
                let (kept, n) = remove_lines(lines, finder, line.as_deref())?;
                result.insert("found", Value::from(n));
                let msg = if n > 0 {
                    format!("{n} line(s) removed")
                } else {
                    String::new()
                };
                (kept, msg, n > 0)
            }
        };
        let after = new_lines.concat();
        let result = content_diff(result, path, original, &after);
        Ok(Edited::Text(TextChange {
            after: changed.then_some(after),
            msg,
            result,
        }))
    }
}

#[cfg(test)]
#[path = "tests/lineinfile.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/lineinfile_plan.rs"]
mod plan_tests;
