#!/bin/bash
# s3server.sh - a real S3 server (Ceph radosgw 16.2, Debian 12) for integration
# tests: one-node cluster on loopback (ceph-mon + ceph-osd on memstore +
# radosgw/beast), no systemd, auth none, all state under one directory.
#
#   s3server.sh start DIR [PORT]   create DIR, start mon/osd/rgw, make a user,
#                                  write DIR/env (S3_ENDPOINT, S3_ACCESS_KEY,
#                                  S3_SECRET_KEY, S3_REGION) and DIR/pids
#   s3server.sh stop DIR           stop all daemons (TERM, then KILL); DIR stays
#   s3server.sh stop-rgw DIR       stop radosgw only (data stays in the OSD)
#   s3server.sh start-rgw DIR      start radosgw again on the same port
#   s3server.sh restart-rgw DIR    stop-rgw + start-rgw
#
# Needs (Debian 12): apt-get install --no-install-recommends ceph-mon ceph-osd
#                    radosgw curl     (ceph-mgr is NOT needed)
# Env knobs: S3SERVER_MEMSTORE_BYTES (default 4 GiB; data lives in OSD RAM),
#            S3SERVER_RGW_DNS_NAME (sets rgw_dns_name: enables virtual-host
#            style for BUCKET.<name>; path style always works),
#            S3SERVER_TIMEOUT (seconds per wait step, default 60).
#
# Client notes (verified with curl/libcurl 7.88 --aws-sigv4 / CURLOPT_AWS_SIGV4):
#  - always send "x-amz-content-sha256: UNSIGNED-PAYLOAD" (or the hex sha256 of
#    the body): libcurl 7.88 does not send the header itself and signs
#    sha256("") for uploads, while radosgw assumes UNSIGNED-PAYLOAD when the
#    header is missing -> 403 SignatureDoesNotMatch on every request.
#  - libcurl 7.88 does not canonicalise the query: put parameters in sorted
#    order, percent-encode values (prefix=a%2F), write "?uploads=" not "?uploads".
#  - any SigV4 region is accepted; S3_REGION=default (zonegroup api_name).
#  - radosgw 16.2 verifies Content-MD5 (400 BadDigest) and a hex
#    x-amz-content-sha256 (400 XAmzContentSHA256Mismatch); it ignores
#    x-amz-checksum-* headers. Part ETag = MD5 of the part.
#
# Every daemon runs in the foreground (-f) as a background child of this
# script, its stdout/stderr in DIR/log/NAME.out, its log in DIR/log/NAME.log;
# DIR/pids holds "NAME PID" lines (mon, osd, rgw).
set -u
set -o pipefail

PROG=s3server
TIMEOUT=${S3SERVER_TIMEOUT:-60}
MEMSTORE_BYTES=${S3SERVER_MEMSTORE_BYTES:-4294967296}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
unset CEPH_ARGS CEPH_CONF

die_usage() {
    echo "usage: $0 start DIR [PORT] | stop DIR | stop-rgw DIR | start-rgw DIR | restart-rgw DIR" >&2
    exit 2
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- pid bookkeeping ---------------------------------------------------------
pid_of() {   # NAME -> pid recorded in DIR/pids (empty if none)
    [ -f "$DIR/pids" ] || return 0
    awk -v n="$1" '$1 == n { p = $2 } END { if (p != "") print p }' "$DIR/pids"
}

set_pid() {  # NAME PID (PID empty: remove)
    local tmp="$DIR/pids.tmp"
    { [ -f "$DIR/pids" ] && awk -v n="$1" '$1 != n' "$DIR/pids"
      [ -n "$2" ] && echo "$1 $2"; } > "$tmp"
    mv -f "$tmp" "$DIR/pids"
}

# alive PID: process exists, is not a zombie, and is one of ours (its command
# line names our ceph.conf), so a recycled pid is never signalled.
alive() {
    local pid=$1 st
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/ceph.conf"
}

# kill_daemon NAME [GRACE]: TERM, wait GRACE s (default 5), KILL, wait.
kill_daemon() {
    local name=$1 grace=${2:-5} pid i
    pid=$(pid_of "$name")
    if [ -n "$pid" ] && alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < grace * 10; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null
            for ((i = 0; i < 100; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
        fi
        if alive "$pid"; then
            echo "$PROG: $name (pid $pid) did not exit after SIGKILL" >&2
            return 1
        fi
    fi
    [ -n "$pid" ] && set_pid "$name" ""
    return 0
}

# ---- failure reporting ------------------------------------------------------
fail() {     # STEP NAME(log to show, may be empty) MESSAGE
    local step=$1 name=$2 msg=$3
    echo "$PROG: FAILED at step '$step': $msg" >&2
    if [ -n "$name" ]; then
        local logname=$name
        case $name in mon) logname=mon.a ;; osd) logname=osd.0 ;; rgw) logname=client.rgw ;;
                      radosgw-admin) logname=client.admin ;; esac
        for f in "$DIR/log/$name.out" "$DIR/log/$logname.log"; do
            [ -s "$f" ] || continue
            echo "--- last lines of $f ---" >&2
            tail -n 15 "$f" >&2
        done
    fi
    if [ "${STARTING_ALL:-0}" = 1 ]; then
        stop_all >/dev/null 2>&1
    elif [ "${RGW_SPAWNED:-0}" = 1 ]; then
        kill_daemon rgw >/dev/null 2>&1
    fi
    exit 1
}

