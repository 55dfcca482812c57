#!/usr/bin/env bash
# Prepares a VM to be a kubeadm node: node name, /etc/hosts block, swap off, kernel
# modules and sysctls, container runtime, kubeadm/kubelet/kubectl.
#
# Usage: k8s_node.sh NODE_NAME K8S_MINOR|k3s [IP=NAME...]
#   NODE_NAME  the node's name (from the VDU/VNFC identity; set as hostname if different)
#   K8S_MINOR  Kubernetes minor release of the pkgs.k8s.io repository (v1.31); `k3s`:
#              no runtime or kubeadm packages (k3s brings its own; k3s_server.sh and
#              k3s_agent.sh install it)
#   IP=NAME    /etc/hosts entries of every node of the cluster (a marked block)
#
# Every step checks before it acts, so a re-run after a failure continues where it
# stopped and a prepared node is left as it is. Packages are installed only when their
# command is missing: nothing is downloaded when kubeadm (installed with kubelet and
# kubectl) and a container runtime are present (offline images).
set -euo pipefail
# shellcheck source=mgmt-driver/scripts/lib.sh
source "$(dirname "$0")/lib.sh"

HOSTS_BEGIN='# BEGIN vnf-mgmt cluster nodes'
HOSTS_END='# END vnf-mgmt cluster nodes'
MODULES_FILE=/etc/modules-load.d/vnf-mgmt-k8s.conf
SYSCTL_FILE=/etc/sysctl.d/90-vnf-mgmt-k8s.conf
K8S_KEYRING=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
K8S_LIST=/etc/apt/sources.list.d/kubernetes.list

valid_name() {
  [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]
}

# write_if_changed FILE CONTENT: writes FILE only when its content differs.
write_if_changed() {
  local file=$1 content=$2
  if [[ -f "$file" ]] && [[ "$(cat "$file")" == "$content" ]]; then
    return 1
  fi
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "$content" >"$file.vnf-mgmt.tmp"
  mv -f "$file.vnf-mgmt.tmp" "$file"
}

set_node_name() {
  local name=$1 current
  current=$(hostname 2>/dev/null || true)
  if [[ "$current" == "$name" ]]; then
    info "hostname already $name"
    return 0
  fi
  if command -v hostnamectl >/dev/null 2>&1 && hostnamectl set-hostname "$name" 2>/dev/null; then
    info "hostname set to $name (was $current)"
  else
    printf '%s\n' "$name" >/etc/hostname
    hostname "$name" 2>/dev/null || warn "could not set the running hostname to $name"
    info "hostname set to $name in /etc/hostname (was $current)"
  fi
}

hosts_block() {
  local entries=("$@") content entry
  ((${#entries[@]} == 0)) && return 0
  content=$(mktemp)
  for entry in "${entries[@]}"; do
    printf '%s %s\n' "${entry%%=*}" "${entry#*=}" >>"$content"
  done
  if update_block /etc/hosts "$HOSTS_BEGIN" "$HOSTS_END" "$content"; then
    info "/etc/hosts block updated (${#entries[@]} nodes)"
  else
    info "/etc/hosts block up to date"
  fi
  rm -f "$content"
}

swap_off() {
  if [[ -z "$(swapon --show --noheadings 2>/dev/null || true)" ]]; then
    info "swap already off"
  else
    swapoff -a || fatal "could not turn swap off"
    info "swap turned off"
  fi
  if [[ -f /etc/fstab ]] && grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab; then
    sed -i.vnf-mgmt.bak -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# vnf-mgmt: \1/' /etc/fstab
    info "swap entries commented out in /etc/fstab"
  fi
}

kernel_modules() {
  local m
  write_if_changed "$MODULES_FILE" $'overlay\nbr_netfilter' && info "wrote $MODULES_FILE"
  for m in overlay br_netfilter; do
    if [[ -d "/sys/module/$m" ]]; then
      info "kernel module $m loaded"
    elif modprobe "$m" 2>/dev/null; then
      info "kernel module $m loaded now"
    else
      warn "kernel module $m is not loaded and modprobe failed (kubeadm preflight decides)"
    fi
  done
  if write_if_changed "$SYSCTL_FILE" $'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1'; then
    sysctl -q -p "$SYSCTL_FILE" 2>/dev/null || warn "could not apply $SYSCTL_FILE now"
    info "wrote $SYSCTL_FILE"
  else
    info "sysctls up to date"
  fi
}

container_runtime() {
  if command -v containerd >/dev/null 2>&1 || command -v crio >/dev/null 2>&1 ||
    command -v kubeadm >/dev/null 2>&1; then
    info "container runtime present (or provided with kubeadm)"
    return 0
  fi
  ensure_packages containerd
  if [[ ! -f /etc/containerd/config.toml ]] || ! grep -q 'SystemdCgroup = true' /etc/containerd/config.toml; then
    mkdir -p /etc/containerd
    containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' >/etc/containerd/config.toml
    systemctl restart containerd || fatal "could not restart containerd"
  fi
  info "containerd installed"
}

kube_packages() {
  local minor=$1 missing=() c
  for c in kubeadm kubelet kubectl; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  if ((${#missing[@]} == 0)); then
    info "kubeadm, kubelet, kubectl present"
    return 0
  fi
  # kubeadm is installed with its dependencies; a node that has it was prepared by its
  # image (or an earlier run). kubeadm's own preflight checks the kubelet.
  if command -v kubeadm >/dev/null 2>&1; then
    warn "kubeadm present without ${missing[*]}: nothing installed"
    return 0
  fi
  ensure_packages apt-transport-https ca-certificates curl gpg
  if [[ ! -s "$K8S_KEYRING" ]]; then
    mkdir -p "$(dirname "$K8S_KEYRING")"
    curl -fsSL "https://pkgs.k8s.io/core:/stable:/$minor/deb/Release.key" |
      gpg --dearmor -o "$K8S_KEYRING" || fatal "could not fetch the pkgs.k8s.io key"
  fi
  if write_if_changed "$K8S_LIST" "deb [signed-by=$K8S_KEYRING] https://pkgs.k8s.io/core:/stable:/$minor/deb/ /"; then
    apt-get update -q || fatal "apt-get update failed after adding pkgs.k8s.io"
  fi
  ensure_packages "${missing[@]}"
  apt-mark hold kubeadm kubelet kubectl >/dev/null || warn "could not hold the Kubernetes packages"
  info "installed ${missing[*]} from pkgs.k8s.io ($minor)"
}

main() {
  (($# >= 2)) || fatal "usage: k8s_node.sh NODE_NAME K8S_MINOR [IP=NAME...]"
  local name=$1 minor=$2 entry
  shift 2
  valid_name "$name" || fatal "invalid node name: $name"
  [[ "$minor" =~ ^(v[0-9]+\.[0-9]+|k3s)$ ]] || fatal "invalid Kubernetes minor release: $minor"
  for entry in "$@"; do
    [[ "$entry" =~ ^[0-9a-fA-F.:]+=[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]] ||
      fatal "invalid hosts entry: $entry"
  done
  verify_root
  set_node_name "$name"
  hosts_block "$@"
  swap_off
  kernel_modules
  if [[ "$minor" != k3s ]]; then
    container_runtime
    kube_packages "$minor"
  fi
  info "node $name prepared"
}

main "$@"
