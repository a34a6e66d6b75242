//! What community.general.archive decides before it touches anything, as pure functions: the
//! paths left after expansion and exclusion, the archive root, whether the task must build
//! an archive or compresses one file, and the destination's name.

use kplay_engine::module::ModuleError;

/// `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Bz2,
    Gz,
    Tar,
    Xz,
    Zip,
    Zstd,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["bz2", "gz", "tar", "xz", "zip", "zstd"];

    pub fn parse(s: &str) -> Format {
        match s {
            "bz2" => Format::Bz2,
            "tar" => Format::Tar,
            "xz" => Format::Xz,
            "zip" => Format::Zip,
            "zstd" => Format::Zstd,
            _ => Format::Gz,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Bz2 => "bz2",
            Format::Gz => "gz",
            Format::Tar => "tar",
            Format::Xz => "xz",
            Format::Zip => "zip",
            Format::Zstd => "zstd",
        }
    }

    /// The host command that compresses stdin to stdout reproducibly (no name, no time).
    pub fn compressor(self) -> &'static str {
        match self {
            Format::Bz2 => "bzip2 -c",
            Format::Gz => "gzip -n -c",
            Format::Xz => "xz -c",
            Format::Zstd => "zstd -q -c",
            Format::Tar | Format::Zip => "cat",
        }
    }

    /// tar's flag to read an archive of this format.
    pub fn tar_read_flag(self) -> &'static str {
        match self {
            Format::Bz2 => "-j",
            Format::Gz => "-z",
            Format::Xz => "-J",
            Format::Zstd => "--zstd",
            Format::Tar | Format::Zip => "",
        }
    }

    /// A single file compressed (not archived) in this format.
    pub fn compresses_alone(self) -> bool {
        !matches!(self, Format::Tar | Format::Zip)
    }
}

/// Python's `os.path.dirname`.
fn dirname(p: &str) -> &str {
    let head = p.rfind('/').map_or("", |i| &p[..=i]);
    if head.bytes().all(|b| b == b'/') {
        head
    } else {
        head.trim_end_matches('/')
    }
}

/// Python's `os.path.join(p, "")`.
fn with_slash(p: &str) -> String {
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// Ansible's `common_path`: the directory part of the character-wise common prefix of the
/// paths' directories, with a trailing `/`.
pub fn arcroot(paths: &[String]) -> String {
    let dirs: Vec<String> = paths.iter().map(|p| with_slash(dirname(p))).collect();
    let Some(first) = dirs.first() else {
        return String::new();
    };
    let mut n = first.len();
    for d in &dirs[1..] {
        n = n.min(
            first
                .bytes()
                .zip(d.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    while !first.is_char_boundary(n) {
        n -= 1;
    }
    with_slash(dirname(&first[..n]))
}

/// Whether `dest`'s name says it is an archive (Ansible's `is_archive`).
pub fn is_archive(dest: &str) -> bool {
    let name = crate::common::basename(dest).to_ascii_lowercase();
    [
        ".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tgz", ".tbz2", ".tzst", ".zip",
    ]
    .iter()
    .any(|e| name.ends_with(e))
}

/// The decisions that need only the expanded paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Sorted, without the excluded ones.
    pub paths: Vec<String>,
    pub root: String,
    pub must_archive: bool,
    pub dest: String,
}

/// Ansible's `Archive.__init__`: `expanded` are the `path`s after glob expansion (`globby`:
/// some had wildcards), `first_is_dir` tells whether the first remaining path is a directory.
pub fn layout(
    expanded: &[String],
    excluded: &[String],
    globby: bool,
    first_is_dir: impl Fn(&str) -> bool,
    a: &super::ArchiveArgs,
) -> Result<Layout, ModuleError> {
    let mut paths: Vec<String> = expanded
        .iter()
        .filter(|p| !excluded.contains(p))
        .cloned()
        .collect();
    paths.sort();
    paths.dedup();
    let Some(first) = paths.first() else {
        return Err(ModuleError::new("Error, no source paths were found"));
    };
    let must_archive = a.force_archive || globby || first_is_dir(first) || paths.len() > 1;
    let dest = match &a.dest {
        Some(d) => d.clone(),
        None if !must_archive => format!("{first}.{}", a.format.as_str()),
        None => {
            return Err(ModuleError::new(
                "Error, must specify \"dest\" when archiving multiple files or trees",
            ))
        }
    };
    Ok(Layout {
        root: arcroot(&paths),
        paths,
        must_archive,
        dest,
    })
}
