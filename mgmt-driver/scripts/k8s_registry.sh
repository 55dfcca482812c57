#!/usr/bin/env bash
# Configures the container runtime of a Kubernetes node for the request's private
# registries (all of them in one run).
#
# Usage: k8s_registry.sh RUNTIME REGISTRY... [hosts:IP=NAME[,NAME...]...]
#   RUNTIME   kubeadm (containerd) | k3s | k3s-agent
#   REGISTRY  INDEX=http://HOST:PORT or INDEX=https://HOST:PORT
#   hosts:    /etc/hosts entries of the registries (a marked block of their own)
# Stdin (per INDEX, each optional): `username_INDEX=`, `password_INDEX=` (together) and
# `ca_INDEX=` (the CA certificate, base64 PEM, HTTPS only). Credentials never appear in
# argv or output; every file holding them is 0600.
#
# containerd (kubeadm):
#   /etc/containerd/certs.d/HOST:PORT/hosts.toml (+ ca.crt)    one directory per registry
#   /etc/containerd/config.toml: the CRI registry's config_path set to
#     /etc/containerd/certs.d, and the credentials as registry.configs."HOST:PORT".auth
#     tables in a marked block (file 0600 while it holds credentials). The main file,
#     not an `imports` drop-in: containerd replaces a whole plugin table from an import
#     (containerd#5837), which would drop the CRI settings of the main file.
#   containerd is restarted (systemd only) when config.toml changed; hosts.toml changes
#   apply without a restart.
# k3s: /etc/rancher/k3s/registries.yaml (0600; mirrors + configs with auth and
#   tls.ca_file), read by k3s at start: a running k3s unit is restarted (systemd only).
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

CERTS_DIR=/etc/containerd/certs.d
CONTAINERD_CONFIG=/etc/containerd/config.toml
K3S_REGISTRIES=/etc/rancher/k3s/registries.yaml
K3S_CERTS_DIR=/etc/rancher/k3s/vnf-mgmt-registry-certs
MANAGED_MARK=.vnf-mgmt-managed
AUTH_BEGIN='# BEGIN vnf-mgmt registry credentials'
AUTH_END='# END vnf-mgmt registry credentials'
HOSTS_BEGIN='# BEGIN vnf-mgmt registries'
HOSTS_END='# END vnf-mgmt registries'

declare -a IDX=() SCHEME=() SERVER=() HOSTS=()
declare -A KV=()

# toml_string S: S as a TOML (and YAML) basic string: double-quoted, `\` and `"` escaped.
toml_string() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# write_file FILE MODE: installs stdin as FILE (mode MODE) when it differs; returns 0 when
# FILE changed.
write_file() {
  local tmp
  tmp=$(umask 077 && mktemp)
  cat >"$tmp"
  install_if_changed "$tmp" "$1" "$2"
}

# ca_of INDEX: writes the CA of registry INDEX (from stdin) to stdout; fails when absent.
ca_of() {
  local b64=${KV[ca_$1]:-}
  [[ -n "$b64" ]] || return 1
  [[ "$b64" =~ ^[A-Za-z0-9+/=]+$ ]] || fatal "ca_$1 on stdin is not base64"
  printf '%s' "$b64" | base64 -d 2>/dev/null || fatal "ca_$1 on stdin is not base64"
}

# write_ca INDEX DEST: installs the CA of INDEX as DEST (0644) when it changed; checks it
# is a PEM certificate first.
write_ca() {
  local tmp
  tmp=$(umask 077 && mktemp)
  ca_of "$1" >"$tmp"
  if ! grep -q -- '-----BEGIN CERTIFICATE-----' "$tmp"; then
    rm -f "$tmp"
    fatal "ca_$1 on stdin is no PEM certificate"
  fi
  if command -v openssl >/dev/null 2>&1 && ! openssl x509 -noout -in "$tmp" 2>/dev/null; then
    rm -f "$tmp"
    fatal "ca_$1 on stdin is no valid X.509 certificate"
  fi
  install_if_changed "$tmp" "$2" 0644
}

has_auth() {
  [[ -n "${KV[username_$1]:-}" && -n "${KV[password_$1]:-}" ]]
}

# --- containerd ---

