//! `blockinfile`: keep a block of lines between two marker lines, Ansible's placement rules
//! (`insertafter`/`insertbefore` regex, EOF, BOF, `(?m)` patterns matched against the whole
//! file) and its `prepend_newline`/`append_newline` options. The edit is pure; reading and the
//! one atomic write are the editors' shared pipeline (`common/text_edit.rs`).

use crate::common::args::{p, Args, Param, Spec, FILE_COMMON};
use crate::common::fail_rc;
use crate::common::pyre::PyRegex;
use crate::common::text::{split_lines_universal, Found, TextFile};
use crate::common::text_edit::{BACKUP_ORIGINAL, EDITED_PATH, EditArgs, Edited, TextChange, TextEditor, VALIDATE_EDITED, content_diff};
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    EDITED_PATH,
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Whether the block should be there or not."),
    p("marker", &[])
        .default_str("# {mark} ANSIBLE MANAGED BLOCK")
        .doc("Marker line template; `{mark}` becomes `marker_begin`/`marker_end`."),
    p("block", &["content"])
        .str()
        .doc("The text to put between the markers."),
    p("insertafter", &[])
        .str()
        .doc("`EOF` or a regexp: a new block goes after the last line matching it."),
    p("insertbefore", &[])
        .str()
        .doc("`BOF` or a regexp: a new block goes before the last line matching it."),
    p("create", &[])
        .flag(false)
        .doc("Create the file when it does not exist."),
    BACKUP_ORIGINAL,
    VALIDATE_EDITED,
    p("marker_begin", &[])
        .default_str("BEGIN")
        .doc("Replaces `{mark}` in the opening marker."),
    p("marker_end", &[])
        .default_str("END")
        .doc("Replaces `{mark}` in the closing marker."),
    p("append_newline", &[])
        .flag(false)
        .doc("Add a blank line after the block when it is inserted."),
    p("prepend_newline", &[])
        .flag(false)
        .doc("Add a blank line before the block when it is inserted."),
];

/// `blockinfile`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "blockinfile",
    "Insert/update/remove a text block surrounded by marker lines",
    &[PARAMS, FILE_COMMON],
)
.mutually_exclusive(&[&["insertbefore", "insertafter"]]);

/// `ansible.builtin.blockinfile`; registered as `Planned(BlockinfileModule)`.
pub struct BlockinfileModule;

/// Where a block without markers in the file goes.
enum Placement {
    Eof,
    Bof,
    After(PyRegex, bool),
    Before(PyRegex, bool),
}

/// Checked arguments that shape the new content.
pub struct BlockEdit {
    present: bool,
    marker_begin_line: String,
    marker_end_line: String,
    block: String,
    placement: Placement,
    prepend_newline: bool,
    append_newline: bool,
}

impl BlockEdit {
    fn from_args(a: &Args) -> Result<BlockEdit, ModuleError> {
        let present = a.required_str("state")? == "present";
        let marker = a
            .str("marker")?
            .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".to_string());
        let begin = a
            .str("marker_begin")?
            .unwrap_or_else(|| "BEGIN".to_string());
        let end = a.str("marker_end")?.unwrap_or_else(|| "END".to_string());
        let compile = |r: &str| -> Result<(PyRegex, bool), ModuleError> {
            let re =
                PyRegex::compile(r, false, false).map_err(|x| ModuleError::new(x.to_string()))?;
            Ok((re, PyRegex::pattern_sets_multiline(r)))
        };
        // As Ansible: only `insertafter: EOF` and `insertbefore: BOF` are keywords.
        let placement = match (a.str("insertafter")?, a.str("insertbefore")?) {
            (None, None) => Placement::Eof,
            (Some(s), _) if s == "EOF" => Placement::Eof,
            (Some(s), _) => {
                let (re, m) = compile(&s)?;
                Placement::After(re, m)
            }
            (None, Some(s)) if s == "BOF" => Placement::Bof,
            (None, Some(s)) => {
                let (re, m) = compile(&s)?;
                Placement::Before(re, m)
            }
        };
        Ok(BlockEdit {
            present,
            marker_begin_line: format!("{}\n", marker.replace("{mark}", &begin)),
            marker_end_line: format!("{}\n", marker.replace("{mark}", &end)),
            block: a.str("block")?.unwrap_or_default(),
            placement,
            prepend_newline: a.flag("prepend_newline"),
            append_newline: a.flag("append_newline"),
        })
    }

