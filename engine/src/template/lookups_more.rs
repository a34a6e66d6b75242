//! Lookups that read the run or the controller rather than shape lists: `varnames`,
//! `inventory_hostnames`, `password`, `random_choice`, `csvfile`, `ini`, `config`, `url`.

use super::filters_random::{below, PyRandom};
use super::native::python_str;
use super::op_err;
use super::undefined::CTX_KEY;
use minijinja::value::{Kwargs, Value as MjValue};
use minijinja::{Error, State};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Runs `name` over the flattened terms; `None` when no lookup here has that name.
pub fn run(
    state: &State,
    name: &str,
    terms: &[MjValue],
    kwargs: &Kwargs,
) -> Result<Option<Vec<MjValue>>, Error> {
    let strs: Vec<String> = terms.iter().map(python_str).collect();
    Ok(Some(match name {
        "varnames" => varnames(state, &strs)?,
        "inventory_hostnames" => inventory_hostnames(state, &strs)?,
        "password" => strs
            .iter()
            .map(|t| password(t, kwargs).map(MjValue::from))
            .collect::<Result<_, _>>()?,
        "random_choice" => random_choice(terms)?,
        "csvfile" => strs
            .iter()
            .map(|t| csvfile(state, t, kwargs))
            .collect::<Result<_, _>>()?,
        "ini" => strs
            .iter()
            .map(|t| ini(state, t, kwargs))
            .collect::<Result<_, _>>()?,
        "config" => super::lookup_config::run(terms, kwargs)?,
        "url" => super::lookup_url::run(&strs, kwargs)?,
        _ => return Ok(None),
    }))
}

/// Names of the host's variables that each regex (`re.search`) finds, term by term, sorted
/// within a term.
fn varnames(state: &State, terms: &[String]) -> Result<Vec<MjValue>, Error> {
    let ctx = state.lookup(CTX_KEY).unwrap_or_default();
    let mut names: Vec<String> = match ctx.try_iter() {
        Ok(keys) => keys.map(|k| python_str(&k)).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut out = Vec::new();
    for t in terms {
        let re = fancy_regex::Regex::new(t)
            .map_err(|e| op_err(format!("Unable to use \"{t}\" as a search parameter: {e}")))?;
        out.extend(
            names
                .iter()
                .filter(|n| re.is_match(n).unwrap_or(false))
                .map(|n| MjValue::from(n.as_str())),
        );
    }
    Ok(out)
}

/// The hosts a pattern selects, from the play's `groups`.
fn inventory_hostnames(state: &State, terms: &[String]) -> Result<Vec<MjValue>, Error> {
    let groups_value = state.lookup("groups").unwrap_or_default();
    let groups: indexmap::IndexMap<String, Vec<String>> =
        serde_json::from_value(serde_json::to_value(&groups_value).unwrap_or_default())
            .map_err(|e| op_err(format!("inventory_hostnames: groups: {e}")))?;
    let inv = crate::inventory::Inventory::from_groups(&groups);
    let hosts = inv
        .select(&terms.join(","))
        .map_err(|e| op_err(format!("inventory_hostnames: {e}")))?;
    Ok(hosts.into_iter().map(MjValue::from).collect())
}

/// `random_choice`: one of the terms.
fn random_choice(terms: &[MjValue]) -> Result<Vec<MjValue>, Error> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let pick = below(&mut None, terms.len() as u64)? as usize;
    Ok(vec![terms[pick].clone()])
}

/// `key=value` words after the first (free-form) word of a term, plus the call's keywords.
fn term_params(
    term: &str,
    kwargs: &Kwargs,
    keys: &[&str],
) -> Result<(String, BTreeMap<String, String>), Error> {
    let words = shell_words::split(term).map_err(|e| op_err(format!("{term}: {e}")))?;
    let mut first = Vec::new();
    let mut params = BTreeMap::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if keys.contains(&k) => {
                params.insert(k.to_string(), v.to_string());
            }
            _ => first.push(w),
        }
    }
    for k in keys {
        if let Some(v) = kwargs.get::<Option<MjValue>>(k)? {
            params
                .entry(k.to_string())
                .or_insert_with(|| param_text(&v));
        }
    }
    Ok((first.join(" "), params))
}

