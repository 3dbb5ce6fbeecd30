#!/usr/bin/env bash
# A private PostgreSQL server for runid's tests and benchmarks, on loopback only.
#
#   scripts/postgres.sh install                 Debian's postgresql package, if initdb is missing
#   scripts/postgres.sh start DATADIR PORT      initdb DATADIR (first time), start the server on
#                                               127.0.0.1:PORT, create role and database `runid`,
#                                               print the DSN (the only line on stdout)
#   scripts/postgres.sh stop DATADIR            stop it (fast shutdown); a no-op if not running
#
# The cluster is its own: DATADIR/data (not the system cluster), its unix socket in DATADIR/run,
# its log in DATADIR/server.log. Authentication is `trust`, for loopback connections and the
# private socket only, and the server listens on 127.0.0.1 alone: a throwaway test server, never
# a production setup. PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` OS user (created by the Debian package), who then owns DATADIR.
#
# In CI (.ci/run):
#   bash scripts/postgres.sh install
#   export RUNID_TEST_POSTGRES_DSN="$(bash scripts/postgres.sh start /tmp/runid-pg 54329)"
#   trap 'bash scripts/postgres.sh stop /tmp/runid-pg' EXIT
set -euo pipefail

usage() {
  echo "usage: $0 install | start DATADIR PORT | stop DATADIR" >&2
  exit 2
}

log() { echo "postgres.sh: $*" >&2; }

# The newest PostgreSQL binaries: Debian keeps them in /usr/lib/postgresql/<major>/bin, off PATH.
find_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then
    echo "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    return 1
  fi
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

install() {
  if find_bindir >/dev/null; then
    log "PostgreSQL is installed ($(find_bindir))"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "PostgreSQL is not installed; as root: apt-get update && apt-get install -y postgresql"
    exit 1
  fi
  # No system cluster: the tests start their own (Debian's postinst would create and start
  # `main` on port 5432 otherwise).
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/runid-tests.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  log "installed PostgreSQL ($(find_bindir))"
}

start() {
  local datadir=$1 port=$2 bindir
  [[ "$port" =~ ^[0-9]+$ ]] || usage
  if ! bindir=$(find_bindir); then
    log "PostgreSQL is not installed (no initdb); run: $0 install (as root)"
    exit 1
  fi
  mkdir -p "$datadir"
  datadir=$(cd "$datadir" && pwd)
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$datadir"
  fi
  chmod 0700 "$datadir"
  local data="$datadir/data" run="$datadir/run"
  as_owner mkdir -p "$run"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    # initdb's own trust lines are replaced below; -U postgres names the superuser.
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$datadir/initdb.log" 2>&1 || {
      cat "$datadir/initdb.log" >&2
      exit 1
    }
    as_owner tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# runid test server: trust, but only over its private socket and loopback.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
host    all   all   ::1/128        trust
EOF
  fi
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "already running ($data)"
  else
    as_owner "$bindir/pg_ctl" -D "$data" -l "$datadir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $run -c max_connections=100" \
      start >&2 || {
      tail -n 20 "$datadir/server.log" >&2
      exit 1
    }
  fi
  local psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$port" -U postgres)
  if [[ -z $(as_owner "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'runid'") ]]; then
    as_owner "${psql[@]}" -d postgres -c "CREATE ROLE runid LOGIN"
  fi
  if [[ -z $(as_owner "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'runid'") ]]; then
    as_owner "${psql[@]}" -d postgres -c "CREATE DATABASE runid OWNER runid"
  fi
  echo "postgresql://runid@127.0.0.1:$port/runid"
}

stop() {
  local datadir=$1 bindir
  if [[ ! -f "$datadir/data/PG_VERSION" ]]; then
    log "no cluster in $datadir"
    return 0
  fi
  bindir=$(find_bindir) || {
    log "PostgreSQL is not installed"
    exit 1
  }
  if as_owner "$bindir/pg_ctl" -D "$datadir/data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$datadir/data" -m fast -w stop >&2
  else
    log "not running ($datadir)"
  fi
}

case "${1:-}" in
  install) [[ $# -eq 1 ]] || usage; install ;;
  start) [[ $# -eq 3 ]] || usage; start "$2" "$3" ;;
  stop) [[ $# -ge 2 && $# -le 3 ]] || usage; stop "$2" ;;
  *) usage ;;
esac
