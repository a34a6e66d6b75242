//! The `validate` parameter of copy/template/lineinfile…: a command run on the written temp
//! file before it replaces the destination. `%s` is the temp file's path (Python `%`
//! formatting, so `%%` is a literal `%`).

use super::args::Args;
use kplay_engine::module::ModuleError;
use kplay_engine::transport::sh_quote;

/// Exit code of a write script whose validation failed; stdout is `V <rc>\n` + the command's stdout.
pub const RC_VALIDATE: i32 = 74;

/// The message of a failed validation (copy/template; the editing modules add `rc` and stderr).
pub const FAILED: &str = "failed to validate";

/// The `validate` argument, checked by [`check`].
pub fn from_args(a: &Args) -> Result<Option<String>, ModuleError> {
    let validate = a.str("validate")?;
    if let Some(v) = &validate {
        check(v)?;
    }
    Ok(validate)
}

/// Check `validate` has a `%s` (Ansible refuses it otherwise), before touching the host.
pub fn check(validate: &str) -> Result<(), ModuleError> {
    if validate.contains("%s") {
        Ok(())
    } else {
        Err(ModuleError::new(format!(
            "validate must contain %s: {validate}"
        )))
    }
}

/// The command with `%s` replaced by the quoted `path` and `%%` by `%`.
pub fn substitute(validate: &str, path: &str) -> String {
    let mut out = String::new();
    let mut chars = validate.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.peek() {
                Some('s') => {
                    chars.next();
                    out.push_str(&sh_quote(path));
                    continue;
                }
                Some('%') => {
                    chars.next();
                    out.push('%');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// sh lines that run the validation on `path` and stop the script with [`RC_VALIDATE`] on failure.
pub fn shell(validate: &str, path: &str) -> String {
    format!(
        "kvo=$({}); kvr=$?\nif [ $kvr -ne 0 ]; then printf 'V %s\\n' \"$kvr\"; printf '%s' \"$kvo\"; exit {RC_VALIDATE}; fi\n",
        substitute(validate, path)
    )
}

/// The task failure for a script that exited with [`RC_VALIDATE`]: Ansible's
/// `failed to validate` with `exit_status`, `stdout`, `stderr`.
pub fn failure(stdout: &[u8], stderr: &str) -> ModuleError {
    let text = String::from_utf8_lossy(stdout);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let rc: i64 = first
        .strip_prefix("V ")
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(1);
    super::fail_output(FAILED, ("exit_status", rc), rest, stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_without_placeholder_is_rejected() {
        assert_eq!(
            check("visudo -c").unwrap_err().msg,
            "validate must contain %s: visudo -c"
        );
        assert!(check("visudo -cf %s").is_ok());
    }

    #[test]
    fn placeholder_is_replaced_by_quoted_path_and_double_percent_kept() {
        assert_eq!(
            substitute("test -s %s && echo 100%%", "/tmp/a b"),
            "test -s '/tmp/a b' && echo 100%"
        );
    }

    #[test]
    fn failure_carries_exit_status_and_output() {
        let e = failure(b"V 3\nbad line 2", "oops");
        assert_eq!(e.msg, "failed to validate");
        assert_eq!(e.result["exit_status"], 3);
        assert_eq!(e.result["stdout"], "bad line 2");
        assert_eq!(e.result["stderr"], "oops");
    }
}
