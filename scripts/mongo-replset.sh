#!/usr/bin/env bash
# Starts a throwaway MongoDB with a locally installed `mongod` (and `mongosh`,
# or the legacy `mongo` shell, to initiate it): by default a single-node
# replica set, so registration runs in a transaction; with --standalone a
# plain server, so the store takes its no-transaction fallback.
#
# Data lives in a new temporary directory (or --dbpath). The script waits
# until the server accepts writes (PRIMARY, for a replica set) and prints the
# connection string as the only line on stdout; everything else goes to
# stderr. So:
#
#   export TEST_MONGO_URI=$(scripts/mongo-replset.sh)
#   export TEST_MONGO_STANDALONE_URI=$(scripts/mongo-replset.sh --standalone)
#   cargo test --test store
#   scripts/mongo-replset.sh --stop <dbpath>     # the dbpath it printed
#
# or run the service on it: MONGO_URI=$(scripts/mongo-replset.sh) cargo run
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: scripts/mongo-replset.sh [--standalone] [--port N] [--dbpath DIR] [--set-name NAME]
       scripts/mongo-replset.sh --stop DBPATH

  (default)      a single-node replica set on 127.0.0.1:27117 (name rs0)
  --standalone   a standalone server instead (default port 27118)
  --port N       listen on 127.0.0.1:N
  --dbpath DIR   keep the data in DIR (created if missing) instead of a temp dir
  --set-name S   the replica set's name (default rs0)
  --stop DBPATH  shut down the server started with that dbpath
EOF
}

say() { echo "mongo-replset: $*" >&2; }
die() { say "error: $*"; exit 1; }

mode=replset
port=
dbpath=
set_name=rs0
stop=

while [ $# -gt 0 ]; do
  case "$1" in
    --standalone) mode=standalone ;;
    --port) port=${2:?--port needs a value}; shift ;;
    --port=*) port=${1#*=} ;;
    --dbpath) dbpath=${2:?--dbpath needs a value}; shift ;;
    --dbpath=*) dbpath=${1#*=} ;;
    --set-name) set_name=${2:?--set-name needs a value}; shift ;;
    --set-name=*) set_name=${1#*=} ;;
    --stop) stop=${2:?--stop needs the dbpath}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
  shift
done

command -v mongod >/dev/null 2>&1 ||
  die "mongod is not on PATH (install MongoDB Community Server; see https://www.mongodb.com/docs/manual/installation/)"

if [ -n "$stop" ]; then
  pidfile="$stop/mongod.pid"
  [ -f "$pidfile" ] || die "no $pidfile: was a server started with --dbpath $stop?"
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || { say "stopped mongod $pid"; exit 0; }
      sleep 0.5
    done
    die "mongod $pid did not stop within 30 s"
  fi
  say "mongod $pid was not running"
  exit 0
fi

if command -v mongosh >/dev/null 2>&1; then
  shell=mongosh
elif command -v mongo >/dev/null 2>&1; then
  shell=mongo
else
  die "neither mongosh nor mongo is on PATH (install mongosh to initiate the replica set)"
fi

case "$port" in
  '') if [ "$mode" = replset ]; then port=27117; else port=27118; fi ;;
  *[!0-9]*) die "--port must be a number, got $port" ;;
esac

if [ -z "$dbpath" ]; then
  dbpath=$(mktemp -d "${TMPDIR:-/tmp}/tokengate-mongo-$mode.XXXXXX")
fi
mkdir -p "$dbpath"

# Evaluates JavaScript against the new server; prints the result.
js() { "$shell" --quiet --host 127.0.0.1 --port "$port" --eval "$1"; }

# enableTestCommands: the store's fault tests use the failCommand fail point
# (tests/store/faults.rs). A throwaway test server only; never in production.
args=(--dbpath "$dbpath" --port "$port" --bind_ip 127.0.0.1
      --logpath "$dbpath/mongod.log" --pidfilepath "$dbpath/mongod.pid" --fork
      --setParameter enableTestCommands=1)
if [ "$mode" = replset ]; then
  args+=(--replSet "$set_name")
fi

say "starting mongod ($mode) on 127.0.0.1:$port, data in $dbpath"
# --fork returns once the server accepts connections (or failed to start).
if ! mongod "${args[@]}" >&2; then
  say "mongod did not start; the end of its log:"
  tail -n 20 "$dbpath/mongod.log" >&2 || true
  exit 1
fi

if [ "$mode" = replset ]; then
  # Idempotent: a dbpath that already holds an initiated set is left alone.
  # rs.status() throws in mongosh and returns { ok: 0 } in the legacy shell.
  js "
    var status;
    try { status = rs.status(); } catch (e) { status = { ok: 0 }; }
    if (!status.ok) {
      var r = rs.initiate({ _id: '$set_name', members: [ { _id: 0, host: '127.0.0.1:$port' } ] });
      if (!r.ok) { throw new Error('rs.initiate failed: ' + tojson(r)); }
    }
  " >/dev/null
fi

# Wait until the server accepts writes (a replica set first elects itself).
# `hello` needs MongoDB 4.4.2+; older servers answer `isMaster`.
writable='var h = db.runCommand({ hello: 1 }); if (!h.ok) { h = db.runCommand({ isMaster: 1 }); }
print(h.isWritablePrimary === true || h.ismaster === true)'
for _ in $(seq 1 120); do
  if js "$writable" 2>/dev/null | grep -qx true; then
    say "ready; stop it with: scripts/mongo-replset.sh --stop $dbpath"
    if [ "$mode" = replset ]; then
      echo "mongodb://127.0.0.1:$port/?replicaSet=$set_name"
    else
      echo "mongodb://127.0.0.1:$port/"
    fi
    exit 0
  fi
  sleep 0.5
done
die "the server on port $port did not become writable within 60 s (log: $dbpath/mongod.log)"
