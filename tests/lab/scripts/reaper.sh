#!/usr/bin/env bash
# reaper.sh: outlives the process that owns a lab and tears the lab down when that
# process ends, however it ends (return, panic, SIGINT/SIGTERM, SIGKILL).
#
# Usage: reaper.sh STATE_DIR   (stdin: a pipe whose write end only the owner holds)
#
# The owner writes one line: "down" (tear down now), "detach" (leave the lab running,
# e.g. `vnf-lab up`), or dies, which closes the pipe (EOF): tear down.
set -euo pipefail

S="${1:?usage: reaper.sh STATE_DIR}"
TEARDOWN="$S/bin/teardown.sh"
cmd=""
IFS= read -r cmd || true
if [ "$cmd" = "detach" ]; then
    exit 0
fi
printf 'reaper: %s, tearing down %s\n' "${cmd:-owner gone}" "$S" >&2
# The script file goes away with the state dir; bash already has it open.
exec bash "$TEARDOWN" "$S"
