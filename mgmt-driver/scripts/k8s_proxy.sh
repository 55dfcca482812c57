#!/usr/bin/env bash
# Applies the request's proxy to the package manager, the container runtime and the
# kubelet of a Kubernetes node.
#
# Usage: k8s_proxy.sh RUNTIME NO_PROXY_ENTRY...
#   RUNTIME         kubeadm | k3s | k3s-agent (which files: systemd drop-ins for
#                   containerd and kubelet, or k3s's /etc/default/k3s[-agent])
#   NO_PROXY_ENTRY  addresses, CIDRs (kept as CIDRs) and domains that bypass the proxy
# Stdin: `http_proxy=URL` and/or `https_proxy=URL` lines. The URLs may carry
# credentials: they never appear in argv or output, and every file holding them is 0600.
#
# Managed files (each written only when its content changes):
#   /etc/apt/apt.conf.d/95vnf-mgmt-proxy                           (apt)
#   /etc/vnf-mgmt/proxy.env     (the later scripts' curl etc.: lib.sh's load_proxy_env)
#   kubeadm: /etc/systemd/system/containerd.service.d/90-vnf-mgmt-proxy.conf
#            /etc/systemd/system/kubelet.service.d/90-vnf-mgmt-proxy.conf
#   k3s:     a marked block in /etc/default/k3s or /etc/default/k3s-agent (the units
#            read EnvironmentFile=-/etc/default/%N)
# When a file changed and systemd is PID 1: daemon-reload, then running containerd,
# kubelet or k3s units are restarted (try-restart); otherwise nothing is restarted.
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

APT_FILE=/etc/apt/apt.conf.d/95vnf-mgmt-proxy
DROPIN_NAME=90-vnf-mgmt-proxy.conf
ENV_BEGIN='# BEGIN vnf-mgmt proxy'
ENV_END='# END vnf-mgmt proxy'

# systemd_escape S: S with `%` doubled (systemd specifiers in unit files).
systemd_escape() {
  printf '%s' "${1//%/%%}"
}

# env_lines PREFIX HTTP HTTPS NO_PROXY: upper- and lower-case variables, one per line,
# each value double-quoted (PREFIX is `Environment=` for unit files, empty for env
# files; unit-file values are %-escaped by the caller).
env_lines() {
  local prefix=$1 http=$2 https=$3 no=$4 name
  for name in HTTP_PROXY http_proxy; do
    [[ -n "$http" ]] && printf '%s"%s=%s"\n' "$prefix" "$name" "$http"
  done
  for name in HTTPS_PROXY https_proxy; do
    [[ -n "$https" ]] && printf '%s"%s=%s"\n' "$prefix" "$name" "$https"
  done
  for name in NO_PROXY no_proxy; do
    printf '%s"%s=%s"\n' "$prefix" "$name" "$no"
  done
}

# write_managed FILE MODE: installs stdin as FILE (mode MODE) when it differs; returns
# 0 when FILE changed.
write_managed() {
  local file=$1 mode=$2 tmp
  tmp=$(umask 077 && mktemp)
  cat >"$tmp"
  install_if_changed "$tmp" "$file" "$mode"
}

main() {
  (($# >= 1)) || fatal "usage: k8s_proxy.sh kubeadm|k3s|k3s-agent NO_PROXY_ENTRY..."
  local runtime=$1 entry no_proxy='' changed=0 units=() unit
  shift
  [[ "$runtime" =~ ^(kubeadm|k3s|k3s-agent)$ ]] || fatal "invalid runtime: $runtime"
  for entry in "$@"; do
    valid_no_proxy_entry "$entry" || fatal "invalid no_proxy entry: $entry"
    no_proxy+=${no_proxy:+,}$entry
  done
  declare -A kv=()
  read_stdin_kv kv
  local http=${kv[http_proxy]:-} https=${kv[https_proxy]:-}
  # The URLs are never echoed, valid or not.
  [[ -z "$http" ]] || valid_proxy_url "$http" || fatal "invalid http_proxy on stdin (not shown)"
  [[ -z "$https" ]] || valid_proxy_url "$https" || fatal "invalid https_proxy on stdin (not shown)"
  [[ -n "$http$https" ]] || fatal "no http_proxy or https_proxy on stdin"
  verify_root

  # apt: Acquire::http(s)::Proxy.
  if {
    echo '// Managed by vnf-mgmt (k8s_proxy.sh): the request'"'"'s proxy.'
    [[ -z "$http" ]] || printf 'Acquire::http::Proxy "%s";\n' "$http"
    [[ -z "$https" ]] || printf 'Acquire::https::Proxy "%s";\n' "$https"
  } | write_managed "$APT_FILE" 0600; then
    info "apt proxy written ($APT_FILE)"
  else
    info "apt proxy up to date"
  fi

  # The scripts that run after this one on the node (lib.sh's load_proxy_env).
  if {
    [[ -z "$http" ]] || printf 'http_proxy=%s\n' "$http"
    [[ -z "$https" ]] || printf 'https_proxy=%s\n' "$https"
    printf 'no_proxy=%s\n' "$no_proxy"
  } | write_managed "$VNF_MGMT_PROXY_ENV" 0600; then
    info "proxy environment of the scripts written ($VNF_MGMT_PROXY_ENV)"
  else
    info "proxy environment of the scripts up to date"
  fi

  if [[ "$runtime" == kubeadm ]]; then
    for unit in containerd kubelet; do
      if {
        echo '# Managed by vnf-mgmt (k8s_proxy.sh): the request'"'"'s proxy.'
        echo '[Service]'
        env_lines 'Environment=' "$(systemd_escape "$http")" "$(systemd_escape "$https")" \
          "$(systemd_escape "$no_proxy")"
      } | write_managed "/etc/systemd/system/$unit.service.d/$DROPIN_NAME" 0600; then
        info "$unit proxy drop-in written"
        changed=1
        units+=("$unit")
      else
        info "$unit proxy drop-in up to date"
      fi
    done
  else
    local file=/etc/default/$runtime content
    content=$(umask 077 && mktemp)
    env_lines '' "$http" "$https" "$no_proxy" >"$content"
    # The file may hold other settings: only the marked block is ours. 0600 before the
    # block lands in it (update_block keeps the file's mode).
    [[ -e "$file" ]] || (umask 077 && : >"$file")
    [[ "$(stat -c %a "$file")" == 600 ]] || chmod 0600 "$file"
    if update_block "$file" "$ENV_BEGIN" "$ENV_END" "$content"; then
      info "$runtime proxy environment written ($file)"
      changed=1
      units+=("$runtime")
    else
      info "$runtime proxy environment up to date"
    fi
    rm -f "$content"
  fi

  if ((changed)); then
    if systemd_pid1; then
      systemctl daemon-reload || fatal "systemctl daemon-reload failed"
      for unit in "${units[@]}"; do
        systemctl try-restart "$unit" || fatal "could not restart $unit"
      done
      info "systemd reloaded; running ${units[*]} restarted"
    else
      info "no systemd: ${units[*]} not restarted (the settings apply at their next start)"
    fi
  fi
  info "proxy applied (${#} no_proxy entries)"
}

main "$@"
