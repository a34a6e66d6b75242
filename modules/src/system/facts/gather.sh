# kplay fact gathering: one POSIX sh script, run in one round trip, no Python on the host.
# The controller prepends KP_HW/KP_NET/KP_VIRT (1 or 0) to pick the expensive parts, and parses
# the sections this prints ("@@KPLAY_FACTS@@ <name>" lines, then the section's raw text).
sec() { printf '\n@@KPLAY_FACTS@@ %s\n' "$1"; }
kv() { printf '%s=%s\n' "$1" "$2"; }
catf() { [ -r "$1" ] && cat "$1" 2>/dev/null; }
has() { command -v "$1" >/dev/null 2>&1; }
# attrs TAG DIR NAME FILE...: each readable DIR/FILE's first line, as `TAG NAME FILE line`.
attrs() {
  t=$1 a=$2 an=$3; shift 3
  for f in "$@"; do
    [ -r "$a/$f" ] && { IFS= read -r v < "$a/$f"; } 2>/dev/null && printf '%s\t%s\t%s\t%s\n' "$t" "$an" "$f" "$v"
  done
}
# holders DIR NAME: the device-mapper devices built on DIR, as `holder NAME dm-N dm-name`.
holders() {
  for h in "$1"/holders/dm-*; do
    [ -e "$h" ] || continue; v=; [ -r "$h/dm/name" ] && { IFS= read -r v < "$h/dm/name"; } 2>/dev/null
    printf 'holder\t%s\t%s\t%s\n' "$2" "${h##*/}" "$v"
  done
}

if [ "${KP_MIN:-1}" = 1 ]; then
sec uname
kv system "$(uname -s 2>/dev/null)"
kv kernel "$(uname -r 2>/dev/null)"
kv kernel_version "$(uname -v 2>/dev/null)"
kv machine "$(uname -m 2>/dev/null)"
kv nodename "$(uname -n 2>/dev/null)"
kv fqdn "$(hostname -f 2>/dev/null)"
kv long_bit "$(getconf LONG_BIT 2>/dev/null)"
# /etc/machine-id first (systemd's): ansible-core reads D-Bus's copy first, which goes stale on
# cloned hosts (the lab's) and would make every clone look like one machine.
kv machine_id "$(catf /etc/machine-id || catf /var/lib/dbus/machine-id)"
sec os_release
catf /etc/os-release || catf /usr/lib/os-release
sec debian_version
catf /etc/debian_version
sec redhat_release
catf /etc/redhat-release
sec alpine_release
catf /etc/alpine-release
sec user
kv user_id "$(id -un 2>/dev/null)"
kv uid "$(id -u 2>/dev/null)"
kv gid "$(id -g 2>/dev/null)"
kv ruid "$(id -ru 2>/dev/null)"
kv rgid "$(id -rg 2>/dev/null)"
kv passwd "$( (getent passwd "$(id -u)" || grep "^$(id -un):" /etc/passwd) 2>/dev/null | head -n 1)"
sec environ
cat /proc/self/environ 2>/dev/null
sec env_lines
[ -r /proc/self/environ ] || env
sec date
LC_ALL=C date '+%Y|%m|%d|%H|%M|%S|%s|%Z|%z|%A|%w|%W|%N'
sec resolv
catf /etc/resolv.conf
sec init
kv comm "$(catf /proc/1/comm)"
[ -d /run/systemd/system ] || [ -d /dev/.run/systemd ] || [ -d /dev/.systemd ] && kv systemd_dirs 1
has systemctl && kv systemctl 1
[ -x /sbin/openrc ] && kv openrc 1
[ -d /etc/init.d ] && kv initd 1
sec misc
kv cmdline "$(catf /proc/cmdline)"
kv fips "$(catf /proc/sys/crypto/fips_enabled)"
[ -d /sys/kernel/security/apparmor ] && kv apparmor 1
[ -d /sys/fs/selinux ] && kv selinux "$(catf /sys/fs/selinux/enforce)"
kv root_ino "$(stat -c %i / 2>/dev/null)"
kv proc_root_ino "$( { stat -L -c %i /proc/1/root; } 2>/dev/null)"
sec pkg
for p in /usr/bin/rpm-ostree /usr/bin/yum /usr/bin/dnf /usr/bin/dnf5 /usr/bin/apt-get /usr/bin/zypper /usr/bin/pacman /sbin/apk /usr/bin/emerge /usr/bin/xbps-install /usr/bin/swupd; do
  [ -e "$p" ] && echo "$p"
done
sec sshkeys
for f in /etc/ssh/ssh_host_*_key.pub; do
  [ -r "$f" ] && { IFS= read -r l < "$f"; } 2>/dev/null && printf '%s %s\n' "${f##*/}" "$l"
done
sec systemd
has systemctl && systemctl --version 2>/dev/null
sec lsb_release
has lsb_release && lsb_release -a 2>/dev/null
sec lsb_file
catf /etc/lsb-release
sec caps
has capsh && capsh --print 2>/dev/null
sec python
for p in python3.13 python3.12 python3.11 python3.10 python3.9 python3.8 /usr/bin/python3 python3; do
  x=$(command -v "$p" 2>/dev/null) && { kv exe "$x"; kv version "$("$x" -V 2>&1)"; break; }
done
sec localfacts
if [ -d "$KP_FACT_PATH" ]; then
  echo '@@KPLAY_LOCAL@@ .'
  for f in "$KP_FACT_PATH"/*.fact; do
    [ -f "$f" ] || continue
    n=${f##*/}; printf '\n@@KPLAY_LOCAL@@ %s\n' "${n%.fact}"
    if [ -x "$f" ]; then "$f" 2>/dev/null; else cat "$f" 2>/dev/null; fi
  done
