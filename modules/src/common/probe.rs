//! One round trip that tells a module everything it needs about some paths on the host: type,
//! permissions, owner, times, link target, access for the connecting user, a checksum, and the
//! content when it is small enough to diff. Also the connecting user and the host's umask, so
//! the module can predict what a new file will look like (check mode) without asking again.
//!
//! The reply is line records (`S …`, `L …`, `C …`), with a file's raw bytes after a `D <len>`
//! record, so content is binary-safe without base64.

use super::{agent_call, next_line, run_sh, unexpected_reply};
use kplay_engine::agent::{Checksum, ProbeSpec, Reply, Request};
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;

/// Args of `kp`: path, follow (1/0), checksum command or `-`, content byte limit or `-1`, mime (1/0),
/// real path (1/0: `readlink -f`, printed even for a missing path).
/// The `kp` function itself (see [`PROBE_FN`]); a persistent remote shell defines it once per
/// connection, so scripts sent there need not carry it.
macro_rules! kp_fn {
    () => {
        r#"kp() {
  printf 'P\n'
  if [ "$6" = 1 ]; then printf 'Q %s\n' "$(readlink -f -- "$1" 2>/dev/null)"; fi
  if [ "$2" = 1 ]; then kpo=-L; else kpo=; fi
  if kps=$(stat $kpo -c '%f %u %g %s %X %Y %Z %i %d %h %U %G' -- "$1" 2>/dev/null); then
    printf 'S %s\n' "$kps"
    if [ -L "$1" ]; then printf 'L %s\n' "$(readlink -- "$1")"; printf 'R %s\n' "$(readlink -f -- "$1")"; fi
    kpa=-; [ -r "$1" ] && kpa=${kpa}r; [ -w "$1" ] && kpa=${kpa}w; [ -x "$1" ] && kpa=${kpa}x; printf 'A %s\n' "$kpa"
    if [ "$2" = 1 ] || [ ! -L "$1" ]; then kpf=1; else kpf=0; fi
    if [ "$3" != - ] && [ $kpf = 1 ] && [ -f "$1" ] && [ -r "$1" ]; then kpc=$($3 < "$1" 2>/dev/null) && printf 'C %s\n' "${kpc%% *}"; fi
    if [ "$5" = 1 ] && command -v file >/dev/null 2>&1; then printf 'M %s\n' "$(file -b --mime -- "$1" 2>/dev/null)"; fi
    if [ "$4" -ge 0 ] && [ $kpf = 1 ] && [ -f "$1" ] && [ -r "$1" ]; then
      kpn=$(wc -c < "$1"); if [ "$kpn" -le "$4" ]; then printf 'D %s\n' $kpn; cat -- "$1"; printf '\n'; fi
    fi
  fi
  printf 'E\n'
}
"#
    };
}

/// `kp` without the locale line, for [`crate::shell_preludes`].
pub const PROBE_KP: &str = kp_fn!();

/// The sh function that reports one path, preceded by `LC_ALL=C` (stat's output is parsed);
/// also used after writes to report the result.
pub const PROBE_FN: &str = concat!("LC_ALL=C; export LC_ALL\n", kp_fn!());

/// The connecting user (uid, gid, names) and umask from ONE `id` call, parsed with shell
/// expansions: four `id -x` calls cost four process starts on every probe. A persistent
/// remote shell exports `KPLAY_ID` once per connection, saving even that one.
const HOST_INFO: &str = r#"kpid=${KPLAY_ID:-$(id)}
kpu=${kpid#uid=}; kpu=${kpu%% *}; kpun=$kpu
case $kpu in *'('*) kpun=${kpu#*'('}; kpun=${kpun%')'}; kpu=${kpu%%'('*};; esac
kpg=${kpid#* gid=}; kpg=${kpg%% *}; kpgn=$kpg
case $kpg in *'('*) kpgn=${kpg#*'('}; kpgn=${kpgn%')'}; kpg=${kpg%%'('*};; esac
printf 'H %s %s %s %s %s\n' "$kpu" "$kpg" "$(umask)" "$kpun" "$kpgn"
"#;

/// What to learn about one path.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub path: String,
    /// Report the link's target instead of the link (`stat -L`).
    pub follow: bool,
    /// Checksum command (`sha1sum`, `sha256sum` …) for regular files, `None` for none.
    pub checksum: Option<&'static str>,
    /// Return the content of a regular file up to this many bytes.
    pub content_limit: Option<u64>,
    /// Ask `file --mime` (stat's `get_mime`).
    pub mime: bool,
    /// Resolve every symlink in the path (`readlink -f`), even when it does not exist.
    pub real_path: bool,
}

impl ProbeRequest {
    /// Type, attributes and SHA-1 of `path`, without following a final symlink.
    pub fn new(path: &str) -> Self {
        ProbeRequest {
            path: path.to_string(),
            follow: false,
            checksum: Some("sha1sum"),
            content_limit: None,
            mime: false,
            real_path: false,
        }
    }
    pub fn follow(mut self, yes: bool) -> Self {
        self.follow = yes;
        self
    }
    pub fn content_up_to(mut self, limit: Option<u64>) -> Self {
        self.content_limit = limit;
        self
    }
    pub fn checksum(mut self, cmd: Option<&'static str>) -> Self {
        self.checksum = cmd;
        self
    }
    pub fn mime(mut self, yes: bool) -> Self {
        self.mime = yes;
        self
    }
    pub fn real_path(mut self, yes: bool) -> Self {
        self.real_path = yes;
        self
    }

    /// The sh call of [`PROBE_FN`] for this request.
    pub fn shell_call(&self) -> String {
        format!(
            "kp {} {} {} {} {} {}",
            sh_quote(&self.path),
            u8::from(self.follow),
            self.checksum.unwrap_or("-"),
            self.content_limit
                .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
                .unwrap_or(-1),
            u8::from(self.mime),
            u8::from(self.real_path)
        )
    }
}

pub use kplay_engine::agent::{HostInfo, PathKind, PathStat};

/// The result of one probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub host: HostInfo,
    pub paths: Vec<PathStat>,
}

