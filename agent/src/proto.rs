//! What the controller asks the agent and what it answers, and how both travel: each message is
//! one JSON document behind a 4-byte big-endian length. File content is base64 inside the JSON
//! (messages are capped at [`MAX_FRAME`]; bigger files take the streaming path).

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Bumped whenever a message changes shape: a controller only talks to an agent of its own
/// version (the agent's file name also carries a hash of the binary, so this is a second guard).
pub const PROTOCOL: u32 = 1;

/// Largest message either side accepts.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Checksum algorithms `stat`'s `checksum_algorithm` offers (the `*sum` tool of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Checksum {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Checksum {
    /// The algorithm behind a `*sum` command name (`sha1sum` → Sha1).
    pub fn from_command(cmd: &str) -> Option<Checksum> {
        Some(match cmd {
            "md5sum" => Checksum::Md5,
            "sha1sum" => Checksum::Sha1,
            "sha224sum" => Checksum::Sha224,
            "sha256sum" => Checksum::Sha256,
            "sha384sum" => Checksum::Sha384,
            "sha512sum" => Checksum::Sha512,
            _ => return None,
        })
    }
}

/// What to learn about one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSpec {
    pub path: String,
    /// Report what a final symlink points to instead of the link.
    pub follow: bool,
    pub checksum: Option<Checksum>,
    /// Return the content of a regular file of at most this many bytes.
    pub content_limit: Option<u64>,
    /// Also resolve every symlink in the path (`readlink -f`), even when it does not exist.
    pub real_path: bool,
    /// Ask `file --mime` (stat's `get_mime`), when the host has `file`.
    #[serde(default)]
    pub mime: bool,
}

/// Owner, group and permission bits to set (names or numeric ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<u32>,
}

/// One atomic file write: a temp file beside `dest`, attributes, then a rename.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSpec {
    pub dest: String,
    /// The new content (ignored with `from_remote`).
    #[serde(with = "b64")]
    pub data: Vec<u8>,
    /// Copy this file on the host instead of `data`.
    pub from_remote: Option<String>,
    /// Give a replaced file's owner back to the new one (Ansible's `atomic_move`), as far as
    /// the writer may.
    pub keep_owner: bool,
    /// Applied to the temp file before the rename; `attrs.mode: None` keeps the replaced
    /// file's mode, or `0666 & ~umask` for a new file.
    pub attrs: Attrs,
    /// Create missing parent directories first.
    pub create_parent: bool,
    /// With `create_parent`: the mode of the parent when it had to be made.
    pub parent_mode: Option<u32>,
}

/// A request from the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The first message: the agent answers with its protocol version.
    Hello,
    /// Stat the paths (and, with `host`, report the agent's user and umask).
    Probe { paths: Vec<ProbeSpec>, host: bool },
    /// Write a file; answers the new file's stat.
    Write(WriteSpec),
    /// Change owner/group/mode; answers the path's stat. `no_deref`: act on a symlink itself.
    SetAttrs {
        path: String,
        attrs: Attrs,
        no_deref: bool,
    },
    /// Make a directory and missing parents, `mode` on each one made; answers the stat and
    /// which directories were made (outermost first).
    Mkdir { path: String, attrs: Attrs },
    /// A whole file's bytes, `None` when it does not exist.
    Read { path: String },
    /// `rm -rf`: a directory with everything below it, a file or a link itself; nothing to do
    /// when absent. Answers the path's (absent) stat.
    Remove { path: String },
}

/// Which step of a request failed: modules turn it into Ansible's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailedStep {
    /// Creating parents or the temp file.
    Temp,
    /// Writing the temp file (or reading `from_remote`).
    Write,
    Rename,
    Chown,
    Chgrp,
    Chmod,
    Mkdir,
    Read,
    Remove,
    /// A request this agent does not understand.
    Protocol,
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Hello {
        protocol: u32,
    },
    Probe {
        host: Option<HostInfo>,
        paths: Vec<PathStat>,
    },
    Stat(PathStat),
    Made {
        stat: PathStat,
        made: Vec<String>,
    },
    Content(#[serde(with = "b64_opt")] Option<Vec<u8>>),
    Failed {
        step: FailedStep,
        message: String,
    },
}

/// The agent's (or in-process) user and the umask new files are created with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    pub umask: u32,
}

/// What kind of object a path is, in the words Ansible's results use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathKind {
    Absent,
    File,
    Directory,
    Link,
    Block,
    Char,
    Fifo,
    Socket,
}

