//! Python's `shlex.split(line, comments=True)`, which Ansible's INI inventory uses to cut a host
//! line into words (values are then read by [`crate::template::literal::python_value`]).

/// POSIX shlex word splitting with `#` comments: quotes group, `\` escapes outside single quotes.
pub(crate) fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err("No escaped character".into()),
                }
            }
            ch => {
                in_word = true;
                cur.push(ch);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_groups_quoted_words_and_drops_quotes() {
        assert_eq!(
            shlex_split(r#"h a="b c" d='e f'"#).unwrap(),
            ["h", "a=b c", "d=e f"]
        );
    }

    #[test]
    fn shlex_stops_at_comment() {
        assert_eq!(shlex_split("h a=1 # note").unwrap(), ["h", "a=1"]);
        assert_eq!(shlex_split("h a=1#x").unwrap(), ["h", "a=1"]);
    }

    #[test]
    fn shlex_keeps_hash_inside_quotes() {
        assert_eq!(shlex_split("h p='a#b'").unwrap(), ["h", "p=a#b"]);
    }

    #[test]
    fn shlex_reports_unclosed_quote() {
        assert_eq!(shlex_split("h a=\"x").unwrap_err(), "No closing quotation");
    }
}