/// Errors reading a probe reply (a host whose `stat`/`id` behave unexpectedly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("unexpected reply from the host while inspecting {0}: {1}")]
    Malformed(String, String),
}

/// Run one probe for `reqs` (one round trip). Paths come back in request order.
pub async fn probe(ctx: &ModuleContext<'_>, reqs: &[ProbeRequest]) -> Result<Probe, ModuleError> {
    if let Some(p) = probe_by_agent(ctx, reqs).await? {
        return Ok(p);
    }
    let mut script = String::from(PROBE_FN);
    script.push_str(HOST_INFO);
    for r in reqs {
        script.push_str(&r.shell_call());
        script.push('\n');
    }
    let out = run_sh(ctx, script, None).await?;
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    let (host, stats) = parse_reply(&out.stdout, &paths)
        .map_err(|e| ModuleError::new(format!("{e}; stderr: {}", out.stderr_str().trim())))?;
    let host = host.ok_or_else(|| {
        ModuleError::new(format!(
            "could not inspect the host: {}",
            out.stderr_str().trim()
        ))
    })?;
    Ok(Probe { host, paths: stats })
}

/// The probe through the agent; `None` when there is none (or an unknown checksum command).
async fn probe_by_agent(
    ctx: &ModuleContext<'_>,
    reqs: &[ProbeRequest],
) -> Result<Option<Probe>, ModuleError> {
    let mut paths = Vec::with_capacity(reqs.len());
    for r in reqs {
        let checksum = match r.checksum {
            Some(cmd) => match Checksum::from_command(cmd) {
                Some(c) => Some(c),
                None => return Ok(None),
            },
            None => None,
        };
        paths.push(ProbeSpec {
            path: r.path.clone(),
            follow: r.follow,
            checksum,
            content_limit: r.content_limit,
            real_path: r.real_path,
            mime: r.mime,
        });
    }
    let req = Request::Probe { paths, host: true };
    match agent_call(ctx, &req).await? {
        None => Ok(None),
        Some(Reply::Probe {
            host: Some(host),
            paths,
        }) if paths.len() == reqs.len() => Ok(Some(Probe { host, paths })),
        Some(other) => Err(unexpected_reply("a probe", &other)),
    }
}

/// Parse the records printed by [`PROBE_FN`] (`H` line optional). `paths` names the `P`…`E`
/// blocks in order; extra blocks are an error, missing ones too.
pub fn parse_reply(
    out: &[u8],
    paths: &[&str],
) -> Result<(Option<HostInfo>, Vec<PathStat>), ProbeError> {
    let mut host = None;
    let mut stats: Vec<PathStat> = Vec::new();
    let mut cur: Option<PathStat> = None;
    let mut pos = 0;
    let bad = |what: &str, line: &str| ProbeError::Malformed(what.to_string(), line.to_string());
    while let Some(line) = next_line(out, &mut pos) {
        let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let path_name = paths.get(stats.len()).copied().unwrap_or("?");
        match tag {
            "H" => host = Some(parse_host(rest).ok_or_else(|| bad("the user", &line))?),
            "P" => cur = Some(PathStat::absent(path_name)),
            "E" => stats.push(cur.take().ok_or_else(|| bad(path_name, &line))?),
            "S" => {
                let st = cur.as_mut().ok_or_else(|| bad(path_name, &line))?;
                parse_stat_line(st, rest).ok_or_else(|| bad(path_name, &line))?;
            }
            "L" | "R" | "Q" | "A" | "C" | "M" => {
                let st = cur.as_mut().ok_or_else(|| bad(path_name, &line))?;
                match tag {
                    "L" => st.link_target = Some(rest.to_string()),
                    "R" => st.link_source = Some(rest.to_string()),
                    "Q" => st.real_path = Some(rest.to_string()).filter(|r| !r.is_empty()),
                    "A" => {
                        st.readable = rest.contains('r');
                        st.writeable = rest.contains('w');
                        st.executable = rest.contains('x');
                    }
                    "C" => st.checksum = Some(rest.trim().to_string()),
                    _ => st.mime = Some(rest.trim().to_string()),
                }
            }
            "D" => {
                let st = cur.as_mut().ok_or_else(|| bad(path_name, &line))?;
                let n: usize = rest.trim().parse().map_err(|_| bad(path_name, &line))?;
                let data = out
                    .get(pos..pos + n)
                    .ok_or_else(|| bad(path_name, "truncated content"))?;
                st.content = Some(data.to_vec());
                pos += n + 1;
            }
            "" => {}
            _ => return Err(bad(path_name, &line)),
        }
    }
    if stats.len() != paths.len() {
        return Err(ProbeError::Malformed(
            paths.join(", "),
            format!("{} of {} paths reported", stats.len(), paths.len()),
        ));
    }
    Ok((host, stats))
}