/// A keyword's value in the term's `key=value` form: a list (`chars=['digits', ',']`) as its
/// items joined by commas, a comma inside an item doubled.
fn param_text(v: &MjValue) -> String {
    match v.try_iter() {
        Ok(items) if v.kind() == minijinja::value::ValueKind::Seq => items
            .map(|i| python_str(&i).replace(',', ",,"))
            .collect::<Vec<_>>()
            .join(","),
        _ => python_str(v),
    }
}

const PASSWORD_KEYS: &[&str] = &["length", "encrypt", "chars", "ident", "seed"];

/// `lookup('password', 'path length=20 chars=ascii_letters,digits encrypt=sha512_crypt')`:
/// the password stored in `path` (on the controller), made and stored (0600, directories
/// created) when the file does not exist yet; `/dev/null` stores nothing. With `encrypt`, the
/// stored line carries `salt=` and the lookup returns the hash.
fn password(term: &str, kwargs: &Kwargs) -> Result<String, Error> {
    let (path, params) = term_params(term, kwargs, PASSWORD_KEYS)?;
    // `seed` (a string, as ansible-core's option type): Python's `random.Random(seed)`, so the
    // same seed gives ansible-core's password; without one, the system's random source.
    let mut rng = params
        .get("seed")
        .map(|s| PyRandom::seeded(&MjValue::from(s.as_str())))
        .transpose()?;
    let length: usize = match params.get("length") {
        Some(l) => l.parse().map_err(|_| {
            op_err(format!(
                "password lookup: length must be a number, not {l:?}"
            ))
        })?,
        None => 20,
    };
    let chars = password_chars(params.get("chars").map(String::as_str));
    let encrypt = params.get("encrypt").cloned();
    let store = path != "/dev/null";
    let existing = if store && Path::new(&path).exists() {
        Some(
            std::fs::read_to_string(&path)
                .map_err(|e| op_err(format!("could not read '{path}': {e}")))?,
        )
    } else {
        None
    };
    let (pw, mut salt) = match &existing {
        Some(content) => {
            let line = content.trim_end_matches('\n');
            match line.split_once(" salt=") {
                Some((p, rest)) => (
                    p.to_string(),
                    Some(rest.split(" ident=").next().unwrap_or("").to_string()),
                ),
                None => (line.to_string(), None),
            }
        }
        None => (generate(length, &chars, &mut rng)?, None),
    };
    if encrypt.is_some() && salt.is_none() {
        let alphabet: Vec<char> =
            "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                .chars()
                .collect();
        let bcrypt = matches!(encrypt.as_deref(), Some("bcrypt" | "blowfish"));
        salt = Some(generate(
            if bcrypt { 22 } else { 16 },
            &alphabet,
            &mut None,
        )?);
    }
    let content = match &salt {
        Some(s) => format!("{pw} salt={s}\n"),
        None => format!("{pw}\n"),
    };
    if store && existing.as_deref() != Some(content.as_str()) {
        write_private(Path::new(&path), &content)?;
    }
    match encrypt {
        None => Ok(pw),
        Some(hashtype) => super::filters_crypt::hash_password(&pw, &hashtype, salt.as_deref()),
    }
}

