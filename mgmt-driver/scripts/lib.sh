#!/usr/bin/env bash
# Shared helpers for vnf-mgmt's remote scripts. Sourced, never run on its own.
# Every script runs as root (the executor uses sudo with the password on stdin).

info() { printf 'vnf-mgmt: %s\n' "$*"; }
warn() { printf 'vnf-mgmt: warning: %s\n' "$*" >&2; }
fatal() { printf 'vnf-mgmt: error: %s\n' "$*" >&2; exit 1; }

verify_root() {
  [[ "$(id -u)" == 0 ]] || fatal "must run as root (got uid $(id -u))"
}

# pkg_installed NAME: true when the Debian package is installed.
pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_packages NAME...: installs only the missing packages.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && { info "packages present: $*"; return 0; }
  info "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    apt-get update -q || warn "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
      fatal "could not install ${missing[*]}"
  fi
}

# replace_block FILE BEGIN END CONTENT_FILE: replaces the lines between the markers
# (inclusive) with BEGIN, the content, END; appends the block when absent. Other lines
# are untouched. Writes atomically (temp file in the same directory, then rename).
replace_block() {
  local file=$1 begin=$2 end=$3 content=$4 tmp
  touch "$file"
  tmp=$(mktemp "${file}.vnf-mgmt.XXXXXX")
  awk -v b="$begin" -v e="$end" -v cf="$content" '
    function emit(  line) {
      print b
      while ((getline line < cf) > 0) print line
      close(cf)
      print e
    }
    $0 == b { skipping = 1; if (!done) { emit(); done = 1 }; next }
    $0 == e && skipping { skipping = 0; next }
    !skipping { print }
    END { if (!done) emit() }
  ' "$file" >"$tmp"
  chmod --reference="$file" "$tmp" 2>/dev/null || chmod 0644 "$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
  return 0
}

# valid_dns_label S: true for a DNS-1123 label (lower-case, digits, '-', 1-63 chars).
valid_dns_label() {
  [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]
}

# valid_ipv4 S: true for a dotted-quad IPv4 address (each octet 0-255, no leading zeros).
valid_ipv4() {
  local o='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  [[ "$1" =~ ^$o\.$o\.$o\.$o$ ]]
}

# valid_port S: true for a TCP port 1-65535 (no leading zeros).
valid_port() {
  [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535))
}

# iface_of_ip IP: prints the interface holding the IPv4 address IP (from `ip -o addr`).
iface_of_ip() {
  ip -o -4 addr show 2>/dev/null | awk -v ip="$1" '{ split($4, a, "/"); if (a[1] == ip) { print $2; exit } }'
}

# install_if_changed SRC DEST MODE: moves SRC over DEST (mode MODE, owner root) only when
# the content differs; returns 0 when DEST changed, 1 when it was already the same (SRC is
# removed either way). The write is atomic (rename within DEST's directory).
install_if_changed() {
  local src=$1 dest=$2 mode=$3 tmp
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
    rm -f "$src"
    [[ "$(stat -c %a "$dest")" == "${mode#0}" ]] || chmod "$mode" "$dest"
    return 1
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "${dest}.vnf-mgmt.XXXXXX")
  chmod "$mode" "$tmp"
  cat "$src" >"$tmp"
  rm -f "$src"
  mv -f "$tmp" "$dest"
  return 0
}

# systemd_pid1: true when systemd runs as PID 1 (a real VM), false in containers and the
# test lab (there services are started through /etc/init.d with `service`).
systemd_pid1() {
  [[ -d /run/systemd/system ]] && [[ "$(cat /proc/1/comm 2>/dev/null)" == systemd ]]
}

