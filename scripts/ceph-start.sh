#!/usr/bin/env bash
# A throw-away Ceph cluster for tests: one mon, one mgr, 3 memstore OSDs (pool size 3, min_size 2)
# and radosgw (beast) with one S3 user, every daemon on 127.0.0.1 and every file under CEPH_DIR.
#
#   scripts/ceph-start.sh          bootstrap, or start only the daemons that are not running
#   scripts/ceph-start.sh osd N    start osd.N again (after scripts/ceph-stop.sh osd N)
#
# Knobs (environment): CEPH_DIR (/tmp/sesame-ceph), CEPH_MON_PORT (msgr v2, 3300),
# CEPH_MON_V1_PORT (6789), CEPH_RGW_PORT (7480), CEPH_ACCESS_KEY (sesame),
# CEPH_SECRET_KEY (sesamesecret), CEPH_OSD_BYTES (memstore capacity per OSD, 4 GiB).
# Ports and keys are fixed when the cluster is bootstrapped; later runs read them from CEPH_DIR.
# Writes $CEPH_DIR/s3.env (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY) and returns only once
# radosgw answers an S3 ListBuckets. Memstore keeps the data in RAM: it is gone after a wipe.
set -euo pipefail

CEPH_DIR="$(realpath -m "${CEPH_DIR:-/tmp/sesame-ceph}")"
OSD_COUNT=3
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
export CEPH_CONF="$CEPH_DIR/ceph.conf"

log() { echo "ceph-start: $*" >&2; }
die() { log "$*"; exit 1; }

# A daemon of this cluster is alive when its pid file names a process started with our conf.
daemon_alive() {
    local pid_file="$CEPH_DIR/run/$1.pid" pid
    [ -s "$pid_file" ] || return 1
    pid="$(cat "$pid_file")"
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- " $CEPH_CONF "
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s
    local seconds="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${seconds}s waiting for $what"
        sleep 0.2
    done
}

ceph_cli() { ceph --connect-timeout 20 "$@"; }

run_daemon() {  # run_daemon BINARY ARGS...: it daemonises itself; the conf path marks it as ours
    "$1" -c "$CEPH_CONF" "${@:2}" 2>>"$CEPH_DIR/log/daemons.err" \
        || die "$* failed; see $CEPH_DIR/log"
}

new_keyring() {  # new_keyring NAME CAPS...: a keyring file with a fresh key for NAME
    local file="$CEPH_DIR/keyring/$1.keyring" name="$1"
    shift
    ceph-authtool --create-keyring "$file" --gen-key -n "$name" "$@" >/dev/null
    ceph-authtool "$CEPH_DIR/keyring/mon..keyring" --import-keyring "$file" >/dev/null
}

write_conf() {
    cat >"$CEPH_CONF" <<EOF
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon_initial_members = a
mon_host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $CEPH_DIR/keyring/\$name.keyring
pid_file = $CEPH_DIR/run/\$name.pid
admin_socket = $CEPH_DIR/run/\$name.asok
log_file = $CEPH_DIR/log/\$name.log
run_dir = $CEPH_DIR/run
crash_dir = $CEPH_DIR/crash
mon_data = $CEPH_DIR/mon/\$id
mgr_data = $CEPH_DIR/mgr/\$id
osd_data = $CEPH_DIR/osd/\$id
osd_objectstore = memstore
memstore_device_bytes = $OSD_BYTES
osd_crush_chooseleaf_type = 0
osd_pool_default_size = 3
osd_pool_default_min_size = 2
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
mon_allow_pool_delete = true
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mon_warn_on_pool_no_app = false
osd_recovery_sleep_hdd = 0
osd_recovery_sleep_ssd = 0
osd_recovery_sleep_hybrid = 0
osd_recovery_max_active = 16
osd_max_backfills = 16
[mon]
keyring = \$mon_data/keyring
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
[client.rgw.gw]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw_override_bucket_index_max_shards = 1
rgw_dynamic_resharding = false
rgw_data = $CEPH_DIR/rgw
rgw_enable_usage_log = false
EOF
    printf 'RGW_PORT=%s\nACCESS_KEY=%s\nSECRET_KEY=%s\n' \
        "$RGW_PORT" "$ACCESS_KEY" "$SECRET_KEY" >"$CEPH_DIR/knobs"
}

make_keyrings() {
    ceph-authtool --create-keyring "$CEPH_DIR/keyring/mon..keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null
    new_keyring client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' \
        --cap mds 'allow *'
    new_keyring mgr.x --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
    new_keyring client.rgw.gw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw'
    local n
    for n in $(seq 0 $((OSD_COUNT - 1))); do
        new_keyring "osd.$n" --cap mon 'allow profile osd' --cap mgr 'allow profile osd' \
            --cap osd 'allow *'
    done
}