ceph_cli() {   # bounded ceph CLI call
    timeout 30 ceph -c "$DIR/ceph.conf" --connect-timeout 20 "$@"
}

# wait_until STEP NAME PID CMD...: run CMD every 0.25 s until it succeeds;
# fail if the daemon PID dies or after $TIMEOUT seconds.
wait_until() {
    local step=$1 name=$2 pid=$3 deadline
    shift 3
    deadline=$((SECONDS + TIMEOUT))
    while ! "$@" >/dev/null 2>&1; do
        alive "$pid" || fail "$step" "$name" "$name (pid $pid) exited"
        [ $SECONDS -lt $deadline ] || fail "$step" "$name" "timed out after ${TIMEOUT}s"
        sleep 0.25
    done
}

# spawn NAME CMD...: start a foreground daemon in the background, record pid.
spawn() {
    local name=$1
    shift
    "$@" -f </dev/null >>"$DIR/log/$name.out" 2>&1 &
    SPAWNED=$!
    set_pid "$name" "$SPAWNED"
}

# ---- config -----------------------------------------------------------------
write_conf() {
    local fsid=$1 monport=$2 rgwport=$3 asok
    # unix socket paths are limited to 107 bytes: no admin socket for long DIRs
    asok="$DIR/run/\$name.asok"
    [ ${#DIR} -le 80 ] || asok=""
    cat > "$DIR/ceph.conf" <<EOF
# generated by s3server.sh - one-node test cluster, loopback only
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$monport]
public network = 127.0.0.0/8
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
# auth none cannot do msgr2 'secure' mode; radosgw defaults its mon
# connection to 'secure' only (get_initial_auth_request returned -13)
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
run dir = $DIR/run
admin socket = $asok
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $DIR/log/cluster.log
mon cluster log to file = true
keyring = $DIR/keyring
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
ms async op threads = 2

[mon]
# single mon: commit each map change at once instead of batching for 1 s
# (radosgw's pool creation is ~10 map epochs: 13 s -> ~4 s start)
paxos propose interval = 0.05
paxos min wait = 0.01
mon data = $DIR/mon/\$id
mon rocksdb options = write_buffer_size=8388608,max_write_buffer_number=2,compression=kNoCompression

[osd]
osd data = $DIR/osd/\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd op num shards = 1
osd op num threads per shard = 2
osd crush update on start = true

[client.rgw]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgwport
rgw thread pool size = 32
rgw enable usage log = false
EOF
    if [ -n "${S3SERVER_RGW_DNS_NAME:-}" ]; then
        echo "rgw dns name = $S3SERVER_RGW_DNS_NAME" >> "$DIR/ceph.conf"
    fi
}

# ---- radosgw ----------------------------------------------------------------
http_up() {    # anonymous GET / answers with an HTTP status (any)
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/") || return 1
    [ "$code" != 000 ]
}

start_rgw() {
    local port pid
    port=$(cat "$DIR/rgw_port" 2>/dev/null) || fail start-rgw "" "no $DIR/rgw_port (not started with 'start'?)"
    pid=$(pid_of rgw)
    if [ -n "$pid" ] && alive "$pid"; then
        fail start-rgw "" "radosgw already running (pid $pid)"
    fi
    http_up "$port" && fail start-rgw "" "port $port already answers HTTP (someone else?)"
    spawn rgw radosgw -c "$DIR/ceph.conf" -n client.rgw
    pid=$SPAWNED
    RGW_SPAWNED=1
    wait_until start-rgw rgw "$pid" http_up "$port"
}

stop_all() {
    local rc=0
    kill_daemon rgw 5 || rc=1
    kill_daemon osd 5 || rc=1
    kill_daemon mon 5 || rc=1
    return $rc
}

# ---- start ------------------------------------------------------------------
start_all() {
    local port=${1:-} t0=$SECONDS monport fsid osduuid pid akey skey
    STARTING_ALL=1
    local c missing=""
    for c in ceph-mon ceph-osd radosgw radosgw-admin curl; do
        command -v "$c" >/dev/null || missing="$missing $c"
    done
    if [ -n "$missing" ]; then
        echo "$PROG: FAILED at step 'check': commands missing:$missing (packages ceph-mon ceph-osd radosgw curl)" >&2
        exit 1
    fi
    if [ -e "$DIR/ceph.conf" ]; then
        echo "$PROG: FAILED at step 'check': $DIR already holds a cluster; use a fresh DIR" >&2
        exit 1
    fi
    mkdir -p "$DIR" || exit 1
    DIR=$(cd "$DIR" && pwd -P)
    mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon" "$DIR/osd/0" "$DIR/rgw" "$DIR/crash"
    : > "$DIR/pids"

    [ -n "$port" ] || port=$(free_port) || fail config "" "cannot pick a free port"
    monport=$(free_port) || fail config "" "cannot pick a free port"
    [ "$monport" != "$port" ] || monport=$(free_port)
    echo "$port" > "$DIR/rgw_port"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    osduuid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid" "$monport" "$port"

    # mon
    timeout 30 monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" \
        "$DIR/monmap" >>"$DIR/log/mon.out" 2>&1 || fail monmaptool mon "monmaptool failed"
    timeout 60 ceph-mon -c "$DIR/ceph.conf" -i a --mkfs --monmap "$DIR/monmap" \
        >>"$DIR/log/mon.out" 2>&1 || fail mon-mkfs mon "ceph-mon --mkfs failed"
    spawn mon ceph-mon -c "$DIR/ceph.conf" -i a
    pid=$SPAWNED
    wait_until mon-up mon "$pid" ceph_cli mon stat

    # osd on memstore
    ceph_cli osd new "$osduuid" 0 >>"$DIR/log/osd.out" 2>&1 || fail osd-new mon "ceph osd new failed"
    timeout 60 ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osduuid" \
        >>"$DIR/log/osd.out" 2>&1 || fail osd-mkfs osd "ceph-osd --mkfs failed"
    spawn osd ceph-osd -c "$DIR/ceph.conf" -i 0
    pid=$SPAWNED
    osd_up() { ceph_cli osd stat -f json | grep -q '"num_up_osds":1,'; }
    wait_until osd-up osd "$pid" osd_up

    # radosgw (creates its pools and the default realm/zonegroup/zone)
    start_rgw

    # user
    akey=$(tr -dc 'A-Z0-9' < /dev/urandom | head -c 20)
    skey=$(tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 40)
    timeout 60 radosgw-admin -c "$DIR/ceph.conf" -n client.admin user create \
        --uid=test --display-name="s3server test user" \
        --access-key="$akey" --secret-key="$skey" >>"$DIR/log/radosgw-admin.out" 2>&1 \
        || fail user-create radosgw-admin "radosgw-admin user create failed"
    # region = the zonegroup's api_name ("default" for the default zonegroup)
    cat > "$DIR/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$port
S3_ACCESS_KEY=$akey
S3_SECRET_KEY=$skey
S3_REGION=default
EOF
    STARTING_ALL=0
    echo "$PROG: started in $((SECONDS - t0))s: S3_ENDPOINT=http://127.0.0.1:$port (env in $DIR/env)"
}

# ---- main -------------------------------------------------------------------
[ $# -ge 2 ] || die_usage
CMD=$1
DIR=$2
case "$CMD" in
start)
    [ $# -le 3 ] || die_usage
    start_all "${3:-}"
    ;;
stop|stop-rgw|start-rgw|restart-rgw)
    [ $# -eq 2 ] || die_usage
    [ -f "$DIR/ceph.conf" ] || { echo "$PROG: $DIR holds no cluster" >&2; exit 1; }
    DIR=$(cd "$DIR" && pwd -P)
    case "$CMD" in
    stop) stop_all ;;
    stop-rgw) kill_daemon rgw 5 ;;
    start-rgw) start_rgw ;;
    restart-rgw) kill_daemon rgw 5 || exit 1; start_rgw ;;
    esac
    ;;
*) die_usage ;;
esac
