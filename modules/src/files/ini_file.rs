//! `ini_file` (community.general): make sure an option has a value in a section of an INI file,
//! or remove it or the whole section, with the module's rules: options before the first
//! section when no section is given, a commented-out `# option = x` reused in place, several
//! `values` for a repeated option, new options placed after the section's last real line.
//! The edit is the pure [`edit`]; reading, check mode, diff, backup and the one atomic write
//! with mode/owner/group are the editors' shared pipeline (`common/text_edit.rs`).

use crate::common::args::{p, Args, Param, Spec, FILE_COMMON};
use crate::common::fail_rc;
use crate::common::text::{split_lines_lf, Found, TextFile};
use crate::common::text_edit::{BACKUP_ORIGINAL, EditArgs, TextChange, TextEditor, content_diff, self};
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("path", &["dest"]).path().required().doc("Path to the INI file; created when missing (see `create`)."),
    p("section", &[]).str().doc("Section name (without brackets); when not given, options go before the first section."),
    p("option", &["key"]).str().doc("Option name; when not given with state=absent, the whole section is removed."),
    p("value", &[]).str().doc("The option's value."),
    p("values", &[]).list().doc("Several values for an option that may repeat (`exclusive` decides what happens to others)."),
    p("state", &[]).choices(&["absent", "present"]).default_str("present").doc("Whether the option (or section) should be there."),
    p("exclusive", &[]).flag(true).doc("With `values`: remove the option's other values (present) or every occurrence (absent)."),
    BACKUP_ORIGINAL,
    p("no_extra_spaces", &[]).flag(false).doc("Write `option=value` instead of `option = value`."),
    p("ignore_spaces", &[]).flag(false).doc("Leave a line alone when only the spacing around `=` differs."),
    p("allow_no_value", &[]).flag(false).doc("Allow an option without a value (a bare `option` line)."),
    p("modify_inactive_option", &[]).flag(true).doc("Reuse a commented-out `# option = …` line for the new value."),
    p("create", &[]).flag(true).doc("Create the file when it is missing; false fails instead."),
    p("follow", &[]).flag(false).doc("Accepted; kplay always edits the real file behind a symbolic link."),
];

/// `ini_file`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "ini_file",
    "Tweak settings in INI files",
    &[PARAMS, FILE_COMMON],
)
.mutually_exclusive(&[&["value", "values"]]);

/// A name no real section has: the part of the file before the first section is edited as if
/// it were a section of this name, so "no section" needs no special case.
const TOP: &str = "\u{0}kplay-ini-top";

/// What the task asks for, checked before the host is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniEdit {
    pub section: Option<String>,
    pub option: Option<String>,
    pub values: Vec<String>,
    pub present: bool,
    pub exclusive: bool,
    pub no_extra_spaces: bool,
    pub ignore_spaces: bool,
    pub allow_no_value: bool,
    pub modify_inactive: bool,
}

impl IniEdit {
    pub fn from_args(a: &Args) -> Result<IniEdit, ModuleError> {
        let present = a.required_str("state")? == "present";
        let allow_no_value = a.flag("allow_no_value");
        let mut values: Vec<String> = match a.str("value")? {
            Some(v) => vec![v],
            None => a.list("values"),
        };
        if present && !allow_no_value && values.is_empty() {
            return Err(ModuleError::new(
                "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
            ));
        }
        let mut seen = Vec::new();
        values.retain(|v| {
            let new = !seen.contains(v);
            seen.push(v.clone());
            new
        });
        Ok(IniEdit {
            section: a.str("section")?.filter(|s| !s.is_empty()),
            option: a.str("option")?,
            values,
            present,
            exclusive: a.flag("exclusive"),
            no_extra_spaces: a.flag("no_extra_spaces"),
            ignore_spaces: a.flag("ignore_spaces"),
            allow_no_value,
            modify_inactive: a.flag("modify_inactive_option"),
        })
    }

    fn assignment(&self, option: &str, value: &str) -> String {
        if self.no_extra_spaces {
            format!("{option}={value}\n")
        } else {
            format!("{option} = {value}\n")
        }
    }
}

/// An option line taken apart: whether it is commented out, and its value.
struct OptLine {
    commented: bool,
    value: String,
}

