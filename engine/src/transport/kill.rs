//! The shell script that stops every command one SSH connection has running on its host (see
//! [`super::Transport::interrupt`]).
//!
//! sshd serves each connection with one process (`sshd: user@notty`) whose children are the
//! connection's sessions: the persistent shell, the agents, every command on a channel of its
//! own. The script, run on a fresh channel of the same connection, walks up from itself to that
//! process and signals all of its descendants except its own ancestors and itself: TERM, then
//! KILL for what is left after two seconds. Only shell builtins and /proc are used, so it works
//! on any Linux host kplay can reach. A connecting user other than root re-runs it through
//! `sudo -n` when that works, so commands started with `become` are stopped too.

use super::sh_quote;

const BODY: &str = r#"me=$$
tab=
for f in /proc/[0-9]*/stat; do
  IFS= read -r l < "$f" 2>/dev/null || continue
  p=${l%% *}; r=${l##*) }
  set -- $r
  tab="$tab$p $2
"
done
parent() {
  while read -r a b; do
    if [ "$a" = "$1" ]; then echo "$b"; return; fi
  done <<KPLAY_EOF
$tab
KPLAY_EOF
}
chain=" $me "
p=$me
while :; do
  p=$(parent "$p")
  [ -n "$p" ] && [ "$p" -gt 1 ] || exit 0
  IFS= read -r c < "/proc/$p/comm" 2>/dev/null || exit 0
  case $c in sshd*) break ;; esac
  chain="$chain$p "
done
top=$p
set_=" $top "
changed=1
while [ "$changed" = 1 ]; do
  changed=0
  while read -r a b; do
    [ -n "$a" ] || continue
    [ "$a" = "$me" ] && continue
    case "$set_" in *" $a "*) continue ;; esac
    case "$set_" in *" $b "*) set_="$set_$a "; changed=1 ;; esac
  done <<KPLAY_EOF
$tab
KPLAY_EOF
done
victims=
for p in $set_; do
  [ "$p" = "$top" ] && continue
  case "$chain" in *" $p "*) continue ;; esac
  victims="$victims $p"
done
[ -n "$victims" ] || exit 0
kill -TERM $victims 2>/dev/null
i=0
while [ "$i" -lt 20 ]; do
  alive=
  for p in $victims; do
    IFS= read -r l < "/proc/$p/stat" 2>/dev/null || continue
    r=${l##*) }
    case $r in Z*) ;; *) alive="$alive $p" ;; esac
  done
  [ -n "$alive" ] || exit 0
  sleep 0.1 2>/dev/null || sleep 1
  i=$((i + 1))
done
kill -KILL $alive 2>/dev/null
exit 0
"#;

/// The command to run on a new channel of the connection whose commands must stop.
pub fn kill_connection_commands() -> String {
    format!(
        "k={}\nif [ \"$(id -u)\" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then exec sudo -n /bin/sh -c \"$k\"; fi\nexec /bin/sh -c \"$k\"\n",
        sh_quote(BODY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn gone_or_zombie(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')),
        }
    }

    /// A copy of sh named `sshd-…` plays the connection's sshd process: the script must stop
    /// its other children (a command and a subshell's command) and leave it and itself alone.
    #[test]
    fn stops_the_connections_commands_and_spares_sshd() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("sshd-kplaytest");
        std::fs::copy("/bin/sh", &fake).unwrap();
        let pids = dir.path().join("pids");
        let script = format!(
            "sleep 300 & echo $! > {p}; (sleep 301; echo never) & echo $! >> {p}; /bin/sh -c {k}; echo survived",
            p = pids.display(),
            k = sh_quote(&kill_connection_commands())
        );
        let out = Command::new(&fake).arg("-c").arg(&script).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "survived\n");
        let pids = std::fs::read_to_string(&pids).unwrap();
        for pid in pids.split_whitespace() {
            assert!(gone_or_zombie(pid), "process {pid} still runs");
        }
    }
}
