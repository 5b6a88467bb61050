#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on localhost for the memory-store tests.
#
# Usage:   eval "$(scripts/postgres.sh)"        # exports MNEMOS_TEST_PG_URL
#          scripts/postgres.sh stop             # stops the server this script started
#
# Installs the Debian `postgresql` package when no server binaries exist (needs root),
# runs the server as a non-root user (PostgreSQL refuses root) from a private data
# directory, creates a role and database, and prints one `export` line on stdout.
# Everything else goes to stderr so the output can be eval'd.
set -euo pipefail

PORT="${MNEMOS_PG_PORT:-54329}"
DATA="${MNEMOS_PG_DIR:-/tmp/mnemos-pg}"
DB="${MNEMOS_PG_DB:-mnemos_test}"
ROLE="${MNEMOS_PG_ROLE:-mnemos}"
PASSWORD="${MNEMOS_PG_PASSWORD:-mnemos}"
RUN_USER="${MNEMOS_PG_USER:-postgres}"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -z "$dir" ]] && command -v pg_ctl >/dev/null 2>&1; then
        dir="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    fi
    echo "$dir"
}

BIN="$(find_bindir)"
if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        log "no PostgreSQL binaries found and not root: install the 'postgresql' package first"
        exit 1
    fi
    log "installing the Debian postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN="$(find_bindir)"
fi

as_user() {
    if [[ "$(id -u)" -eq 0 ]]; then
        if ! id "$RUN_USER" >/dev/null 2>&1; then
            useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
        fi
        runuser -u "$RUN_USER" -- "$@"
    else
        "$@"
    fi
}

if [[ "${1:-}" == "stop" ]]; then
    as_user "$BIN/pg_ctl" -D "$DATA" stop -m fast >&2 || true
    exit 0
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    log "a server is already running on 127.0.0.1:$PORT; reusing it"
else
    if [[ ! -s "$DATA/PG_VERSION" ]]; then
        log "initialising a throwaway cluster in $DATA"
        mkdir -p "$DATA"
        [[ "$(id -u)" -eq 0 ]] && chown "$RUN_USER" "$DATA"
        chmod 700 "$DATA"
        as_user "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
    fi
    log "starting the server on 127.0.0.1:$PORT"
    as_user "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
        -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
fi

PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [[ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='$ROLE'")" != "1" ]]; then
    "${PSQL[@]}" -d postgres -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [[ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" != "1" ]]; then
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

echo "export MNEMOS_TEST_PG_URL=postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