# cri_plugin: the CRI image plugin's table name for the config version (2.x: version 3).
cri_plugin() {
  if [[ -f "$CONTAINERD_CONFIG" ]] &&
    grep -Eq '^[[:space:]]*version[[:space:]]*=[[:space:]]*3([[:space:]]|$)' "$CONTAINERD_CONFIG"; then
    echo 'io.containerd.cri.v1.images'
  else
    echo 'io.containerd.grpc.v1.cri'
  fi
}

# hosts_toml INDEX: the hosts.toml of registry INDEX.
hosts_toml() {
  local i=$1 url="${SCHEME[$1]}://${SERVER[$1]}"
  echo '# Managed by vnf-mgmt (k8s_registry.sh).'
  printf 'server = %s\n\n' "$(toml_string "$url")"
  printf '[host.%s]\n' "$(toml_string "$url")"
  echo '  capabilities = ["pull", "resolve"]'
  if [[ "${SCHEME[$i]}" == https ]] && [[ -n "${KV[ca_$i]:-}" ]]; then
    printf '  ca = %s\n' "$(toml_string "$CERTS_DIR/${SERVER[$i]}/ca.crt")"
  fi
}

# set_config_path PLUGIN FILE: prints FILE with config_path in the plugin's registry table
# (replaced or inserted); exit 3 from awk when the table is absent.
set_config_path() {
  local plugin=$1 file=$2
  awk -v plugin="$plugin" -v line="  config_path = \"$CERTS_DIR\"" '
    function is_header(s) { return s ~ /^[[:space:]]*\[/ }
    function is_registry(s,   t) {
      t = s
      gsub(/[[:space:]"'\'']/, "", t)
      return t == "[plugins." plugin ".registry]"
    }
    is_header($0) {
      if (inside && !done) { print line; done = 1 }
      inside = is_registry($0)
      if (inside) found = 1
      print
      next
    }
    inside && /^[[:space:]]*config_path[[:space:]]*=/ {
      if (!done) { print line; done = 1 }
      next
    }
    { print }
    END {
      if (inside && !done) print line
      if (!found) exit 3
    }
  ' "$file"
}

containerd_config() {
  local plugin changed=1 tmp base rc=0 i auth block
  plugin=$(cri_plugin)
  mkdir -p "$(dirname "$CONTAINERD_CONFIG")"
  [[ -f "$CONTAINERD_CONFIG" ]] || {
    (umask 022 && printf 'version = 2\n' >"$CONTAINERD_CONFIG")
    info "created $CONTAINERD_CONFIG (version 2)"
  }
  block=$(umask 077 && mktemp)
  auth=0
  for i in "${IDX[@]}"; do
    has_auth "$i" || continue
    auth=1
    # A table defined twice makes containerd refuse the file: an existing one outside
    # our block is reported, not duplicated.
    if remove_block_copy | grep -qF "registry.configs.\"${SERVER[$i]}\".auth]"; then
      rm -f "$block"
      fatal "$CONTAINERD_CONFIG already defines credentials for ${SERVER[$i]} outside vnf-mgmt's block"
    fi
    {
      printf '[plugins.%s.registry.configs.%s.auth]\n' "$(toml_string "$plugin")" "$(toml_string "${SERVER[$i]}")"
      printf '  username = %s\n' "$(toml_string "${KV[username_$i]}")"
      printf '  password = %s\n' "$(toml_string "${KV[password_$i]}")"
    } >>"$block"
  done
  # The file without our block is the base: the registry table is looked for there
  # (the block itself may hold it from an earlier run).
  base=$(umask 077 && mktemp)
  remove_block_copy >"$base"
  tmp=$(mktemp "$CONTAINERD_CONFIG.vnf-mgmt.XXXXXX")
  set_config_path "$plugin" "$base" >"$tmp" || rc=$?
  if ((rc == 3)); then
    # No registry table in the file: ours goes into the managed block.
    cat "$base" >"$tmp"
    { printf '[plugins.%s.registry]\n' "$(toml_string "$plugin")"
      printf '  config_path = %s\n' "$(toml_string "$CERTS_DIR")"
      cat "$block"; } >"$block.new"
    mv -f "$block.new" "$block"
    auth=1
  elif ((rc != 0)); then
    rm -f "$tmp" "$block" "$base"
    fatal "could not read $CONTAINERD_CONFIG"
  fi
  if ((auth)); then
    # 0600 before any credential lands in the file (replace_block keeps the mode).
    chmod 0600 "$tmp"
    replace_block "$tmp" "$AUTH_BEGIN" "$AUTH_END" "$block" || true
  else
    remove_block "$tmp" "$AUTH_BEGIN" "$AUTH_END" || true
  fi
  rm -f "$block" "$base"
  if cmp -s "$tmp" "$CONTAINERD_CONFIG"; then
    rm -f "$tmp"
    if ((auth)) && [[ "$(stat -c %a "$CONTAINERD_CONFIG")" != 600 ]]; then
      chmod 0600 "$CONTAINERD_CONFIG"
    fi
    changed=0
    info "$CONTAINERD_CONFIG up to date"
  else
    ((auth)) || chmod --reference="$CONTAINERD_CONFIG" "$tmp"
    mv -f "$tmp" "$CONTAINERD_CONFIG"
    info "$CONTAINERD_CONFIG updated (config_path, credentials of the registries)"
  fi
  return "$changed"
}

# remove_block_copy: config.toml without vnf-mgmt's credentials block, on stdout.
remove_block_copy() {
  awk -v b="$AUTH_BEGIN" -v e="$AUTH_END" '
    $0 == b { skipping = 1; next }
    $0 == e && skipping { skipping = 0; next }
    !skipping { print }
  ' "$CONTAINERD_CONFIG"
}

containerd_registries() {
  local i dir d keep
  for i in "${IDX[@]}"; do
    dir=$CERTS_DIR/${SERVER[$i]}
    mkdir -p "$dir"
    touch "$dir/$MANAGED_MARK"
    if [[ "${SCHEME[$i]}" == https ]] && [[ -n "${KV[ca_$i]:-}" ]]; then
      write_ca "$i" "$dir/ca.crt" && info "CA of ${SERVER[$i]} written"
    fi
    if hosts_toml "$i" | write_file "$dir/hosts.toml" 0644; then
      info "$dir/hosts.toml written (${SCHEME[$i]})"
    else
      info "$dir/hosts.toml up to date"
    fi
  done
  # Directories of registries no longer in the request (ours only) go.
  for d in "$CERTS_DIR"/*/; do
    [[ -f "$d$MANAGED_MARK" ]] || continue
    keep=0
    for i in "${IDX[@]}"; do
      [[ "${d%/}" == "$CERTS_DIR/${SERVER[$i]}" ]] && keep=1
    done
    ((keep)) || { rm -rf -- "${d%/}"; info "removed ${d%/} (registry no longer requested)"; }
  done
  if containerd_config; then
    if systemd_pid1; then
      systemctl try-restart containerd || fatal "could not restart containerd"
      info "containerd restarted (if it was running)"
    else
      info "no systemd: containerd not restarted (the settings apply at its next start)"
    fi
  fi
}

# --- k3s ---

k3s_registries() {
  local runtime=$1 i url tmp changed=0 unit
  tmp=$(umask 077 && mktemp)
  {
    echo '# Managed by vnf-mgmt (k8s_registry.sh).'
    echo 'mirrors:'
    for i in "${IDX[@]}"; do
      url="${SCHEME[$i]}://${SERVER[$i]}"
      printf '  %s:\n    endpoint:\n      - %s\n' "$(toml_string "${SERVER[$i]}")" "$(toml_string "$url")"
    done
    echo 'configs:'
    for i in "${IDX[@]}"; do
      has_auth "$i" || [[ -n "${KV[ca_$i]:-}" ]] || continue
      printf '  %s:\n' "$(toml_string "${SERVER[$i]}")"
      if has_auth "$i"; then
        printf '    auth:\n      username: %s\n      password: %s\n' \
          "$(toml_string "${KV[username_$i]}")" "$(toml_string "${KV[password_$i]}")"
      fi
      if [[ "${SCHEME[$i]}" == https ]] && [[ -n "${KV[ca_$i]:-}" ]]; then
        printf '    tls:\n      ca_file: %s\n' "$(toml_string "$K3S_CERTS_DIR/${SERVER[$i]}/ca.crt")"
      fi
    done
  } >"$tmp"
  for i in "${IDX[@]}"; do
    if [[ "${SCHEME[$i]}" == https ]] && [[ -n "${KV[ca_$i]:-}" ]]; then
      mkdir -p "$K3S_CERTS_DIR/${SERVER[$i]}"
      write_ca "$i" "$K3S_CERTS_DIR/${SERVER[$i]}/ca.crt" && { info "CA of ${SERVER[$i]} written"; changed=1; }
    fi
  done
  mkdir -p "$(dirname "$K3S_REGISTRIES")"
  if install_if_changed "$tmp" "$K3S_REGISTRIES" 0600; then
    info "$K3S_REGISTRIES written"
    changed=1
  else
    info "$K3S_REGISTRIES up to date"
  fi
  if ((changed)); then
    unit=$(k3s_unit "$([[ "$runtime" == k3s ]] && echo server || echo agent)")
    if systemd_pid1; then
      systemctl try-restart "$unit" || fatal "could not restart $unit"
      info "$unit restarted (if it was running)"
    else
      info "no systemd: k3s not restarted (registries.yaml applies at its next start)"
    fi
  fi
}

hosts_block() {
  local content entry names
  if ((${#HOSTS[@]} == 0)); then
    if remove_block /etc/hosts "$HOSTS_BEGIN" "$HOSTS_END"; then
      info "/etc/hosts registries block removed"
    fi
    return 0
  fi
  content=$(mktemp)
  for entry in "${HOSTS[@]}"; do
    names=${entry#*=}
    printf '%s %s\n' "${entry%%=*}" "${names//,/ }" >>"$content"
  done
  if update_block /etc/hosts "$HOSTS_BEGIN" "$HOSTS_END" "$content"; then
    info "/etc/hosts registries block updated (${#HOSTS[@]} entries)"
  else
    info "/etc/hosts registries block up to date"
  fi
  rm -f "$content"
}

main() {
  (($# >= 2)) || fatal "usage: k8s_registry.sh kubeadm|k3s|k3s-agent INDEX=http(s)://HOST:PORT... [hosts:IP=NAME[,NAME...]...]"
  local runtime=$1 arg i
  shift
  [[ "$runtime" =~ ^(kubeadm|k3s|k3s-agent)$ ]] || fatal "invalid runtime: $runtime"
  for arg in "$@"; do
    if [[ "$arg" =~ ^([0-9]{1,3})=(https?)://(.+)$ ]]; then
      i=${BASH_REMATCH[1]}
      local scheme=${BASH_REMATCH[2]} server=${BASH_REMATCH[3]}
      valid_registry_server "$server" || fatal "invalid registry: $arg"
      [[ -z "${SERVER[$i]:-}" ]] || fatal "registry index $i given twice"
      IDX+=("$i")
      SCHEME[i]=$scheme
      SERVER[i]=$server
    elif [[ "$arg" =~ ^hosts:([0-9a-fA-F.:]+)=([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(,[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)*)$ ]]; then
      HOSTS+=("${BASH_REMATCH[1]}=${BASH_REMATCH[2]}")
    else
      fatal "invalid argument: $arg"
    fi
  done
  ((${#IDX[@]} > 0)) || fatal "no registry given"
  read_stdin_kv KV
  for i in "${IDX[@]}"; do
    if [[ -n "${KV[username_$i]:-}" || -n "${KV[password_$i]:-}" ]]; then
      has_auth "$i" || fatal "registry $i: username and password must come together on stdin"
      [[ "${KV[username_$i]}" =~ ^[[:graph:]]{1,256}$ ]] ||
        fatal "registry $i: invalid username on stdin (not shown)"
      [[ "${KV[password_$i]}" =~ ^[[:print:]]{1,1024}$ ]] ||
        fatal "registry $i: invalid password on stdin (not shown)"
    fi
  done
  verify_root
  hosts_block
  if [[ "$runtime" == kubeadm ]]; then
    containerd_registries
  else
    k3s_registries "$runtime"
  fi
  info "private registries configured: ${#IDX[@]}"
}

main "$@"