fn parse_host(rest: &str) -> Option<HostInfo> {
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(HostInfo {
        uid: f.first()?.parse().ok()?,
        gid: f.get(1)?.parse().ok()?,
        umask: u32::from_str_radix(f.get(2)?, 8).ok()?,
        user: f.get(3).unwrap_or(&"").to_string(),
        group: f.get(4).unwrap_or(&"").to_string(),
    })
}

/// `%f %u %g %s %X %Y %Z %i %d %h %U %G` into `st`.
fn parse_stat_line(st: &mut PathStat, rest: &str) -> Option<()> {
    let f: Vec<&str> = rest.split(' ').collect();
    if f.len() < 12 {
        return None;
    }
    let raw = u32::from_str_radix(f[0], 16).ok()?;
    st.kind = PathKind::from_raw(raw);
    st.mode = raw & 0o7777;
    st.uid = f[1].parse().ok()?;
    st.gid = f[2].parse().ok()?;
    st.size = f[3].parse().ok()?;
    st.atime = f[4].parse().ok()?;
    st.mtime = f[5].parse().ok()?;
    st.ctime = f[6].parse().ok()?;
    st.inode = f[7].parse().ok()?;
    st.dev = f[8].parse().ok()?;
    st.nlink = f[9].parse().ok()?;
    st.owner = f[10].to_string();
    st.group = f[11..].join(" ");
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, TestEnv};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parse_reply_reads_binary_content_with_newlines() {
        let mut out = b"H 1000 1000 0022 me us\nP\nS 81a4 1000 1000 3 1 2 3 4 5 1 me us\nA -rw\nC abc\nD 3\n\x00\n\x01\nE\n".to_vec();
        out.extend_from_slice(b"P\nE\n");
        let (host, stats) = parse_reply(&out, &["/a", "/b"]).unwrap();
        let host = host.unwrap();
        assert_eq!(
            (host.uid, host.umask, host.user.as_str()),
            (1000, 0o022, "me")
        );
        assert_eq!(stats[0].kind, PathKind::File);
        assert_eq!(stats[0].mode, 0o644);
        assert_eq!(stats[0].content.as_deref(), Some(&b"\x00\n\x01"[..]));
        assert!(stats[0].readable && stats[0].writeable && !stats[0].executable);
        assert_eq!(stats[1].kind, PathKind::Absent);
    }

    #[test]
    fn parse_reply_rejects_missing_blocks() {
        assert!(parse_reply(b"P\nE\n", &["/a", "/b"]).is_err());
    }

    #[tokio::test]
    async fn probe_reports_file_dir_link_and_absent_in_one_call() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"hello\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        let env = TestEnv::new(d.path());
        let c = ctx(&env, false, false);
        let p = |n: &str| d.path().join(n).to_string_lossy().into_owned();
        let reqs = [
            ProbeRequest::new(&p("f")).content_up_to(Some(100)),
            ProbeRequest::new(&p("l")),
            ProbeRequest::new(&p("l")).follow(true),
            ProbeRequest::new(&p("missing")),
            ProbeRequest::new(&p("")),
        ];
        let r = probe(&c, &reqs).await.unwrap();
        let f = &r.paths[0];
        assert_eq!((f.kind, f.mode, f.size), (PathKind::File, 0o640, 6));
        assert_eq!(
            f.checksum.as_deref(),
            Some("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        assert_eq!(f.content.as_deref(), Some(&b"hello\n"[..]));
        assert_eq!(r.paths[1].kind, PathKind::Link);
        assert_eq!(r.paths[1].link_target.as_deref(), Some("f"));
        assert_eq!(r.paths[2].kind, PathKind::File);
        assert_eq!(r.paths[3].kind, PathKind::Absent);
        assert_eq!(r.paths[4].kind, PathKind::Directory);
        assert_eq!(r.host.uid, unsafe_free_uid());
    }

    fn unsafe_free_uid() -> u32 {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::metadata(d.path()).unwrap().uid()
    }
}