    /// The lines the block occupies with its markers; none for state=absent or an empty block.
    fn block_lines(&self) -> Vec<String> {
        if !self.present || self.block.is_empty() {
            return Vec::new();
        }
        let mut block = self.block.clone();
        if !block.ends_with('\n') {
            block.push('\n');
        }
        let mut v = vec![self.marker_begin_line.clone()];
        v.extend(split_lines_universal(&block));
        v.push(self.marker_end_line.clone());
        v
    }

    /// Where a block goes when the file has no complete marker pair.
    fn insertion_point(&self, original: &str, lines: &[String]) -> Result<usize, ModuleError> {
        let err = |x: crate::common::pyre::PyReError| ModuleError::new(x.to_string());
        let (re, multiline, after) = match &self.placement {
            Placement::Eof => return Ok(lines.len()),
            Placement::Bof => return Ok(0),
            Placement::After(re, m) => (re, *m, true),
            Placement::Before(re, m) => (re, *m, false),
        };
        let mut at: Option<usize> = None;
        if multiline {
            if let Some(caps) = re.search(original).map_err(err)? {
                if let Some(m) = caps.get(0) {
                    let upto = if after { m.end() } else { m.start() };
                    at = Some(original[..upto].matches('\n').count());
                }
            }
        } else {
            for (i, line) in lines.iter().enumerate() {
                if re.is_match(line).map_err(err)? {
                    at = Some(i);
                }
            }
        }
        Ok(match at {
            None => lines.len(),
            Some(n) if after => n + 1,
            Some(n) => n,
        })
    }

    /// Ansible's edit: replace the old marked block (or place a new one), then the optional
    /// blank lines around it.
    fn apply(&self, original: &str) -> Result<(String, bool), ModuleError> {
        let mut lines = split_lines_universal(original);
        let blocklines = self.block_lines();
        let n0 = lines.iter().rposition(|l| *l == self.marker_begin_line);
        let n1 = lines.iter().rposition(|l| *l == self.marker_end_line);
        let mut at = match (n0, n1) {
            (Some(a), Some(b)) => {
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                lines.drain(lo..=hi);
                lo
            }
            _ => self.insertion_point(original, &lines)?,
        };
        at = at.min(lines.len());
        if at > 0 && !lines[at - 1].ends_with('\n') {
            lines[at - 1].push('\n');
        }
        if self.prepend_newline && self.present && at != 0 && lines[at - 1] != "\n" {
            lines.insert(at, "\n".to_string());
            at += 1;
        }
        let n_block = blocklines.len();
        let had_block = !blocklines.is_empty();
        lines.splice(at..at, blocklines);
        if self.append_newline && self.present {
            let after = at + n_block;
            if after < lines.len() && lines[after] != "\n" {
                lines.insert(after, "\n".to_string());
            }
        }
        Ok((lines.concat(), had_block))
    }
}

/// `blockinfile`'s checked arguments: the block edit and `create`.
pub struct BlockArgs {
    edit: BlockEdit,
    create: bool,
}

impl TextEditor for BlockinfileModule {
    type Edit = BlockArgs;

    fn name(&self) -> &'static str {
        "blockinfile"
    }

    fn parse(&self, args: Map) -> Result<EditArgs<BlockArgs>, ModuleError> {
        EditArgs::parse(&SPEC, args, |a| {
            Ok(BlockArgs {
                edit: BlockEdit::from_args(a)?,
                create: a.flag("create"),
            })
        })
    }

    fn edit(b: &BlockArgs, path: &str, file: &TextFile) -> Result<Edited, ModuleError> {
        let original = match &file.found {
            Found::Directory => return Err(fail_rc(format!("Path {path} is a directory !"), 256)),
            Found::Missing if !b.create => {
                return Err(fail_rc(format!("Path {path} does not exist !"), 257))
            }
            Found::Missing if !b.edit.present => {
                let r = ModuleResult::new(false).set("msg", format!("File {path} not present"));
                return Ok(Edited::Stop(r));
            }
            Found::Missing => None,
            Found::File { content, .. } => Some(content.as_str()),
        };
        let before = original.unwrap_or_default();
        let (after, has_block) = b.edit.apply(before)?;
        let msg = match original {
            Some(o) if o == after => "",
            None => "File created",
            Some(_) if !has_block => "Block removed",
            Some(_) => "Block inserted",
        };
        let changed = original != Some(after.as_str());
        let result = content_diff(ModuleResult::new(false), path, before, &after);
        Ok(Edited::Text(TextChange {
            after: changed.then_some(after),
            msg: msg.to_string(),
            result,
        }))
    }
}

#[cfg(test)]
#[path = "tests/blockinfile.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/blockinfile_plan.rs"]
mod plan_tests;
