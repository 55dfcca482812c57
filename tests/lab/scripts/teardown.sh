#!/usr/bin/env bash
# teardown.sh: removes everything one lab created. Idempotent; safe to run twice or
# concurrently with a half-built lab; touches only what the lab's state dir records
# (or what provably belongs to it: processes whose command line names the state dir,
# loop devices whose backing file lies inside it, links with the lab's name prefix).
#
# Usage: teardown.sh STATE_DIR
#
# STATE_DIR files read (all optional):
#   hosts/*/unshare   "PID STARTTIME" of each host's outer unshare process
#   hosts/*/pid1      outer PID of each host's PID 1
#   bridge            lab bridge name
#   link-prefix       prefix of the lab's veth names
#   claim             path of the lab's subnet claim (a symlink)
set -euo pipefail

info() { printf 'teardown: %s\n' "$*" >&2; }

S="${1:?usage: teardown.sh STATE_DIR}"
S="${S%/}"
case "$S" in
/run/vnf-lab/*) ;;
*)
    info "refusing: $S is not under /run/vnf-lab"
    exit 2
    ;;
esac
[ -d "$S" ] || exit 0

# Start time (clock ticks since boot) of PID, or empty if it is gone.
starttime() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # word splitting of the stat fields is intended
    set -- $stat
    printf '%s' "${20}"
}

# Kills PID only if it still has the recorded start time.
kill_recorded() {
    local pid="$1" start="$2"
    [ -n "$pid" ] || return 0
    if [ "$(starttime "$pid")" = "$start" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# True while PID exists and is not a zombie (a zombie holds no namespaces).
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != "Z" ]
}

wait_gone() {
    local pid="$1" i
    for i in $(seq 1 250); do
        alive "$pid" || return 0
        sleep 0.02
    done
    info "pid $pid still present after $i tries"
}

kill_hosts() {
    local f pid start pids=()
    for f in "$S"/hosts/*/unshare; do
        [ -f "$f" ] || continue
        read -r pid start <"$f" || true
        kill_recorded "$pid" "$start"
        pids+=("$pid")
    done
    # Anything else started for this lab (a host whose PID was not recorded yet,
    # an nsenter into it): its command line names the state dir.
    local p cmd
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        [ "$pid" != "$$" ] || continue
        cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
        case "$cmd" in
        *teardown.sh*) ;;
        *"$S/"*)
            kill -KILL "$pid" 2>/dev/null || true
            pids+=("$pid")
            ;;
        esac
    done
    for f in "$S"/hosts/*/pid1; do
        [ -f "$f" ] || continue
        read -r pid <"$f" || true
        [ -n "$pid" ] && pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        wait_gone "$pid"
    done
}

delete_links() {
    local prefix="" bridge="" name
    [ -f "$S/link-prefix" ] && prefix="$(cat "$S/link-prefix")"
    [ -f "$S/bridge" ] && bridge="$(cat "$S/bridge")"
    if [ -n "$prefix" ]; then
        for name in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
            case "$name" in
            "$prefix"*) ip link del "$name" 2>/dev/null || true ;;
            esac
        done
    fi
    if [ -n "$bridge" ] && ip link show dev "$bridge" >/dev/null 2>&1; then
        ip link del "$bridge"
    fi
}

detach_loops() {
    local b backing
    for b in /sys/block/loop*; do
        [ -r "$b/loop/backing_file" ] || continue
        backing="$(cat "$b/loop/backing_file" 2>/dev/null)" || continue
        case "$backing" in
        "$S/"*) losetup -d "/dev/${b##*/}" 2>/dev/null || info "losetup -d ${b##*/} failed" ;;
        esac
    done
}

release_claim() {
    local claim
    if [ -f "$S/claim" ]; then
        claim="$(cat "$S/claim")"
        case "$claim" in
        /run/vnf-lab/subnets/*) rm -f "$claim" ;;
        esac
    fi
}

main() {
    kill_hosts
    delete_links
    detach_loops
    release_claim
    rm -rf "$S"
}

main