/// `s` without its leading spaces and tabs.
fn skip_blanks(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// Whether `line` sets `option` (`[#;]? option [= value]`, spaces and tabs around the parts);
/// commented-out lines count only when `inactive_too`.
fn match_option(option: &str, line: &str, inactive_too: bool) -> Option<OptLine> {
    let (commented, rest) = match line.strip_prefix(['#', ';']) {
        Some(r) if inactive_too => (true, r),
        _ => (false, line),
    };
    let rest = skip_blanks(skip_blanks(rest).strip_prefix(option)?);
    let value = if let Some(r) = rest.strip_prefix('=') {
        let r = skip_blanks(r);
        r.strip_suffix('\n').unwrap_or(r)
    } else if rest.is_empty() || rest == "\n" {
        ""
    } else {
        return None;
    };
    Some(OptLine {
        commented,
        value: value.to_string(),
    })
}

/// A blank line or a comment: new options go after the section's last line that is neither.
fn blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    t.is_empty() || t == "\n" || t.starts_with(['#', ';'])
}

/// The outcome of [`edit`]: the new text, whether it changed, and ini_file's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub changed: bool,
    pub msg: &'static str,
}

/// What an edit has done so far: whether the text changed, and ini_file's message.
struct Verdict {
    changed: bool,
    msg: &'static str,
}

impl Verdict {
    fn set(&mut self, msg: &'static str) {
        self.changed = true;
        self.msg = msg;
    }
}

/// The file's lines as Python reads them (BOM dropped, universal newlines), at least one, the
/// last terminated; true when that termination was added (a change of its own).
fn normalised_lines(original: Option<&str>) -> (Vec<String>, bool) {
    let text = original.unwrap_or("").trim_start_matches('\u{feff}');
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines = split_lines_lf(&text);
    if lines.is_empty() {
        lines.push("\n".to_string());
    }
    let mut added = false;
    if let Some(last) = lines.last_mut() {
        if !last.ends_with('\n') {
            last.push('\n');
            added = true;
        }
    }
    (lines, added)
}

/// The lines `[start, end)` of the section whose header line starts with `header`; the
/// caller has put a `[` sentinel last, so a found section always ends.
fn find_section(lines: &[String], header: &str) -> Option<(usize, usize)> {
    let mut start = None;
    for (i, line) in lines.iter().enumerate() {
        if let (Some(s), true) = (start, line.starts_with('[')) {
            return Some((s, i));
        }
        if line.starts_with(header) {
            start = Some(i);
        }
    }
    None
}

/// Apply `e` to the file's text (`None`: the file does not exist). Pure: what the module
/// writes, and what check mode reports, is exactly this.
pub fn edit(original: Option<&str>, e: &IniEdit) -> Edited {
    let (mut lines, terminated) = normalised_lines(original);
    let section = e.section.clone().unwrap_or_else(|| TOP.to_string());
    let header = format!("[{section}]");
    lines.insert(0, format!("[{TOP}]"));
    lines.push("[".to_string());
    let span = find_section(&lines, &header);
    let (start, end) = span.unwrap_or((0, 0));
    let after = lines.split_off(end);
    let mut sect = lines.split_off(start);
    let mut out = lines;
    let mut v = Verdict {
        changed: terminated,
        msg: "OK",
    };
    let mut values = e.values.clone();
    match (e.present, e.option.as_deref()) {
        (true, _) => present_in_section(e, &mut sect, &mut values, &mut v),
        (false, Some(option)) => {
            let before_len = sect.len();
            sect.retain(|l| match match_option(option, l, false) {
                Some(m) => !(e.exclusive || e.values.contains(&m.value)),
                None => true,
            });
            if sect.len() != before_len {
                v.set("option changed");
            }
        }
        (false, None) if !sect.is_empty() => {
            sect.clear();
            v.set("section removed");
        }
        (false, None) => {}
    }
    out.extend(sect);
    out.extend(after);
    out.remove(0);
    out.pop();
    if span.is_none() && e.present {
        add_section(e, &header, &values, &mut out, &mut v);
    }
    Edited {
        text: out.concat(),
        changed: v.changed,
        msg: v.msg,
    }
}

/// state=present within the section's lines (header first): existing lines updated, then
/// the values still missing added after the section's last real line.
fn present_in_section(
    e: &IniEdit,
    sect: &mut Vec<String>,
    values: &mut Vec<String>,
    v: &mut Verdict,
) {
    let mut no_value_present = false;
    if let Some(option) = e.option.as_deref() {
        no_value_present = update_existing(e, option, sect, values, v);
    }
    let (Some(option), Some(at)) = (
        e.option.as_deref(),
        (1..=sect.len())
            .rev()
            .find(|&i| !blank_or_comment(&sect[i - 1])),
    ) else {
        return;
    };
    if !values.is_empty() {
        for val in values.iter().rev() {
            sect.insert(at, e.assignment(option, val));
        }
        v.set("option added");
    } else if e.allow_no_value && !no_value_present {
        sect.insert(at, format!("{option}\n"));
        v.set("option added");
    }
}

