#!/usr/bin/env bash
# Idempotent test prerequisites (root, Debian 12): Debian packages, a running PostgreSQL on
# 127.0.0.1:5432 with trust auth for local test connections, and .venv with '.[test]'.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
    # apt-get update at most once per run, and only when something is missing.
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
for pkg in seafile-cli seafile-daemon python3-seafile procps nginx-light \
    ceph-mon ceph-osd ceph-mgr radosgw ceph-common curl \
    libreoffice-core libreoffice-writer libreoffice-calc libreoffice-impress fonts-liberation \
    chromium; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ! command -v psql >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    missing+=(postgresql postgresql-contrib)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-test-deps: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# PostgreSQL: start the packaged cluster (no systemd here) when it is not accepting connections.
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
pg_version="$(ls /etc/postgresql | sort -V | tail -n 1)"
hba="/etc/postgresql/${pg_version}/main/pg_hba.conf"
if ! grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    # Test databases are reached as the postgres role without a password, over loopback only.
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    if pg_ready; then
        pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
    fi
fi
if ! pg_ready; then
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
    for _ in $(seq 1 60); do
        pg_ready && break
        sleep 0.5
    done
    pg_ready || { echo "install-test-deps: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

# Python: .venv with the package and its test extras (skipped when already up to date).
bash scripts/bootstrap-venv.sh test
