#!/usr/bin/env bash
# host-init.sh: turns fresh namespaces into one lab "VM" and execs sshd as its PID 1.
#
# Started by vnf-lab as
#   unshare --net --mount --uts --pid --fork --kill-child --propagation private \
#           bash host-init.sh
# so this script is PID 1 of a new pid namespace; killing the outer unshare
# process kills the whole host (pid, mount and network namespace die with it).
#
# Environment (set by vnf-lab):
#   LAB_HOST_DIR        host state dir outside the host. Read: password, authorized_keys
#                       (optional), devices, bin/. Written: pid1, host_keys/*.pub, ready.
#   LAB_HOSTNAME        hostname of the host
#   LAB_ADDR            eth0 address with prefix, e.g. 198.18.7.10/24 (no default route)
#   LAB_USER            login user: created with a password and NOPASSWD sudo
#   LAB_BIN_DIR         directory put first in every PATH inside the host
#
# $LAB_HOST_DIR/devices holds one volume per line: "<vdX> <major> <minor> <by-id name>".
set -euo pipefail

info() { printf 'host-init[%s]: %s\n' "${LAB_HOSTNAME:-?}" "$*" >&2; }
fatal() {
    info "fatal: $*"
    exit 1
}

setup_env() {
    : "${LAB_HOST_DIR:?}" "${LAB_HOSTNAME:?}" "${LAB_ADDR:?}" "${LAB_USER:?}" "${LAB_BIN_DIR:?}"
    ROOT="$LAB_HOST_DIR/root"
    RW="$LAB_HOST_DIR/rw"
    LAB_PATH="$LAB_BIN_DIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

# Our PID as seen from the lab's (outer) pid namespace: /proc is still the outer one here.
record_outer_pid() {
    local key value rest
    while read -r key value rest; do
        if [ "$key" = "NSpid:" ]; then
            printf '%s\n' "$value" >"$LAB_HOST_DIR/pid1"
            return 0
        fi
    done </proc/self/status
    fatal "no NSpid in /proc/self/status"
}

wait_for_eth0() {
    local i
    for i in $(seq 1 1000); do
        if ip link show dev eth0 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.01
    done
    fatal "eth0 did not appear (i=$i)"
}

setup_network() {
    ip link set lo up
    ip addr add "$LAB_ADDR" dev eth0
    ip link set eth0 up
}

# Debian's pristine root dotfile, else the skel one.
base_file() {
    if [ -f "/usr/share/base-files/$1" ]; then
        printf '%s' "/usr/share/base-files/$1"
    else
        printf '%s' "/etc/skel/$2"
    fi
}

setup_root() {
    mkdir -p "$RW" "$ROOT"
    mount -t tmpfs -o mode=0755 vnf-lab-rw "$RW"
    mkdir "$RW/upper" "$RW/work"
    mount -t overlay -o "lowerdir=/,upperdir=$RW/upper,workdir=$RW/work" vnf-lab-root "$ROOT"
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sysfs "$ROOT/sys"
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$ROOT/run"
    mkdir -m 0755 "$ROOT/run/sshd" "$ROOT/run/lock"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/tmp"
    # A clean root home like a fresh VM's, not this machine's /root.
    mount -t tmpfs -o mode=0700 tmpfs "$ROOT/root"
    install -m 0644 "$(base_file dot.profile .profile)" "$ROOT/root/.profile"
    install -m 0644 "$(base_file dot.bashrc .bashrc)" "$ROOT/root/.bashrc"
    mkdir -p "$ROOT$LAB_BIN_DIR"
    mount --bind "$LAB_HOST_DIR/bin" "$ROOT$LAB_BIN_DIR"
}

setup_dev() {
    local dev="$ROOT/dev" name major minor byid
    mount -t tmpfs -o mode=0755,nosuid vnf-lab-dev "$dev"
    mknod -m 0666 "$dev/null" c 1 3
    mknod -m 0666 "$dev/zero" c 1 5
    mknod -m 0666 "$dev/full" c 1 7
    mknod -m 0666 "$dev/random" c 1 8
    mknod -m 0666 "$dev/urandom" c 1 9
    mknod -m 0666 "$dev/tty" c 5 0
    mkdir -m 0755 "$dev/pts" "$dev/disk" "$dev/disk/by-id"
    mkdir -m 1777 "$dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$dev/pts"
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$dev/shm"
    ln -s pts/ptmx "$dev/ptmx"
    ln -s /proc/self/fd "$dev/fd"
    ln -s /proc/self/fd/0 "$dev/stdin"
    ln -s /proc/self/fd/1 "$dev/stdout"
    ln -s /proc/self/fd/2 "$dev/stderr"
    if [ -s "$LAB_HOST_DIR/devices" ]; then
        while read -r name major minor byid; do
            mknod -m 0660 "$dev/$name" b "$major" "$minor"
            chgrp disk "$dev/$name"
            ln -s "../../$name" "$dev/disk/by-id/$byid"
        done <"$LAB_HOST_DIR/devices"
    fi
}

setup_identity() {
    local etc="$ROOT/etc"
    hostname "$LAB_HOSTNAME"
    printf '%s\n' "$LAB_HOSTNAME" >"$etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
        "$LAB_HOSTNAME" >"$etc/hosts"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$etc/machine-id"
    printf '\n' >>"$etc/machine-id"
    printf '# /etc/fstab: static file system information (vnf-lab host %s).\n' \
        "$LAB_HOSTNAME" >"$etc/fstab"
}

setup_user() {
    local etc="$ROOT/etc"
    if ! chroot "$ROOT" id -u "$LAB_USER" >/dev/null 2>&1; then
        chroot "$ROOT" useradd --create-home --shell /bin/bash "$LAB_USER"
    fi
    printf '%s:%s\n' "$LAB_USER" "$(cat "$LAB_HOST_DIR/password")" | chroot "$ROOT" chpasswd
    umask 0227
    printf 'Defaults secure_path="%s"\n%s ALL=(ALL:ALL) NOPASSWD:ALL\n' \
        "$LAB_PATH" "$LAB_USER" >"$etc/sudoers.d/90-vnf-lab"
    umask 0022
    if [ -s "$LAB_HOST_DIR/authorized_keys" ]; then
        local home
        home="$(chroot "$ROOT" getent passwd "$LAB_USER" | cut -d: -f6)"
        install -d -m 0700 "$ROOT$home/.ssh" "$ROOT/root/.ssh"
        install -m 0600 "$LAB_HOST_DIR/authorized_keys" "$ROOT$home/.ssh/authorized_keys"
        install -m 0600 "$LAB_HOST_DIR/authorized_keys" "$ROOT/root/.ssh/authorized_keys"
        chroot "$ROOT" chown -R "$LAB_USER:" "$home/.ssh"
    fi
}

setup_path() {
    local etc="$ROOT/etc"
    printf 'PATH="%s"\n' "$LAB_PATH" >"$etc/environment"
    # /etc/profile resets PATH for login shells and then sources profile.d.
    # shellcheck disable=SC2016 # $PATH is expanded by the login shell, not here
    printf 'case ":$PATH:" in *:%s:*) ;; *) PATH="%s:$PATH" ;; esac\nexport PATH\n' \
        "$LAB_BIN_DIR" "$LAB_BIN_DIR" >"$etc/profile.d/00-vnf-lab-path.sh"
}

setup_sshd() {
    local etc="$ROOT/etc" keys="$LAB_HOST_DIR/host_keys" t
    rm -f "$etc"/ssh/ssh_host_*
    mkdir -p "$keys"
    for t in ed25519 ecdsa; do
        ssh-keygen -q -t "$t" -N '' -C "root@$LAB_HOSTNAME" -f "$etc/ssh/ssh_host_${t}_key"
        cp "$etc/ssh/ssh_host_${t}_key.pub" "$keys/$t.pub"
    done
    cat >"$etc/ssh/sshd_config.d/00-vnf-lab.conf" <<CONF
# vnf-lab host $LAB_HOSTNAME
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PermitRootLogin prohibit-password
PidFile /run/sshd.pid
SetEnv PATH=$LAB_PATH
CONF
}

enter_root() {
    cd "$ROOT"
    mkdir -p "$ROOT/.old-root"
    pivot_root . .old-root
    cd /
    umount -l /.old-root
    rmdir /.old-root
}

main() {
    setup_env
    record_outer_pid
    wait_for_eth0
    setup_network
    setup_root
    setup_dev
    setup_identity
    setup_user
    setup_path
    setup_sshd
    : >"$LAB_HOST_DIR/ready"
    enter_root
    info "sshd starting on ${LAB_ADDR%/*}"
    exec /usr/sbin/sshd -D -e
}

main "$@"
