#!/usr/bin/env bash
# Stop the Ceph daemons that scripts/ceph-start.sh started in CEPH_DIR (default /tmp/sesame-ceph),
# by the PIDs in its pid files: TERM, then KILL after CEPH_STOP_TIMEOUT seconds (default 15).
#
#   scripts/ceph-stop.sh          radosgw and the OSDs, then the mgr, then the mon
#   scripts/ceph-stop.sh osd N    only osd.N (the cluster keeps serving with the other two)
#
# A pid file whose process was not started with CEPH_DIR's ceph.conf is ignored, so a reused
# PID never hits someone else's process. CEPH_DIR itself is left in place.
set -euo pipefail

CEPH_DIR="$(realpath -m "${CEPH_DIR:-/tmp/sesame-ceph}")"
CEPH_CONF="$CEPH_DIR/ceph.conf"
TIMEOUT="${CEPH_STOP_TIMEOUT:-15}"

ours() {  # ours PID: the process runs with this cluster's conf file
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- " $CEPH_CONF "
}

stop_daemons() {  # stop_daemons NAME...: TERM them all, wait, KILL what is left
    local name pid pids=()
    for name in "$@"; do
        [ -s "$CEPH_DIR/run/$name.pid" ] || continue
        pid="$(cat "$CEPH_DIR/run/$name.pid")"
        if ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$CEPH_DIR/run/$name.pid"  # stale (dead or reused PID) or being stopped
    done
    local deadline=$((SECONDS + TIMEOUT))
    for pid in "${pids[@]}"; do
        while ours "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if ours "$pid"; then
            echo "ceph-stop: $pid ignored TERM for ${TIMEOUT}s, sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            while ours "$pid"; do
                sleep 0.05
            done
        fi
    done
}

if [ "${1:-}" = osd ]; then
    [ "$#" -eq 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || { echo "usage: $0 [osd N]" >&2; exit 1; }
    stop_daemons "osd.$2"
    exit 0
fi
[ "$#" -eq 0 ] || { echo "usage: $0 [osd N]" >&2; exit 1; }
[ -d "$CEPH_DIR/run" ] || exit 0
osds=()
for pid_file in "$CEPH_DIR"/run/osd.*.pid; do
    if [ -e "$pid_file" ]; then
        osds+=("$(basename "$pid_file" .pid)")
    fi
done
stop_daemons client.rgw.gw  # first: it talks to the OSDs while it shuts down
stop_daemons "${osds[@]}"
stop_daemons mgr.x
stop_daemons mon.a