# pid_alive PIDFILE COMM: true when PIDFILE names a live process whose command is COMM.
pid_alive() {
  local pid
  [[ -s "$1" ]] || return 1
  pid=$(head -n 1 "$1" 2>/dev/null | tr -dc '0-9')
  [[ -n "$pid" ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}

# svc_running NAME: true when the service NAME runs (systemd: active; otherwise its
# daemon from /run/NAME.pid is alive).
svc_running() {
  if systemd_pid1; then
    systemctl is-active --quiet "$1"
  else
    pid_alive "/run/$1.pid" "$1"
  fi
}

# svc_reload_or_start NAME: reloads NAME when it runs (its configuration changed),
# starts (and on systemd enables) it otherwise.
svc_reload_or_start() {
  local name=$1
  if svc_running "$name"; then
    if systemd_pid1; then
      systemctl reload-or-restart "$name" || fatal "could not reload $name"
    else
      service "$name" reload >/dev/null || fatal "could not reload $name"
    fi
    info "$name reloaded"
  else
    svc_start "$name"
  fi
}

# svc_start NAME: starts NAME when it does not run (on systemd also enables it at boot);
# a running service is left alone.
svc_start() {
  local name=$1
  if systemd_pid1; then
    systemctl enable --quiet "$name" 2>/dev/null || warn "could not enable $name at boot"
  fi
  if svc_running "$name"; then
    info "$name running"
    return 0
  fi
  if systemd_pid1; then
    systemctl start "$name" || fatal "could not start $name"
  else
    service "$name" start >/dev/null || fatal "could not start $name"
  fi
  local i
  for ((i = 0; i < 50; i++)); do
    svc_running "$name" && { info "$name started"; return 0; }
    sleep 0.2
  done
  fatal "$name did not start"
}

# wait_until SECONDS CMD...: runs CMD every second until it succeeds (0) or SECONDS
# pass (1).
wait_until() {
  local limit=$1 start=$SECONDS
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < limit)) || return 1
    sleep 1
  done
}