impl PathKind {
    /// The kind in a raw `st_mode`.
    pub fn from_raw(raw: u32) -> PathKind {
        match raw & 0o170000 {
            0o140000 => PathKind::Socket,
            0o120000 => PathKind::Link,
            0o100000 => PathKind::File,
            0o060000 => PathKind::Block,
            0o040000 => PathKind::Directory,
            0o020000 => PathKind::Char,
            0o010000 => PathKind::Fifo,
            _ => PathKind::File,
        }
    }
}

/// Everything known about one path. Times are whole seconds, as `stat -c %Y` gives them, so the
/// agent and the sh probe report the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathStat {
    pub path: String,
    pub kind: PathKind,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub atime: f64,
    pub mtime: f64,
    pub ctime: f64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    /// `readlink` of a symlink (as written in the link).
    pub link_target: Option<String>,
    /// Fully resolved path of a symlink's target.
    pub link_source: Option<String>,
    pub readable: bool,
    pub writeable: bool,
    pub executable: bool,
    pub checksum: Option<String>,
    /// The file's bytes when asked and not larger than the limit.
    #[serde(with = "b64_opt")]
    pub content: Option<Vec<u8>>,
    /// `file --mime` output, e.g. `text/plain; charset=us-ascii`.
    pub mime: Option<String>,
    /// The path with every symlink resolved, when asked.
    pub real_path: Option<String>,
}

impl PathStat {
    /// A path that does not exist.
    pub fn absent(path: &str) -> Self {
        PathStat {
            path: path.to_string(),
            kind: PathKind::Absent,
            mode: 0,
            uid: 0,
            gid: 0,
            owner: String::new(),
            group: String::new(),
            size: 0,
            atime: 0.0,
            mtime: 0.0,
            ctime: 0.0,
            inode: 0,
            dev: 0,
            nlink: 0,
            link_target: None,
            link_source: None,
            readable: false,
            writeable: false,
            executable: false,
            checksum: None,
            content: None,
            mime: None,
            real_path: None,
        }
    }

    /// What a path about to be created by the connecting user will look like, before any
    /// requested attributes are applied (used to predict changes in check mode).
    pub fn new_by(path: &str, kind: PathKind, host: &HostInfo) -> Self {
        let base = if kind == PathKind::Directory {
            0o777
        } else {
            0o666
        };
        PathStat {
            kind,
            mode: base & !host.umask,
            uid: host.uid,
            gid: host.gid,
            owner: host.user.clone(),
            group: host.group.clone(),
            ..PathStat::absent(path)
        }
    }

    pub fn exists(&self) -> bool {
        self.kind != PathKind::Absent
    }
}

/// Errors reading or writing a message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("agent connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("agent message of {0} bytes is over the limit")]
    TooBig(usize),
    #[error("bad agent message: {0}")]
    Json(#[from] serde_json::Error),
}

impl Request {
    /// Whether the request certainly cannot fit in one message: known before encoding it, so
    /// a large write is never turned into a larger base64 copy only to be refused.
    pub fn exceeds_frame(&self) -> bool {
        match self {
            // base64 makes 4 bytes of 3; the rest of the message is small.
            Request::Write(w) => w.data.len().div_ceil(3) * 4 + 64 * 1024 > MAX_FRAME,
            _ => false,
        }
    }
}

/// Encode one message with its length prefix.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooBig(body.len()));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decode a message body (without the length prefix).
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(body)?)
}

/// The body length announced by a length prefix.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let n = u32::from_be_bytes(prefix) as usize;
    if n > MAX_FRAME {
        return Err(FrameError::TooBig(n));
    }
    Ok(n)
}

/// Read one message body from a blocking reader; `Ok(None)` at a clean end of input.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; frame_len(prefix)?];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Write one message to a blocking writer and flush it.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::b64::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::b64")] Vec<u8>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_binary_content() {
        let req = Request::Write(WriteSpec {
            dest: "/etc/x".into(),
            data: vec![0, 1, 255, b'\n'],
            create_parent: true,
            ..Default::default()
        });
        let framed = encode(&req).unwrap();
        let body = read_frame(&mut &framed[..]).unwrap().unwrap();
        assert_eq!(decode::<Request>(&body).unwrap(), req);
        let mut st = PathStat::absent("/x");
        st.content = Some(vec![0, 10, 13]);
        let rep = Reply::Probe {
            host: None,
            paths: vec![st, PathStat::absent("/y")],
        };
        let body = serde_json::to_vec(&rep).unwrap();
        assert_eq!(decode::<Reply>(&body).unwrap(), rep);
    }

    #[test]
    fn oversized_and_truncated_frames_are_errors() {
        assert!(frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
        let framed = encode(&Request::Hello).unwrap();
        assert!(read_frame(&mut &framed[..framed.len() - 1]).is_err());
        assert!(read_frame(&mut &b""[..]).unwrap().is_none());
    }
}