stop_leftovers() {  # daemons of a cluster whose mon died hang on TERM; the data goes anyway
    if compgen -G "$CEPH_DIR/run/*.pid" >/dev/null; then
        CEPH_DIR="$CEPH_DIR" CEPH_STOP_TIMEOUT=2 bash "$(dirname "$0")/ceph-stop.sh"
    fi
}

bootstrap() {
    for port in "$MON_PORT" "$MON_V1_PORT" "$RGW_PORT"; do
        ! port_busy "$port" || die "127.0.0.1:$port is in use; pick other CEPH_*_PORT values"
    done
    if [ -n "$(ls -A "$CEPH_DIR" 2>/dev/null)" ] && [ ! -f "$CEPH_CONF" ]; then
        die "$CEPH_DIR is not empty and holds no cluster of ours; refusing to wipe it"
    fi
    log "bootstrapping a new cluster in $CEPH_DIR"
    rm -rf "$CEPH_DIR"
    mkdir -p "$CEPH_DIR"/{keyring,run,log,crash,mon/a,mgr/x,rgw}
    write_conf
    make_keyrings
    monmaptool --create --fsid "$(awk '/^fsid/ {print $3}' "$CEPH_CONF")" \
        --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
        "$CEPH_DIR/monmap" >/dev/null
    ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
        --keyring "$CEPH_DIR/keyring/mon..keyring"
    local n
    for n in $(seq 0 $((OSD_COUNT - 1))); do
        mkdir -p "$CEPH_DIR/osd/$n"
        cat /proc/sys/kernel/random/uuid >"$CEPH_DIR/osd/$n/uuid-for-mkfs"
    done
}

start_mon() {
    daemon_alive mon.a || run_daemon ceph-mon -i a
    wait_for 30 "the monitor quorum" ceph_cli mon stat
}

register_osds() {  # once per cluster: OSD ids in the osdmap and memstore file systems
    local n uuid
    for n in $(seq 0 $((OSD_COUNT - 1))); do
        uuid="$CEPH_DIR/osd/$n/uuid-for-mkfs"
        [ -f "$uuid" ] || continue
        ceph_cli osd new "$(cat "$uuid")" "$n" >/dev/null
        ceph-osd -c "$CEPH_CONF" -i "$n" --mkfs --osd-uuid "$(cat "$uuid")" \
            2>>"$CEPH_DIR/log/mkfs.log"
        rm "$uuid"
    done
}

start_osd() {
    daemon_alive "osd.$1" || run_daemon ceph-osd -i "$1"
}

start_rgw() {
    daemon_alive client.rgw.gw || run_daemon radosgw -n client.rgw.gw
    if [ ! -f "$CEPH_DIR/rgw/user-created" ]; then
        radosgw-admin -n client.admin user create --uid=sesame --display-name=sesame \
            --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >/dev/null
        touch "$CEPH_DIR/rgw/user-created"
    fi
    printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\n' \
        "$RGW_PORT" "$ACCESS_KEY" "$SECRET_KEY" >"$CEPH_DIR/s3.env"
    wait_for 60 "radosgw to answer S3 ListBuckets on 127.0.0.1:$RGW_PORT" \
        curl -fsS -m 5 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
        -H "x-amz-content-sha256: $EMPTY_SHA256" "http://127.0.0.1:$RGW_PORT/"
}

if [ "${1:-}" = osd ]; then
    [ "$#" -eq 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -lt "$OSD_COUNT" ] \
        || die "usage: $0 [osd N]  (N < $OSD_COUNT)"
    daemon_alive mon.a || die "the monitor of $CEPH_DIR is not running; start the cluster first"
    start_osd "$2"
    exit 0
fi
[ "$#" -eq 0 ] || die "usage: $0 [osd N]"

if [ -f "$CEPH_DIR/knobs" ] && daemon_alive mon.a; then
    # shellcheck source=/dev/null
    . "$CEPH_DIR/knobs"
else
    MON_PORT="${CEPH_MON_PORT:-3300}"
    MON_V1_PORT="${CEPH_MON_V1_PORT:-6789}"
    RGW_PORT="${CEPH_RGW_PORT:-7480}"
    ACCESS_KEY="${CEPH_ACCESS_KEY:-sesame}"
    SECRET_KEY="${CEPH_SECRET_KEY:-sesamesecret}"
    OSD_BYTES="${CEPH_OSD_BYTES:-$((4 * 1024 * 1024 * 1024))}"
    stop_leftovers
    bootstrap
fi
start_mon
daemon_alive mgr.x || run_daemon ceph-mgr -i x
register_osds
osd_starts=()
for n in $(seq 0 $((OSD_COUNT - 1))); do
    start_osd "$n" &  # side by side: each one waits for the monitor before it daemonises
    osd_starts+=("$!")
done
for pid in "${osd_starts[@]}"; do
    wait "$pid"
done
start_rgw
log "radosgw answers at http://127.0.0.1:$RGW_PORT (credentials in $CEPH_DIR/s3.env)"