# tcp_open HOST PORT: true when a TCP connection to HOST:PORT opens within 2 s.
tcp_open() {
  # The inner script takes host and port as its own arguments (never interpolated).
  # shellcheck disable=SC2016
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# https_answers HOST:PORT: true when an HTTPS request to it gets any HTTP answer within
# 3 s (TLS completes; the status does not matter, the certificate is not checked: this
# only asks whether a server is behind the address, e.g. behind HAProxy).
https_answers() {
  curl -ksS -o /dev/null --max-time 3 "https://$1/version" 2>/dev/null
}

# --- k3s (k3s_server.sh, k3s_agent.sh) ---

# k3s release installed on VMs without k3s (upstream install script, get.k3s.io).
K3S_VERSION_DEFAULT='v1.31.4+k3s1'
K3S_CONFIG=/etc/rancher/k3s/config.yaml
# Without systemd k3s runs as a setsid daemon with this pid file and log file.
K3S_PID_FILE=/run/vnf-mgmt-k3s.pid
K3S_LOG=/var/log/vnf-mgmt-k3s.log

# valid_k3s_token S: true for a k3s token (K10<hash>::server:<secret>, a bare secret or a
# bootstrap-token-like id.secret): printable, no spaces or quotes, 8-512 characters.
valid_k3s_token() {
  [[ "$1" =~ ^[A-Za-z0-9._:+/=@-]{8,512}$ ]]
}

# valid_https_url S: true for https://HOST:PORT (host name, IPv4 or [IPv6]).
valid_https_url() {
  [[ "$1" =~ ^https://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):([0-9]+)$ ]] &&
    valid_port "${BASH_REMATCH[3]}"
}

# k3s_unit ROLE: the systemd unit the installer creates for server / agent.
k3s_unit() {
  if [[ "$1" == server ]]; then echo k3s; else echo k3s-agent; fi
}

# k3s_ensure_installed ROLE: installs k3s (server or agent) only when the command is
# missing, with the upstream install script pinned to a release ($VNF_MGMT_K3S_VERSION
# when set, else K3S_VERSION_DEFAULT), without starting it.
k3s_ensure_installed() {
  local role=$1 version=${VNF_MGMT_K3S_VERSION:-$K3S_VERSION_DEFAULT} installer
  if command -v k3s >/dev/null 2>&1; then
    info "k3s present"
    return 0
  fi
  [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] || fatal "invalid k3s version: $version"
  command -v curl >/dev/null 2>&1 || ensure_packages curl ca-certificates
  installer=$(mktemp)
  curl -sfL https://get.k3s.io -o "$installer" || { rm -f "$installer"; fatal "could not download the k3s install script"; }
  INSTALL_K3S_SKIP_START=true INSTALL_K3S_VERSION="$version" INSTALL_K3S_EXEC="$role" \
    sh "$installer" >/var/log/vnf-mgmt-k3s-install.log 2>&1 || {
    rm -f "$installer"
    fatal "k3s install failed (see /var/log/vnf-mgmt-k3s-install.log)"
  }
  rm -f "$installer"
  command -v k3s >/dev/null 2>&1 || fatal "k3s install left no k3s command"
  info "k3s $version installed ($role)"
}

# k3s_write_config FILE: installs FILE as the k3s configuration (mode 0600, it may hold
# the token); returns 0 when the configuration changed.
k3s_write_config() {
  mkdir -p "$(dirname "$K3S_CONFIG")"
  install_if_changed "$1" "$K3S_CONFIG" 0600
}

# k3s_running ROLE: true when k3s runs (systemd unit active, or the daemon from the pid
# file alive).
k3s_running() {
  local pid
  if systemd_pid1; then
    systemctl is-active --quiet "$(k3s_unit "$1")"
    return
  fi
  [[ -s "$K3S_PID_FILE" ]] || return 1
  pid=$(head -n 1 "$K3S_PID_FILE" | tr -dc '0-9')
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq "(^|/)k3s $1( |$)"
}

# k3s_start ROLE: starts k3s (systemd: enable + start the unit; otherwise a setsid
# daemon, stdin from /dev/null, output to K3S_LOG, that outlives the SSH session).
k3s_start() {
  local role=$1 unit
  if systemd_pid1; then
    unit=$(k3s_unit "$role")
    systemctl enable --quiet "$unit" 2>/dev/null || warn "could not enable $unit at boot"
    systemctl start "$unit" || fatal "could not start $unit"
  else
    command -v setsid >/dev/null 2>&1 || fatal "setsid is missing"
    (umask 077 && touch "$K3S_LOG")
    # Not a process group leader here, so setsid execs k3s in place: $! is k3s's pid.
    setsid k3s "$role" </dev/null >>"$K3S_LOG" 2>&1 &
    local pid=$! i
    echo "$pid" >"$K3S_PID_FILE"
    # Until the child has exec'd, its command line is still this shell's: wait for it
    # (bounded) so that a check right after the start does not see "not running".
    for ((i = 0; i < 100; i++)); do
      k3s_running "$role" && break
      [[ -e "/proc/$pid" ]] || break
      sleep 0.1
    done
  fi
  info "k3s $role started"
}

# k3s_stop ROLE: stops k3s (SIGTERM, bounded wait, then SIGKILL without systemd).
k3s_stop() {
  local role=$1 pid i
  if systemd_pid1; then
    systemctl stop "$(k3s_unit "$role")" || fatal "could not stop k3s"
    return 0
  fi
  k3s_running "$role" || return 0
  pid=$(head -n 1 "$K3S_PID_FILE" | tr -dc '0-9')
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [[ -e "/proc/$pid" ]] || break
    sleep 0.2
  done
  [[ ! -e "/proc/$pid" ]] || kill -9 "$pid" 2>/dev/null || true
  rm -f "$K3S_PID_FILE"
}

# k3s_wait ROLE SECONDS CHECK...: waits until CHECK succeeds while k3s keeps running.
k3s_wait() {
  local role=$1 limit=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! k3s_running "$role"; then
      [[ -s "$K3S_LOG" ]] && warn "last lines of $K3S_LOG:"$'\n'"$(tail -n 5 "$K3S_LOG")"
      fatal "k3s $role stopped (see $K3S_LOG or journalctl -u $(k3s_unit "$role"))"
    fi
    ((SECONDS - start < limit)) || fatal "k3s $role not ready after ${limit}s (see $K3S_LOG or journalctl -u $(k3s_unit "$role"))"
    sleep 1
  done
}

# k3s_read_token: prints the value of the `token=<k3s token>` line on stdin (nothing when
# absent). Called as token=$(k3s_read_token): the token stays inside the script.
k3s_read_token() {
  local line token=''
  while IFS= read -r line; do
    case $line in
      token=*) token=${line#token=} ;;
    esac
  done
  printf '%s' "$token"
}

# --- proxy and private registries (k8s_proxy.sh, k8s_registry.sh) ---

# read_stdin_kv ARRAY: reads `key=value` lines from stdin into the associative array
# named ARRAY (declared by the caller with `declare -A`). Values stay in memory only.
read_stdin_kv() {
  local -n _kv=$1
  local line
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" == *=* ]] || continue
    _kv[${line%%=*}]=${line#*=}
  done
}

# remove_block FILE BEGIN END: removes the lines between the markers (inclusive); returns
# 0 when FILE changed, 1 when it had no such block (or does not exist).
remove_block() {
  local file=$1 begin=$2 end=$3 tmp
  [[ -f "$file" ]] && grep -qxF -- "$begin" "$file" || return 1
  tmp=$(mktemp "${file}.vnf-mgmt.XXXXXX")
  awk -v b="$begin" -v e="$end" '
    $0 == b { skipping = 1; next }
    $0 == e && skipping { skipping = 0; next }
    !skipping { print }
  ' "$file" >"$tmp"
  chmod --reference="$file" "$tmp" 2>/dev/null || chmod 0644 "$tmp"
  mv -f "$tmp" "$file"
}

# valid_no_proxy_entry S: true for an IPv4/IPv6 address or CIDR, a host name, `.domain`,
# `*.domain` (each optionally with :port) or `*`.
valid_no_proxy_entry() {
  [[ "$1" == '*' ]] && return 0
  [[ "$1" =~ ^[0-9a-fA-F.:]+(/[0-9]{1,3})?$ ]] && return 0
  [[ "$1" =~ ^(\*\.|\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$ ]]
}

# valid_proxy_url S: true for http(s)://[user[:password]@]host[:port][/path] without
# whitespace, quotes, backslashes, `$`, backticks or other characters that must be
# percent-encoded (so the URL is safe in apt.conf, systemd and environment files).
valid_proxy_url() {
  local re='^https?://[]A-Za-z0-9._~%!&()*+,;=:@/?#[-]+$'
  [[ "$1" =~ $re ]] && ((${#1} <= 2048))
}

# valid_registry_server S: true for host:port (host name, IPv4 or [IPv6]).
valid_registry_server() {
  [[ "$1" =~ ^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):([0-9]+)$ ]] &&
    valid_port "${BASH_REMATCH[3]}"
}

# update_block FILE BEGIN END CONTENT_FILE: replace_block that leaves FILE (and its
# modification time) alone when the block is already current (replace_block touches
# FILE first); creates FILE (0644) when missing. Returns 0 when FILE changed.
update_block() {
  local file=$1 copy
  [[ -e "$file" ]] || (umask 022 && : >"$file")
  copy=$(mktemp "${file}.vnf-mgmt-copy.XXXXXX")
  cat "$file" >"$copy"
  chmod --reference="$file" "$copy"
  if replace_block "$copy" "$2" "$3" "$4"; then
    mv -f "$copy" "$file"
    return 0
  fi
  rm -f "$copy"
  return 1
}

# --- the request's proxy for every script on a node (written by k8s_proxy.sh) ---

VNF_MGMT_PROXY_ENV=/etc/vnf-mgmt/proxy.env

# load_proxy_env: exports http_proxy, https_proxy, no_proxy (and the upper-case names)
# from VNF_MGMT_PROXY_ENV when it exists, so that the downloads of every script run on a
# node after k8s_proxy.sh (curl in k8s_node.sh and k8s_cni.sh, the k3s installer) go
# through the request's proxy: sudo does not pass the caller's environment on. The file
# is parsed (each value checked), never sourced. Runs when lib.sh is sourced.
load_proxy_env() {
  local line key value
  [[ -r "$VNF_MGMT_PROXY_ENV" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    key=${line%%=*}
    value=${line#*=}
    case $key in
      http_proxy | https_proxy)
        if valid_proxy_url "$value"; then
          export "$key=$value" "${key^^}=$value"
        fi
        ;;
      no_proxy)
        if [[ "$value" =~ ^[A-Za-z0-9.:/*,_-]*$ ]]; then
          export "no_proxy=$value" "NO_PROXY=$value"
        fi
        ;;
    esac
  done <"$VNF_MGMT_PROXY_ENV"
  return 0
}
load_proxy_env