/// `chars`: comma-separated names of Python's `string` constants or literal characters (`,,`
/// is a comma); default ascii_letters, digits and `.,:-_`. As ansible-core's, the parts are
/// joined as given (a repeated character weighs more) and quotes are dropped.
fn password_chars(spec: Option<&str>) -> Vec<char> {
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &str = "0123456789";
    const PUNCT: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let spec = spec.unwrap_or("ascii_letters,digits,.,,:-_");
    let mut out = String::new();
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut it = spec.chars().peekable();
    while let Some(c) = it.next() {
        if c == ',' {
            if it.peek() == Some(&',') {
                it.next();
                cur.push(',');
            } else {
                parts.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    for p in parts {
        match p.as_str() {
            "ascii_letters" => out.push_str(&format!("{LOWER}{UPPER}")),
            "ascii_lowercase" => out.push_str(LOWER),
            "ascii_uppercase" => out.push_str(UPPER),
            "digits" => out.push_str(DIGITS),
            "hexdigits" => out.push_str("0123456789abcdefABCDEF"),
            "octdigits" => out.push_str("01234567"),
            "punctuation" => out.push_str(PUNCT),
            other => out.push_str(other),
        }
    }
    out.chars().filter(|c| !matches!(c, '"' | '\'')).collect()
}

/// `length` picks from `chars` (Python's `choice`), seeded or from the system.
fn generate(length: usize, chars: &[char], rng: &mut Option<PyRandom>) -> Result<String, Error> {
    if chars.is_empty() {
        return Err(op_err("password lookup: chars is empty"));
    }
    (0..length)
        .map(|_| below(rng, chars.len() as u64).map(|i| chars[i as usize]))
        .collect()
}

/// Owner-only from creation, written beside the target and renamed over it.
fn write_private(path: &Path, content: &str) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |e: std::io::Error| op_err(format!("could not write '{}': {e}", path.display()));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kplay-password")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(content.as_bytes()).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// A lookup's file: as given when absolute, else under the search path's `files/` dirs.
fn data_file(state: &State, name: &str) -> Result<std::path::PathBuf, Error> {
    super::lookups::find_file(state, "files", name)
}

const CSV_KEYS: &[&str] = &["file", "col", "delimiter", "default", "encoding"];

/// `csvfile`: column `col` (1) of the row whose first column is the key, in `file`
/// (`ansible.csv`), `delimiter` TAB by default; `default` when no row matches.
fn csvfile(state: &State, term: &str, kwargs: &Kwargs) -> Result<MjValue, Error> {
    let (key, p) = term_params(term, kwargs, CSV_KEYS)?;
    let file = data_file(
        state,
        p.get("file").map(String::as_str).unwrap_or("ansible.csv"),
    )?;
    let delim = match p.get("delimiter").map(String::as_str) {
        None | Some("TAB") | Some("\\t") => b'\t',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(d) => {
            return Err(op_err(format!(
                "csvfile: delimiter must be one character, not {d:?}"
            )))
        }
    };
    let col: usize = p
        .get("col")
        .map(|c| {
            c.parse()
                .map_err(|_| op_err(format!("csvfile: col must be a number, not {c:?}")))
        })
        .transpose()?
        .unwrap_or(1);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_path(&file)
        .map_err(|e| op_err(format!("csvfile: {}: {e}", file.display())))?;
    for row in reader.records() {
        let row = row.map_err(|e| op_err(format!("csvfile: {}: {e}", file.display())))?;
        if row.get(0) == Some(key.as_str()) {
            return row.get(col).map(MjValue::from).ok_or_else(|| {
                op_err(format!(
                    "csvfile: {}: no column {col} for {key}",
                    file.display()
                ))
            });
        }
    }
    Ok(p.get("default")
        .map(|d| MjValue::from(d.as_str()))
        .unwrap_or_default())
}

const INI_KEYS: &[&str] = &[
    "file",
    "section",
    "default",
    "re",
    "type",
    "encoding",
    "case_sensitive",
    "allow_no_value",
];

/// `ini`: the value of a key in `section` (`global`) of `file` (`ansible.ini`); `type=properties`
/// reads a Java properties file; `re=true` returns every value whose key matches.
fn ini(state: &State, term: &str, kwargs: &Kwargs) -> Result<MjValue, Error> {
    let (key, p) = term_params(term, kwargs, INI_KEYS)?;
    let properties = p.get("type").map(String::as_str) == Some("properties");
    let default_file = if properties {
        "ansible.properties"
    } else {
        "ansible.ini"
    };
    let file = data_file(
        state,
        p.get("file").map(String::as_str).unwrap_or(default_file),
    )?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| op_err(format!("ini: {}: {e}", file.display())))?;
    let section = p.get("section").map(String::as_str).unwrap_or("global");
    let case = p
        .get("case_sensitive")
        .is_some_and(|v| v == "True" || v == "true");
    let norm = |k: &str| {
        if case {
            k.to_string()
        } else {
            k.to_lowercase()
        }
    };
    let mut current = if properties {
        Some(section.to_string())
    } else {
        None
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with(['#', ';']) {
            continue;
        }
        if !properties && t.starts_with('[') && t.ends_with(']') {
            current = Some(t[1..t.len() - 1].trim().to_string());
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        if let Some(i) = t.find(['=', ':']) {
            pairs.push((norm(t[..i].trim()), t[i + 1..].trim().to_string()));
        }
    }
    if p.get("re").is_some_and(|v| v == "True" || v == "true") {
        let re = fancy_regex::Regex::new(&key).map_err(|e| op_err(format!("ini: {e}")))?;
        return Ok(MjValue::from(
            pairs
                .iter()
                .filter(|(k, _)| re.is_match(k).unwrap_or(false))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>(),
        ));
    }
    let want = norm(&key);
    Ok(match pairs.iter().rev().find(|(k, _)| *k == want) {
        Some((_, v)) => MjValue::from(v.as_str()),
        None => p
            .get("default")
            .map(|d| MjValue::from(d.as_str()))
            .unwrap_or(MjValue::from("")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_chars_follow_pythons_string_constants() {
        let c = password_chars(Some("digits"));
        assert_eq!(c.iter().collect::<String>(), "0123456789");
        let c = password_chars(Some("ab,,"));
        assert_eq!(c.iter().collect::<String>(), "ab,");
        assert_eq!(password_chars(None).len(), 26 * 2 + 10 + 5);
    }

    #[test]
    fn password_is_stored_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub/pw");
        let term = format!("{} length=12 chars=digits", path.display());
        let kw = Kwargs::from_iter(std::iter::empty::<(&str, MjValue)>());
        let first = password(&term, &kw).unwrap_or_default();
        assert_eq!(first.len(), 12);
        assert!(first.chars().all(|c| c.is_ascii_digit()));
        let again = password(&term, &kw).unwrap_or_default();
        assert_eq!(first, again);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        let hashed =
            password(&format!("{} encrypt=sha512_crypt", path.display()), &kw).unwrap_or_default();
        assert!(hashed.starts_with("$6$rounds=656000$"), "{hashed}");
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(stored.starts_with(&format!("{first} salt=")), "{stored}");
        let again =
            password(&format!("{} encrypt=sha512_crypt", path.display()), &kw).unwrap_or_default();
        assert_eq!(hashed, again, "the stored salt gives the same hash");
    }

    #[test]
    fn a_seed_gives_ansible_cores_password() {
        // ansible-core 2.18: lookup('password', '/dev/null seed=web1') and
        // lookup('password', '/dev/null', seed='db', length=12, chars=['digits','punctuation']).
        let none = Kwargs::from_iter(std::iter::empty::<(&str, MjValue)>());
        assert_eq!(
            password("/dev/null seed=web1", &none).unwrap_or_default(),
            "PHReYru8meWgwuf2LQh8"
        );
        let kw = Kwargs::from_iter([
            ("seed", MjValue::from("db")),
            ("length", MjValue::from(12)),
            ("chars", MjValue::from_serialize(["digits", "punctuation"])),
        ]);
        assert_eq!(
            password("/dev/null", &kw).unwrap_or_default(),
            "-#233`)~%1.["
        );
    }
}