/// The section's lines setting `option` rewritten to the wanted values (taken out of
/// `values`); with `exclusive`, the others reused or dropped. True when a bare `option` line
/// (allow_no_value) is there.
fn update_existing(
    e: &IniEdit,
    option: &str,
    sect: &mut Vec<String>,
    values: &mut Vec<String>,
    v: &mut Verdict,
) -> bool {
    let mut no_value_present = false;
    let mut touched = vec![false; sect.len()];
    let update = |sect: &mut Vec<String>, i: usize, new: String, v: &mut Verdict| {
        let differs = match (e.ignore_spaces, match_option(option, &sect[i], true)) {
            (true, Some(old)) if !old.commented => {
                match_option(option, &new, true).is_none_or(|n| n.value != old.value)
            }
            _ => sect[i] != new,
        };
        if differs {
            sect[i] = new;
            v.set("option changed");
        }
    };
    for i in 0..sect.len() {
        let Some(m) = match_option(option, &sect[i], e.modify_inactive) else {
            continue;
        };
        if let Some(pos) = values.iter().position(|x| *x == m.value) {
            let new = if m.value.is_empty() && e.allow_no_value {
                no_value_present = true;
                format!("{option}\n")
            } else {
                e.assignment(option, &m.value)
            };
            update(sect, i, new, v);
            touched[i] = true;
            values.remove(pos);
        } else if values.is_empty() && e.allow_no_value {
            update(sect, i, format!("{option}\n"), v);
            touched[i] = true;
            no_value_present = true;
            break;
        }
    }
    if e.exclusive && !e.allow_no_value {
        for i in 0..sect.len() {
            if values.is_empty() {
                break;
            }
            if !touched[i] && match_option(option, &sect[i], e.modify_inactive).is_some() {
                let new = e.assignment(option, &values.remove(0));
                update(sect, i, new, v);
                touched[i] = true;
            }
        }
        // Every other occurrence goes (never the header line, index 0).
        for i in (1..sect.len()).rev() {
            if !touched[i] && match_option(option, &sect[i], e.modify_inactive).is_some() {
                sect.remove(i);
                v.set("option changed");
            }
        }
    }
    no_value_present
}

/// A section not in the file: appended with its option (or alone).
fn add_section(
    e: &IniEdit,
    header: &str,
    values: &[String],
    out: &mut Vec<String>,
    v: &mut Verdict,
) {
    out.push(format!("{header}\n"));
    v.set("section and option added");
    match e.option.as_deref() {
        Some(option) if !values.is_empty() => {
            for val in values {
                out.push(e.assignment(option, val));
            }
        }
        Some(option) if e.allow_no_value => out.push(format!("{option}\n")),
        _ => v.msg = "only section added",
    }
}

/// `community.general.ini_file`; registered as `Planned(IniFileModule)`.
pub struct IniFileModule;

/// `ini_file`'s checked arguments: the edit and `create`.
pub struct IniArgs {
    edit: IniEdit,
    create: bool,
}

impl TextEditor for IniFileModule {
    type Edit = IniArgs;