fi
sec python_selinux
for f in /lib/*/libselinux.so.1 /usr/lib/*/libselinux.so.1 /lib64/libselinux.so.1 /usr/lib64/libselinux.so.1 /lib/libselinux.so.1 /usr/lib/libselinux.so.1; do
  [ -e "$f" ] && { kv libselinux 1; break; }
done
fi

if [ "${KP_HW:-0}" = 1 ]; then
sec meminfo
catf /proc/meminfo
sec cpuinfo
catf /proc/cpuinfo | grep -E '^(processor|vendor_id|model name|physical id|cpu cores|siblings|core id|Processor|cpu model|CPU part|Hardware)[[:space:]]*:'
sec nproc
nproc 2>/dev/null
sec uptime
catf /proc/uptime
sec loadavg
catf /proc/loadavg
sec dmi
for f in product_uuid product_name product_serial product_version sys_vendor bios_date bios_vendor bios_version \
  board_asset_tag board_name board_serial board_vendor board_version chassis_asset_tag chassis_serial chassis_vendor chassis_version; do
  v=$(cat "/sys/class/dmi/id/$f" 2>/dev/null) || v=NA
  kv "$f" "$v"
done
sec cpuflags
grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null
sec chassis
catf /sys/devices/virtual/dmi/id/chassis_type
sec blockdev
LSPCI=; has lspci && LSPCI=1
for d in /sys/block/*; do
  [ -e "$d" ] || continue
  n=${d##*/}
  if [ -L "$d" ]; then v=1; else v=0; for e in "$d"/*device*; do [ -e "$e" ] && v=2; done; fi
  lp=; [ -n "$LSPCI" ] && lp=$(readlink "$d")
  printf 'dev\t%s\t%s\t%s\n' "$n" "$v" "$lp"
  attrs f "$d" "$n" device/vendor device/model device/sas_address device/sas_device_handle device/serial removable \
    queue/discard_max_hw_bytes queue/discard_granularity queue/rotational queue/scheduler queue/logical_block_size \
    queue/hw_sector_size size
  holders "$d" "$n"
  for p in "$d/$n"*; do
    [ -d "$p" ] || continue
    pn=${p##*/}
    printf 'part\t%s\t%s\n' "$n" "$pn"
    attrs pf "$p" "$pn" start size queue/logical_block_size queue/hw_sector_size
    holders "$p" "$pn"
  done
done
for s in /sys/block/*/slaves/*; do [ -e "$s" ] && printf 'slave\t%s\n' "$s"; done
sec disklinks
for k in id uuid label; do
  for l in /dev/disk/by-$k/*; do
    [ -L "$l" ] && printf '%s\t%s\t%s\n' "$k" "${l##*/}" "$(readlink "$l")"
  done
done
sec lspci
has lspci && lspci -D 2>/dev/null
sec lvm
if has vgs && [ "$(id -u)" = 0 ]; then
  o='--noheadings --nosuffix --units g --separator ,'
  echo '@vgs'; vgs $o 2>/dev/null
  echo '@lvs'; has lvs && lvs $o 2>/dev/null
  echo '@pvs'; has pvs && pvs $o 2>/dev/null
fi
sec mounts
if has timeout; then T='timeout 5'; else T=; fi
while read -r dev mp fs opts dump pass; do
  case $dev in /*|*:/*) ;; *) continue ;; esac
  m=$(printf '%b' "$mp")
  st=$($T stat -f -c '%s %S %b %f %a %c %d' "$m" 2>/dev/null) || st=
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dev" "$m" "$fs" "$opts" "$dump" "$pass" "$st"
done < /proc/mounts
fi

if [ "${KP_NET:-0}" = 1 ]; then
sec netdev
for d in /sys/class/net/*; do
  [ -e "$d" ] || continue
  kind=
  [ -d "$d/bridge" ] && kind=bridge
  [ -d "$d/bonding" ] && kind=bonding
  sp=; { IFS= read -r sp < "$d/speed"; } 2>/dev/null
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${d##*/}" "$(catf "$d/type")" "$(catf "$d/address")" "$(catf "$d/mtu")" "$(catf "$d/flags")" "$kind" "$sp"
done
sec addr4
ip -o -4 addr show 2>/dev/null
sec addr6
ip -o -6 addr show 2>/dev/null
sec route4
ip -4 route get 8.8.8.8 2>/dev/null
sec route6
ip -6 route get 2404:6800:400a:800::1012 2>/dev/null
sec local4
ip -4 route show table local 2>/dev/null
sec local6
ip -6 route show table local 2>/dev/null
sec fcwwn
for f in /sys/class/fc_host/*/port_name; do [ -r "$f" ] && { IFS= read -r v < "$f"; } 2>/dev/null && echo "$v"; done
sec iscsi
catf /etc/iscsi/initiatorname.iscsi
sec nvme
catf /etc/nvme/hostnqn
fi

if [ "${KP_VIRT:-0}" = 1 ]; then
sec virt
kv systemd_container "$(catf /run/systemd/container)"
has systemd-detect-virt && kv detect "$(systemd-detect-virt 2>/dev/null)"
[ -f /.dockerenv ] && kv dockerenv 1
[ -f /run/.containerenv ] && kv containerenv 1
kv container "$( { tr '\000' '\n' < /proc/1/environ; } 2>/dev/null | sed -n 's/^container=//p')"
kv cgroup "$(catf /proc/1/cgroup | head -n 20 | tr '\n' ' ')"
grep -q '^flags.* hypervisor' /proc/cpuinfo 2>/dev/null && kv hypervisor 1
kv sys_vendor "$(catf /sys/class/dmi/id/sys_vendor)"
kv product_name "$(catf /sys/class/dmi/id/product_name)"
[ -e /dev/kvm ] && kv dev_kvm 1
fi
sec end