    fn name(&self) -> &'static str {
        "ini_file"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }

    fn parse(&self, args: Map) -> Result<EditArgs<IniArgs>, ModuleError> {
        EditArgs::parse(&SPEC, args, |a| {
            Ok(IniArgs {
                edit: IniEdit::from_args(a)?,
                create: a.flag("create"),
            })
        })
    }

    fn edit(i: &IniArgs, path: &str, file: &TextFile) -> Result<text_edit::Edited, ModuleError> {
        let original = match &file.found {
            Found::Directory => {
                return Err(fail_rc(format!("Destination {path} is a directory !"), 256))
            }
            Found::Missing if !i.create => {
                return Err(fail_rc(format!("Destination {path} does not exist!"), 257))
            }
            Found::Missing => None,
            Found::File { content, .. } => Some(content.as_str()),
        };
        let done = edit(original, &i.edit);
        let result = ModuleResult::new(false).set("path", path);
        let result = content_diff(result, path, original.unwrap_or_default(), &done.text);
        Ok(text_edit::Edited::Text(TextChange {
            after: done.changed.then_some(done.text),
            msg: done.msg.to_string(),
            result,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{changed, msg, Fixture};
    use serde_json::json;

    const M: Planned<IniFileModule> = Planned(IniFileModule);

    fn ini(v: serde_json::Value) -> IniEdit {
        let m = v.as_object().cloned().unwrap_or_default();
        let mut m = m;
        m.entry("path").or_insert(json!("/x"));
        IniEdit::from_args(&SPEC.parse(m).expect("args")).expect("edit")
    }

    fn run_edit(text: Option<&str>, v: serde_json::Value) -> Edited {
        edit(text, &ini(v))
    }

    #[test]
    fn new_file_gets_the_section_and_option_after_a_blank_line() {
        let r = run_edit(
            None,
            json!({"section": "drinks", "option": "fav", "value": "lemonade"}),
        );
        assert_eq!(r.text, "\n[drinks]\nfav = lemonade\n");
        assert_eq!(r.msg, "section and option added");
        assert!(r.changed);
        let again = run_edit(
            Some(&r.text),
            json!({"section": "drinks", "option": "fav", "value": "lemonade"}),
        );
        assert!(!again.changed, "{again:?}");
        assert_eq!(again.text, r.text);
        assert_eq!(again.msg, "OK");
    }

    #[test]
    fn existing_option_is_changed_in_place() {
        let r = run_edit(
            Some("[a]\nx = 1\ny = 2\n"),
            json!({"section": "a", "option": "x", "value": "9"}),
        );
        assert_eq!(r.text, "[a]\nx = 9\ny = 2\n");
        assert_eq!(r.msg, "option changed");
    }

    #[test]
    fn new_option_goes_after_the_last_real_line_of_its_section() {
        let r = run_edit(
            Some("[a]\nx = 1\n# note\n\n[b]\ny = 2\n"),
            json!({"section": "a", "option": "z", "value": "3", "no_extra_spaces": true}),
        );
        assert_eq!(r.text, "[a]\nx = 1\nz=3\n# note\n\n[b]\ny = 2\n");
        assert_eq!(r.msg, "option added");
    }

    #[test]
    fn commented_option_is_reused_unless_told_not_to() {
        let r = run_edit(
            Some("[a]\n# x = 1\n"),
            json!({"section": "a", "option": "x", "value": "2"}),
        );
        assert_eq!(r.text, "[a]\nx = 2\n");
        let r = run_edit(
            Some("[a]\n# x = 1\n"),
            json!({"section": "a", "option": "x", "value": "2", "modify_inactive_option": false}),
        );
        assert_eq!(r.text, "[a]\nx = 2\n# x = 1\n");
    }

    #[test]
    fn no_section_means_before_the_first_section() {
        let r = run_edit(
            Some("top = 1\n[a]\nx = 1\n"),
            json!({"option": "top", "value": "2"}),
        );
        assert_eq!(r.text, "top = 2\n[a]\nx = 1\n");
        let r = run_edit(Some("[a]\nx = 1\n"), json!({"option": "g", "value": "1"}));
        assert_eq!(r.text, "g = 1\n[a]\nx = 1\n");
    }

    #[test]
    fn absent_removes_the_option_or_the_whole_section() {
        let text = "[a]\nx = 1\ny = 2\n[b]\nz = 3\n";
        let r = run_edit(
            Some(text),
            json!({"section": "a", "option": "x", "state": "absent"}),
        );
        assert_eq!(r.text, "[a]\ny = 2\n[b]\nz = 3\n");
        assert_eq!(r.msg, "option changed");
        let r = run_edit(Some(text), json!({"section": "a", "state": "absent"}));
        assert_eq!(r.text, "[b]\nz = 3\n");
        assert_eq!(r.msg, "section removed");
        let r = run_edit(
            Some(text),
            json!({"section": "c", "option": "x", "state": "absent"}),
        );
        assert!(!r.changed);
        assert_eq!(r.text, text);
    }

    #[test]
    fn values_keep_matching_lines_and_exclusive_drops_the_rest() {
        let text = "[a]\nh = 1\nh = 2\nh = 3\n";
        let r = run_edit(
            Some(text),
            json!({"section": "a", "option": "h", "values": ["3", "4"]}),
        );
        assert_eq!(r.text, "[a]\nh = 4\nh = 3\n");
        let r = run_edit(
            Some(text),
            json!({"section": "a", "option": "h", "values": ["3", "4"], "exclusive": false}),
        );
        assert_eq!(r.text, "[a]\nh = 1\nh = 2\nh = 3\nh = 4\n");
        let r = run_edit(
            Some(text),
            json!({"section": "a", "option": "h", "values": ["2"], "state": "absent", "exclusive": false}),
        );
        assert_eq!(r.text, "[a]\nh = 1\nh = 3\n");
    }

    #[test]
    fn allow_no_value_writes_a_bare_option() {
        let r = run_edit(
            Some("[m]\n"),
            json!({"section": "m", "option": "skip-name-resolve", "allow_no_value": true}),
        );
        assert_eq!(r.text, "[m]\nskip-name-resolve\n");
        let again = run_edit(
            Some(&r.text),
            json!({"section": "m", "option": "skip-name-resolve", "allow_no_value": true}),
        );
        assert!(!again.changed);
    }

    #[test]
    fn spacing_only_difference_is_kept_with_ignore_spaces() {
        let r = run_edit(
            Some("[a]\nx=1\n"),
            json!({"section": "a", "option": "x", "value": "1", "ignore_spaces": true}),
        );
        assert!(!r.changed);
        let r = run_edit(
            Some("[a]\nx=1\n"),
            json!({"section": "a", "option": "x", "value": "1"}),
        );
        assert_eq!(r.text, "[a]\nx = 1\n");
    }

    #[test]
    fn missing_trailing_newline_and_crlf_are_normalised_like_python() {
        let r = run_edit(
            Some("[a]\r\nx = 1"),
            json!({"section": "a", "option": "x", "value": "1"}),
        );
        assert_eq!(r.text, "[a]\nx = 1\n");
        assert!(r.changed);
    }

    #[test]
    fn argument_errors_use_the_modules_wording() {
        let parse = |v: serde_json::Value| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            m.entry("path").or_insert(json!("/x"));
            SPEC.parse(m)
                .and_then(|a| IniEdit::from_args(&a))
                .unwrap_err()
                .msg
        };
        assert_eq!(
            parse(json!({"option": "a", "value": "1", "values": ["2"]})),
            "parameters are mutually exclusive: value|values"
        );
        assert_eq!(
            parse(json!({"option": "a"})),
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False."
        );
        assert_eq!(
            parse(json!({"option": "a", "value": "1", "state": "gone"})),
            "value of state must be one of: absent, present, got: gone"
        );
    }

    crate::testutil::both_paths! {
    async fn module_writes_once_and_is_idempotent() {
        let f = Fixture::new(Some("[a]\nx = 1\n"));
        let args = json!({"section": "a", "option": "x", "value": "2", "mode": "0600"});
        let r = f.ok(&M, args.clone()).await;
        assert!(changed(&r), "{r:?}");
        assert_eq!(f.content().as_deref(), Some("[a]\nx = 2\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f.path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let r = f.ok(&M, args).await;
        assert!(!changed(&r), "{r:?}");
        assert_eq!(msg(&r), "OK");
    }

    async fn check_mode_reports_the_diff_and_writes_nothing() {
        let f = Fixture::new(Some("[a]\nx = 1\n"));
        let r = f
            .run(&M, json!({"section": "a", "option": "x", "value": "2"}), true, true)
            .await
            .expect("run");
        assert!(changed(&r));
        assert_eq!(f.content().as_deref(), Some("[a]\nx = 1\n"));
        let d = &r["diff"][0];
        assert_eq!(d["before"], json!("[a]\nx = 1\n"));
        assert_eq!(d["after"], json!("[a]\nx = 2\n"));
    }

    async fn missing_file_is_created_unless_create_is_false() {
        let f = Fixture::new(None);
        let e = f
            .run(&M, json!({"section": "s", "option": "o", "value": "v", "create": false}), false, false)
            .await
            .unwrap_err();
        assert_eq!(e.msg, format!("Destination {} does not exist!", f.path_str()));
        assert!(f.content().is_none());
        let r = f.ok(&M, json!({"section": "s", "option": "o", "value": "v"})).await;
        assert!(changed(&r));
        assert_eq!(f.content().as_deref(), Some("\n[s]\no = v\n"));
    }
    }
}

#[cfg(test)]
#[path = "tests/ini_file_plan.rs"]
mod plan_tests;
