#!/usr/bin/env bash
# The load benchmark (issue 8). One command from a clean clone:
#
#     scripts/bench.sh
#
# Builds release (the service, the reference server and the raw bcrypt-rate
# program under benches/), installs wrk (and Node.js) from Debian when it is
# missing, installs the Node.js peer (benches/peer) with `npm ci`, starts the
# service on a fresh SQLite file with production settings and the production
# profile's own logging on 127.0.0.1, creates users, drives each scenario for
# a bounded time and prints one table (requests/s, p50, p99, errors and the
# server's peak RSS per scenario), the ratios against the targets and
# tokengate / peer, all from this one run.
#
# Knobs (environment): BENCH_DURATION (seconds per scenario, default 10),
# BENCH_CONNECTIONS (current-user and health connections, default 64),
# BENCH_SESSIONS (sessions in the store for the big-store rows, default 1000000),
# BENCH_KEEP=1 keeps the temporary directory (logs, databases, wrk output),
# BENCH_SERVICE_BIN=<path> measures another build of the service (A/B runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SESSIONS=${BENCH_SESSIONS:-1000000}
REFRESH_CONNECTIONS=8   # one wrk thread per connection: one cookie chain each
LOGIN_CONNECTIONS=4     # below the bcrypt pool's workers + queue: nothing is shed
BURST_CONNECTIONS=(16 64) # login bursts: clients that log in again at once, whatever the answer
FLOOD_CONNECTIONS=64    # far past workers + queue: the excess must be shed
BCRYPT_COST=12
ORIGIN="http://localhost:5173"
LOGIN_EMAIL="bench@example.com"
LOGIN_PASSWORD="benchmark password 1"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ----- tools -----------------------------------------------------------------

install_debian() {
  local packages=("$@")
  command -v apt-get >/dev/null || die "missing ${packages[*]} and no apt-get to install them"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "missing ${packages[*]}; install them (apt-get install ${packages[*]})"
    sudo=(sudo)
  fi
  log "installing ${packages[*]} from Debian"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] || install_debian "${missing[@]}"

# ----- build -----------------------------------------------------------------

log "cargo build --release (service, reference server, bcrypt rate)"
cargo build --release --locked --bin tokengate --example reference_server --example bcrypt_rate
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

log "npm ci in benches/peer (the Node.js peer)"
(cd "$REPO/benches/peer" && npm ci --no-audit --no-fund --loglevel=error </dev/null >&2) ||
  die "npm ci in benches/peer failed"

# ----- process bookkeeping ---------------------------------------------------

PIDS=()
WORK=""

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do # at most 10 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  [ -n "$WORK" ] || return 0
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokengate-bench.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies: a build elsewhere into the shared target/ cannot change the
# binaries halfway through the run.
mkdir "$WORK/bin"
cp "${BENCH_SERVICE_BIN:-$TARGET_DIR/release/tokengate}" "$WORK/bin/tokengate"
cp "$TARGET_DIR/release/examples/reference_server" "$TARGET_DIR/release/examples/bcrypt_rate" "$WORK/bin/"
SERVICE_BIN="$WORK/bin/tokengate"
REFERENCE_BIN="$WORK/bin/reference_server"
BCRYPT_BIN="$WORK/bin/bcrypt_rate"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

JWT_SECRET_VALUE=$(secret)
KEK_VALUE=$(head -c 32 /dev/urandom | base64)
JWT_REFRESH_SECRET_VALUE=$(secret)

# Production profile with proper secrets, run as a deployer runs it: its own
# logging (config/production.toml: JSON, filter info, so one line per
# request; the log goes to a file in the temporary directory), nothing taken
# from this shell's RUST_LOG or LOG_FORMAT. Only what a benchmark must change
# differs: loopback, a temp SQLite file, rate limits out of the way (the load
# comes from one IP; the per-email ceiling of failed logins must not be below
# the failure limit where the service has one, and is ignored where it has
# not). Cookies stay Secure (wrk does not care).
server_env() { # port sqlite_path command...
  local port=$1 db=$2
  shift 2
  # exec: the caller's $! is then the server itself, not a shell around it.
  exec env -u RUST_LOG -u LOG_FORMAT -u APP_LOG__FILTER -u APP_LOG__FORMAT \
    APP_ENV=production APP_CONFIG_DIR="$REPO/config" \
    HOST=127.0.0.1 PORT="$port" SQLITE_PATH="$db" \
    JWT_SECRET="$JWT_SECRET_VALUE" JWT_REFRESH_SECRET="$JWT_REFRESH_SECRET_VALUE" \
    FRONTEND_ORIGIN="$ORIGIN" BCRYPT_COST="$BCRYPT_COST" \
    MAIL_TRANSPORT=console \
    RATE_LIMIT_PER_IP=1000000000 RATE_LIMIT_LOGIN_FAILURES="${BENCH_FAILURE_LIMIT:-1000000000}" \
    RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL=1000000000 \
    RATE_LIMIT_REFRESH_SHARED="${BENCH_REFRESH_SHARED:-false}" \
    JWT_ALGORITHM="${BENCH_JWT_ALGORITHM:-HS256}" JWT_KEY_ENCRYPTION_KEY="$KEK_VALUE" \
    "$@"
}

now_ns() { date +%s%N; }

# Waits for 200 from GET /health/ready; bounded by count and time.
wait_ready() { # port pid
  local port=$1 pid=$2 i code deadline
  deadline=$(($(now_ns) + 15000000000))
  for ((i = 0; i < 5000; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/health/ready" || true)
    [ "$code" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(now_ns)" -lt "$deadline" ] || return 1
  done
  return 1
}

# The Node.js peer (benches/peer/server.js), one process, in production mode,
# with the service's secrets, origin and bcrypt cost; key_mode is string or
# keyobject (how it hands its secrets to jsonwebtoken).
peer_env() { # port key_mode
  exec env -u NODE_OPTIONS NODE_ENV=production HOST=127.0.0.1 PORT="$1" PEER_JWT_KEYS="$2" \
    JWT_SECRET="$JWT_SECRET_VALUE" JWT_REFRESH_SECRET="$JWT_REFRESH_SECRET_VALUE" \
    FRONTEND_ORIGIN="$ORIGIN" BCRYPT_COST="$BCRYPT_COST" \
    node "$REPO/benches/peer/server.js"
}

# Runs `command...` (a function that execs the server) in the background;
# sets STARTED_PID and READY_MS (spawn to first 200 from /health/ready).
launch() { # name port command...
  local name=$1 port=$2 t0
  shift 2
  t0=$(now_ns)
  ("$@") >"$WORK/$name.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_ready "$port" "$STARTED_PID" || { tail -20 "$WORK/$name.log" >&2; die "$name did not become ready"; }
  READY_MS=$((($(now_ns) - t0) / 1000000))
}

start_server() { # name bin port sqlite_path
  launch "$1" "$3" server_env "$3" "$4" "$2"
}

start_peer() { # name key_mode port
  launch "$1" "$3" peer_env "$3" "$2"
}

# Peak RSS per scenario: writing 5 to clear_refs resets VmHWM (Linux >= 4.0).
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# CPU used by other processes (the machine may be shared): all CPU time the
# kernel counted in a window (/proc/stat, incl. steal) minus what the given
# servers and this script's finished children (wrk, curl, ...) used, in
# cores. `times` runs in this shell itself: a subshell knows no children.
HZ=$(getconf CLK_TCK)
cpu_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
pid_ticks() { # pids...: utime + stime (every thread)
  local pid total=0
  for pid in "$@"; do
    total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}
children_ticks() { # of the `times` output saved by the caller (no subshell)
  awk -v hz="$HZ" 'NR == 2 {
    for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
    printf "%d\n", s * hz }' "$WORK/times"
}
cpu_mark() { # pids...
  MARK_PIDS=("$@")
  MARK_BUSY=$(cpu_busy)
  times >"$WORK/times"
  MARK_OWN=$(($(pid_ticks "$@") + $(children_ticks)))
  MARK_T=$(now_ns)
}
cpu_other() { # sets OTHER (cores used by other processes since cpu_mark)
  local busy own
  busy=$(($(cpu_busy) - MARK_BUSY))
  times >"$WORK/times"
  own=$(($(pid_ticks "${MARK_PIDS[@]}") + $(children_ticks) - MARK_OWN))
  OTHER=$(awk -v b="$busy" -v o="$own" -v hz="$HZ" -v ns="$(($(now_ns) - MARK_T))" \
    'BEGIN { x = (b - o) / hz / (ns / 1e9); printf "%.2f", (x < 0 ? 0 : x) }')
}

# ----- HTTP helpers ----------------------------------------------------------

api() { echo "http://127.0.0.1:$1"; }

register() { # port email
  local code
  code=$(curl -s -o "$WORK/register.out" -w '%{http_code}' --max-time 30 \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"Bench User\",\"email\":\"$2\",\"password\":\"$LOGIN_PASSWORD\"}" \
    "$(api "$1")/api/auth/register")
  [ "$code" = 201 ] || die "register $2: HTTP $code $(cat "$WORK/register.out")"
}

# Logs in; prints "<access token> <refresh token>" from the Set-Cookie headers.
login_tokens() { # port email
  curl -s -D - -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
    -d "{\"email\":\"$2\",\"password\":\"$LOGIN_PASSWORD\"}" "$(api "$1")/api/auth/login" |
    tr -d '\r' | awk '
      tolower($1) == "set-cookie:" {
        split($2, kv, "="); v = substr($2, length(kv[1]) + 2); sub(/;$/, "", v)
        if (kv[1] == "accessToken") a = v; else if (kv[1] == "refreshToken") r = v
      }
      END { if (a == "" || r == "") exit 1; print a, r }'
}

# One login per refresh connection; their refresh tokens, one a line, in
# $WORK/refresh-tokens (refresh.lua's thread i follows the chain of line i).
refresh_tokens() { # port
  local i refresh
  : >"$WORK/refresh-tokens"
  for ((i = 0; i < REFRESH_CONNECTIONS; i++)); do
    read -r _ refresh < <(login_tokens "$1" "$LOGIN_EMAIL") || die "login on port $1 failed"
    echo "$refresh" >>"$WORK/refresh-tokens"
  done
}

# Waits until the bcrypt pool has worked off what a scenario left queued (a
# client that went away does not take its job out of the queue): one login
# answered 200 was queued behind all of it. Bounded by count and time.
drain_logins() { # port
  local i code deadline
  deadline=$(($(now_ns) + 60000000000))
  for ((i = 0; i < 120; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
      -d "{\"email\":\"$LOGIN_EMAIL\",\"password\":\"$LOGIN_PASSWORD\"}" "$(api "$1")/api/auth/login" || true)
    [ "$code" = 200 ] && return 0
    [ "$(now_ns)" -lt "$deadline" ] || break
    sleep 0.5
  done
  die "the bcrypt pool did not drain after a login scenario (last answer: HTTP $code)"
}

reuse_detections() { # port
  curl -s --max-time 5 "$(api "$1")/metrics" |
    awk '/^tokengate_auth_events_total\{event="reuse_detected"\}/ { n = $2 } END { print n + 0 }'
}

# ----- wrk -------------------------------------------------------------------

export BENCH_LUA_DIR="$REPO/benches/wrk"
export BENCH_ORIGIN="$ORIGIN"
export BENCH_LOGIN_EMAIL="$LOGIN_EMAIL"
export BENCH_LOGIN_PASSWORD="$LOGIN_PASSWORD"

# Runs wrk (bounded by its -d and a hard timeout); prints its BENCH line.
run_wrk() { # name seconds wrk-args...
  local name=$1 seconds=$2
  shift 2
  timeout -k 5 $((seconds + 60)) wrk --timeout 30s -d "${seconds}s" "$@" >"$WORK/$name.wrk" 2>&1 ||
    { cat "$WORK/$name.wrk" >&2; die "wrk $name failed"; }
  grep '^BENCH ' "$WORK/$name.wrk" || { cat "$WORK/$name.wrk" >&2; die "wrk $name printed no summary"; }
}

field() { # "BENCH k=v ..." key
  awk -v k="$2" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' <<<"$1"
}

# ----- the run ---------------------------------------------------------------

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_TOTAL=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
log "machine: $(nproc) cores, $CPU_MODEL, $MEM_TOTAL; $DURATION s per scenario"

log "raw bcrypt-verify rate, all cores, cost $BCRYPT_COST"
cpu_mark
BCRYPT_LINE=$(timeout -k 5 $((DURATION + 60)) "$BCRYPT_BIN" "$BCRYPT_COST" "$DURATION")
cpu_other
BCRYPT_OTHER=$OTHER
BCRYPT_RATE=$(field "BENCH $BCRYPT_LINE" rate)

log "starting the service on a fresh SQLite file"
SERVICE_PORT=$(free_port)
start_server service "$SERVICE_BIN" "$SERVICE_PORT" "$WORK/bench.sqlite"
SERVICE_PID=$STARTED_PID
READY_FRESH_MS=$READY_MS
log "ready after $READY_FRESH_MS ms"

register "$SERVICE_PORT" "$LOGIN_EMAIL"
read -r ACCESS _ < <(login_tokens "$SERVICE_PORT" "$LOGIN_EMAIL") || die "login failed"

log "reference server (verify an HS256 cookie, small JSON)"
REFERENCE_PORT=$(free_port)
start_server reference "$REFERENCE_BIN" "$REFERENCE_PORT" "$WORK/unused.sqlite"
REFERENCE_PID=$STARTED_PID
reset_peak "$REFERENCE_PID"
cpu_mark "$REFERENCE_PID" "$SERVICE_PID"
REF=$(run_wrk reference "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/current_user.lua" \
  "$(api "$REFERENCE_PORT")" -- "$ACCESS")
cpu_other
REF_OTHER=$OTHER
REF_PEAK=$(status_kib "$REFERENCE_PID" VmHWM)

log "reference server, GET /hello (bare actix)"
cpu_mark "$REFERENCE_PID" "$SERVICE_PID"
HELLO=$(run_wrk reference-hello "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/get.lua" \
  "$(api "$REFERENCE_PORT")/hello")
cpu_other
HELLO_OTHER=$OTHER
stop_pid "$REFERENCE_PID"

log "current-user (cookie JWT + store read)"
reset_peak "$SERVICE_PID"
cpu_mark "$SERVICE_PID"
CU=$(run_wrk current-user "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/current_user.lua" \
  "$(api "$SERVICE_PORT")" -- "$ACCESS")
cpu_other
CU_OTHER=$OTHER
CU_PEAK=$(status_kib "$SERVICE_PID" VmHWM)

log "GET /health/live"
cpu_mark "$SERVICE_PID"
LIVE=$(run_wrk health-live "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/get.lua" \
  "$(api "$SERVICE_PORT")/health/live")
cpu_other
LIVE_OTHER=$OTHER

log "refresh ($REFRESH_CONNECTIONS cookie chains)"
refresh_tokens "$SERVICE_PORT"
REUSE_BEFORE=$(reuse_detections "$SERVICE_PORT")
reset_peak "$SERVICE_PID"
cpu_mark "$SERVICE_PID"
RF=$(BENCH_REFRESH_TOKENS="$WORK/refresh-tokens" run_wrk refresh "$DURATION" \
  -t"$REFRESH_CONNECTIONS" -c"$REFRESH_CONNECTIONS" -s "$BENCH_LUA_DIR/refresh.lua" "$(api "$SERVICE_PORT")")
cpu_other
RF_OTHER=$OTHER
RF_PEAK=$(status_kib "$SERVICE_PID" VmHWM)
REUSE=$(($(reuse_detections "$SERVICE_PORT") - REUSE_BEFORE))

log "current-user with EdDSA access tokens (JWT_ALGORITHM=EdDSA)"
EDDSA_PORT=$(free_port)
BENCH_JWT_ALGORITHM=EdDSA start_server service-eddsa "$SERVICE_BIN" "$EDDSA_PORT" "$WORK/eddsa.sqlite"
EDDSA_PID=$STARTED_PID
register "$EDDSA_PORT" "$LOGIN_EMAIL"
read -r EDDSA_ACCESS _ < <(login_tokens "$EDDSA_PORT" "$LOGIN_EMAIL") || die "EdDSA login failed"
cpu_mark "$EDDSA_PID"
CUE=$(run_wrk current-user-eddsa "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/current_user.lua" \
  "$(api "$EDDSA_PORT")" -- "$EDDSA_ACCESS")
cpu_other
CUE_OTHER=$OTHER
stop_pid "$EDDSA_PID"

log "refresh with its per-IP limit in the store (RATE_LIMIT_REFRESH_SHARED=true)"
SHARED_PORT=$(free_port)
BENCH_REFRESH_SHARED=true start_server service-shared-refresh "$SERVICE_BIN" "$SHARED_PORT" "$WORK/shared.sqlite"
SHARED_PID=$STARTED_PID
register "$SHARED_PORT" "$LOGIN_EMAIL"
refresh_tokens "$SHARED_PORT"
cpu_mark "$SHARED_PID"
RFS=$(BENCH_REFRESH_TOKENS="$WORK/refresh-tokens" run_wrk refresh-shared "$DURATION" \
  -t"$REFRESH_CONNECTIONS" -c"$REFRESH_CONNECTIONS" -s "$BENCH_LUA_DIR/refresh.lua" "$(api "$SHARED_PORT")")
cpu_other
RFS_OTHER=$OTHER
stop_pid "$SHARED_PID"

log "login (bcrypt cost $BCRYPT_COST, $LOGIN_CONNECTIONS connections)"
reset_peak "$SERVICE_PID"
cpu_mark "$SERVICE_PID"
LG=$(run_wrk login "$DURATION" -t1 -c"$LOGIN_CONNECTIONS" -s "$BENCH_LUA_DIR/login.lua" "$(api "$SERVICE_PORT")")
cpu_other
LG_OTHER=$OTHER
LG_PEAK=$(status_kib "$SERVICE_PID" VmHWM)

# Login bursts: every connection logs in (one shared account, right
# password: no failure budget is spent) and again as soon as it has an
# answer, 200, 503 or anything else, for the scenario's duration.
BURSTS=()
for conns in "${BURST_CONNECTIONS[@]}"; do
  log "login burst ($conns connections that do not back off)"
  drain_logins "$SERVICE_PORT"
  reset_peak "$SERVICE_PID"
  cpu_mark "$SERVICE_PID"
  line=$(run_wrk "login-burst-$conns" "$DURATION" -t1 -c"$conns" -s "$BENCH_LUA_DIR/login.lua" \
    "$(api "$SERVICE_PORT")")
  cpu_other
  BURSTS+=("$conns|$line|$(status_kib "$SERVICE_PID" VmHWM)|$OTHER")
done
drain_logins "$SERVICE_PORT"
BURST_ROWS=$(printf '%s\n' "${BURSTS[@]}")

log "current-user under a login flood ($FLOOD_CONNECTIONS login connections)"
read -r ACCESS _ < <(login_tokens "$SERVICE_PORT" "$LOGIN_EMAIL") || die "login failed"
reset_peak "$SERVICE_PID"
cpu_mark "$SERVICE_PID"
FLOOD_SECONDS=$((DURATION + 4))
run_wrk login-flood "$FLOOD_SECONDS" -t1 -c"$FLOOD_CONNECTIONS" -s "$BENCH_LUA_DIR/login.lua" \
  "$(api "$SERVICE_PORT")" >"$WORK/flood.line" &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
sleep 2 # let the flood fill the bcrypt pool first
CF=$(run_wrk current-user-flood "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/current_user.lua" \
  "$(api "$SERVICE_PORT")" -- "$ACCESS")
wait "$FLOOD_PID" || die "the login flood failed"
LF=$(cat "$WORK/flood.line")
cpu_other
CF_OTHER=$OTHER
CF_PEAK=$(status_kib "$SERVICE_PID" VmHWM)
stop_pid "$SERVICE_PID"

log "3 instances on one store: wrong passwords for one email, 60 at once, round-robin"
INSTANCE_PORTS=()
for i in 1 2 3; do
  port=$(free_port)
  BENCH_FAILURE_LIMIT=10 start_server "instance-$i" "$SERVICE_BIN" "$port" "$WORK/instances.sqlite"
  INSTANCE_PORTS+=("$port")
done
register "${INSTANCE_PORTS[0]}" "$LOGIN_EMAIL"
FAILURES_ADMITTED=$(python3 - "${INSTANCE_PORTS[@]}" <<'PY'
import json, sys, threading, urllib.error, urllib.request
ports = sys.argv[1:]
statuses, lock = [], threading.Lock()
def guess(i):
    req = urllib.request.Request(
        f"http://127.0.0.1:{ports[i % len(ports)]}/api/auth/login",
        json.dumps({"email": "bench@example.com", "password": f"wrong guess {i}"}).encode(),
        {"Content-Type": "application/json"})
    try:
        code = urllib.request.urlopen(req, timeout=60).status
    except urllib.error.HTTPError as e:
        code = e.code
    with lock:
        statuses.append(code)
threads = [threading.Thread(target=guess, args=(i,)) for i in range(60)]
for t in threads: t.start()
for t in threads: t.join()
print(statuses.count(401), statuses.count(429), len(statuses) - statuses.count(401) - statuses.count(429))
PY
)
for pid in "${PIDS[@]: -3}"; do stop_pid "$pid"; done

# The Node.js peer (issue 17), both ways of handing it its JWT secrets, the
# same scenarios as the service's with the same wrk scripts and parameters.
# One row per scenario: "peer name|scenario|BENCH ...|peak KiB|other CPU".
PEER=()
for mode in string keyobject; do
  name=peer
  [ "$mode" = string ] || name="peer-$mode"
  log "$name: current-user, refresh ($REFRESH_CONNECTIONS cookie chains), login"
  port=$(free_port)
  start_peer "$name" "$mode" "$port"
  pid=$STARTED_PID
  register "$port" "$LOGIN_EMAIL"
  read -r access _ < <(login_tokens "$port" "$LOGIN_EMAIL") || die "$name: login failed"
  reset_peak "$pid"
  cpu_mark "$pid"
  line=$(run_wrk "$name-current-user" "$DURATION" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/current_user.lua" \
    "$(api "$port")" -- "$access")
  cpu_other
  PEER+=("$name|current-user|$line|$(status_kib "$pid" VmHWM)|$OTHER")
  refresh_tokens "$port"
  reset_peak "$pid"
  cpu_mark "$pid"
  line=$(BENCH_REFRESH_TOKENS="$WORK/refresh-tokens" run_wrk "$name-refresh" "$DURATION" \
    -t"$REFRESH_CONNECTIONS" -c"$REFRESH_CONNECTIONS" -s "$BENCH_LUA_DIR/refresh.lua" "$(api "$port")")
  cpu_other
  PEER+=("$name|refresh|$line|$(status_kib "$pid" VmHWM)|$OTHER")
  reset_peak "$pid"
  cpu_mark "$pid"
  line=$(run_wrk "$name-login" "$DURATION" -t1 -c"$LOGIN_CONNECTIONS" -s "$BENCH_LUA_DIR/login.lua" "$(api "$port")")
  cpu_other
  PEER+=("$name|login|$line|$(status_kib "$pid" VmHWM)|$OTHER")
  stop_pid "$pid"
done
PEER_ROWS=$(printf '%s\n' "${PEER[@]}")

log "the big store: $SESSIONS sessions, against the store of the runs above"
# The baseline for the big-store rows is measured the same way, in the same
# stretch of time: a fresh process, a login, current-user, 8 logins, refresh,
# rounds alternating between the two stores. The rows above are no baseline
# for this: they ran in a process warmed by other scenarios, for longer, at
# another time, and a 5 s row on this machine moves by 15 % from one process
# to the next (fourth wave: the 1M rows fell to 0.69-0.83 x the main row
# while the server's CPU per request was the same on both stores).
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
  "$WORK/bench.sqlite" "$WORK/small.sqlite"
# The schema is the service's own (it created the file above); the rows go
# straight into the file: users sharing the bench user's bcrypt hash, each
# with its report setting, and live sessions spread over them.
python3 - "$WORK/bench.sqlite" "$SESSIONS" "$LOGIN_EMAIL" <<'PY'
import sqlite3, sys, time, uuid
path, target, email = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = sqlite3.connect(path)
db.execute("PRAGMA foreign_keys = ON")
(hash_,) = db.execute("SELECT password_hash FROM users WHERE email = ?", (email,)).fetchone()
now = int(time.time() * 1000)
week = 7 * 86400 * 1000
per_user = 10
have = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
missing = max(0, target - have)
users = [str(uuid.uuid4()) for _ in range((missing + per_user - 1) // per_user)]
with db:
    db.executemany(
        "INSERT INTO users (id, name, email, password_hash, profile_picture, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, NULL, ?, ?)",
        ((u, f"Bench User {i}", f"bench{i}@example.com", hash_, now, now) for i, u in enumerate(users)))
    db.executemany(
        "INSERT INTO report_settings (id, user_id, frequency, is_enabled, updated_at)"
        " VALUES (?, ?, 'MONTHLY', 1, ?)",
        ((str(uuid.uuid4()), u, now) for u in users))
    db.executemany(
        "INSERT INTO sessions (id, user_id, current_jti, current_issued_at, previous_jti, rotated_at,"
        " created_at, last_used_at, expires_at, user_agent, ip, revoked_at)"
        " VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, 'Mozilla/5.0 (X11; Linux x86_64) bench', '127.0.0.1', NULL)",
        ((str(uuid.uuid4()), users[i // per_user], str(uuid.uuid4()), now, now, now, now + week)
         for i in range(missing)))
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
PY
count_sessions() { # sqlite_path
  python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sessions").fetchone()[0])' "$1"
}
SESSIONS_IN_STORE=$(count_sessions "$WORK/bench.sqlite")
SMALL_SESSIONS=$(count_sessions "$WORK/small.sqlite")
DB_MIB=$(du -m "$WORK/bench.sqlite" | cut -f1)
BIG_SECONDS=$(((DURATION + 1) / 2))
# One round on one store; adds to STORE_ROUNDS "store|ready ms|BENCH
# current-user|server CPU ticks|BENCH refresh|server CPU ticks|peak KiB|idle
# KiB|other CPU".
STORE_ROUNDS=()
store_round() { # store sqlite_path
  local cu rf cu_ticks rf_ticks pid access idle
  start_server "store-$1" "$SERVICE_BIN" "$SERVICE_PORT" "$2"
  pid=$STARTED_PID
  read -r access _ < <(login_tokens "$SERVICE_PORT" "$LOGIN_EMAIL") || die "login on the $1 store failed"
  cpu_mark "$pid"
  cu_ticks=$(pid_ticks "$pid")
  cu=$(run_wrk "$1-current-user" "$BIG_SECONDS" -t2 -c"$CONNECTIONS" -s "$BENCH_LUA_DIR/current_user.lua" \
    "$(api "$SERVICE_PORT")" -- "$access")
  cu_ticks=$(($(pid_ticks "$pid") - cu_ticks))
  refresh_tokens "$SERVICE_PORT"
  rf_ticks=$(pid_ticks "$pid")
  rf=$(BENCH_REFRESH_TOKENS="$WORK/refresh-tokens" run_wrk "$1-refresh" "$BIG_SECONDS" \
    -t"$REFRESH_CONNECTIONS" -c"$REFRESH_CONNECTIONS" -s "$BENCH_LUA_DIR/refresh.lua" "$(api "$SERVICE_PORT")")
  rf_ticks=$(($(pid_ticks "$pid") - rf_ticks))
  cpu_other
  sleep 2
  idle=$(status_kib "$pid" VmRSS)
  STORE_ROUNDS+=("$1|$READY_MS|$cu|$cu_ticks|$rf|$rf_ticks|$(status_kib "$pid" VmHWM)|$idle|$OTHER")
  stop_pid "$pid"
}
for round in 1 2; do
  store_round small "$WORK/small.sqlite"
  store_round big "$WORK/bench.sqlite"
done
STORE_ROWS=$(printf '%s\n' "${STORE_ROUNDS[@]}")

# ----- the table -------------------------------------------------------------

export REF CU CUE CUE_OTHER RF RFS RFS_OTHER LG LF CF STORE_ROWS SMALL_SESSIONS HZ BCRYPT_LINE BCRYPT_RATE REUSE BURST_ROWS \
  HELLO HELLO_OTHER LIVE LIVE_OTHER PEER_ROWS \
  REF_PEAK CU_PEAK RF_PEAK LG_PEAK CF_PEAK \
  REF_OTHER CU_OTHER RF_OTHER LG_OTHER CF_OTHER BCRYPT_OTHER \
  READY_FRESH_MS SESSIONS_IN_STORE DB_MIB FAILURES_ADMITTED \
  BCRYPT_COST REFRESH_CONNECTIONS LOGIN_CONNECTIONS FLOOD_CONNECTIONS CONNECTIONS
BCRYPT_THREADS=$(nproc) python3 - <<'PY'
import os

env = os.environ
def bench(line):  # "BENCH k=v ..." -> {k: v}
    return dict(kv.split("=", 1) for kv in line.split()[1:])

def run(name):
    return bench(env[name])

ref, cu, cue, rf, rfs, lg, lf, cf = (run(n) for n in ("REF", "CU", "CUE", "RF", "RFS", "LG", "LF", "CF"))
hello, live = run("HELLO"), run("LIVE")
bcrypt_rate = float(env["BCRYPT_RATE"])
reuse = int(env["REUSE"])
# "conns|BENCH ...|peak KiB|other CPU" per login burst.
bursts = []
for row in env["BURST_ROWS"].splitlines():
    conns, line, peak_kib, other = row.split("|")
    d = bench(line)
    seconds = float(d["seconds"])
    bursts.append({
        "conns": conns, "d": d, "peak_mib": int(peak_kib) / 1024, "other": other,
        "ok_rps": float(d["ok_rps"]), "shed_rps": int(d["shed"]) / seconds,
        "errors": int(d["other"]) + int(d["socket_errors"]),
        "of_bcrypt": float(d["ok_rps"]) / bcrypt_rate,
    })

# "peer name|scenario|BENCH ...|peak KiB|other CPU" per peer scenario.
peers = {}
for row in env["PEER_ROWS"].splitlines():
    name, scenario, line, peak_kib, other = row.split("|")
    d = bench(line)
    peers.setdefault(name, {})[scenario] = {"d": d, "peak_mib": int(peak_kib) / 1024, "other": other}

def mib(name):
    return int(env[name]) / 1024

def ms(us):
    return f"{int(us) / 1000:.2f} ms"

def errors(d, extra=0):
    return int(d["non2xx"]) + int(d["socket_errors"]) + extra

# The big store and its baseline, "store|ready ms|BENCH cu|ticks|BENCH rf|ticks|peak KiB|idle KiB|other"
# per round, rounds alternating; each store's figures are over all its rounds.
hz = int(env["HZ"])
stores = {}
for row in env["STORE_ROWS"].splitlines():
    store, ready_ms, cu_line, cu_ticks, rf_line, rf_ticks, peak_kib, idle_kib, other = row.split("|")
    stores.setdefault(store, []).append({
        "ready": int(ready_ms) / 1000, "cu": bench(cu_line), "cu_ticks": int(cu_ticks),
        "rf": bench(rf_line), "rf_ticks": int(rf_ticks), "peak_mib": int(peak_kib) / 1024,
        "idle_mib": int(idle_kib) / 1024, "other": float(other)})

def store_figures(rounds, scenario):
    requests = sum(int(r[scenario]["requests"]) for r in rounds)
    seconds = sum(float(r[scenario]["seconds"]) for r in rounds)
    cpu_s = sum(r[scenario + "_ticks"] for r in rounds) / hz
    return {
        "rps": requests / seconds, "rounds": [float(r[scenario]["rps"]) for r in rounds],
        "cpu_us": cpu_s * 1e6 / max(1, requests),
        "p50_us": max(int(r[scenario]["p50_us"]) for r in rounds),
        "p99_us": max(int(r[scenario]["p99_us"]) for r in rounds),
        "errors": sum(errors(r[scenario], int(r[scenario].get("broken", 0))) for r in rounds),
    }

big_rounds, small_rounds = stores["big"], stores["small"]
big_cu, big_rf = store_figures(big_rounds, "cu"), store_figures(big_rounds, "rf")
small_cu, small_rf = store_figures(small_rounds, "cu"), store_figures(small_rounds, "rf")
big_peak = max(r["peak_mib"] for r in big_rounds)
big_idle = max(r["idle_mib"] for r in big_rounds)
big_other = max(r["other"] for r in big_rounds + small_rounds)
ready_big = max(r["ready"] for r in big_rounds)

rf_errors = errors(rf, int(rf["broken"]))
cost, conns = env["BCRYPT_COST"], env["CONNECTIONS"]
n_sessions = env["SESSIONS_IN_STORE"]
rows = [
    ("reference server (verify cookie)", f"{float(ref['rps']):.0f}", ms(ref["p50_us"]), ms(ref["p99_us"]),
     str(errors(ref)), f"{mib('REF_PEAK'):.1f} MiB", env["REF_OTHER"],
     f"HS256 cookie check + small JSON, {conns} conns"),
    ("reference server, GET /hello", f"{float(hello['rps']):.0f}", ms(hello["p50_us"]), ms(hello["p99_us"]),
     str(errors(hello)), "-", env["HELLO_OTHER"], f"bare actix route, short text, {conns} conns"),
    ("current-user", f"{float(cu['rps']):.0f}", ms(cu["p50_us"]), ms(cu["p99_us"]),
     str(errors(cu)), f"{mib('CU_PEAK'):.1f} MiB", env["CU_OTHER"], f"cookie JWT + store read, {conns} conns"),
    ("GET /health/live", f"{float(live['rps']):.0f}", ms(live["p50_us"]), ms(live["p99_us"]),
     str(errors(live)), "-", env["LIVE_OTHER"], f"touches nothing; {conns} conns"),
    ("current-user, EdDSA tokens", f"{float(cue['rps']):.0f}", ms(cue["p50_us"]), ms(cue["p99_us"]),
     str(errors(cue)), "-", env["CUE_OTHER"],
     f"JWT_ALGORITHM=EdDSA: {float(cue['rps']) / float(cu['rps']):.2f} x current-user with HS256"),
    ("verify", "-", "-", "-", "-", "-", "-",
     "skipped: every protected route of the service reads the store"),
    ("refresh", f"{float(rf['rps']):.0f}", ms(rf["p50_us"]), ms(rf["p99_us"]),
     str(rf_errors), f"{mib('RF_PEAK'):.1f} MiB", env["RF_OTHER"],
     f"{env['REFRESH_CONNECTIONS']} cookie chains; reuse detections: {reuse}"),
    ("refresh, per-IP limit in the store", f"{float(rfs['rps']):.0f}", ms(rfs["p50_us"]), ms(rfs["p99_us"]),
     str(errors(rfs, int(rfs["broken"]))), "-", env["RFS_OTHER"],
     f"RATE_LIMIT_REFRESH_SHARED=true: {float(rfs['rps']) / float(rf['rps']):.2f} x the per-process limit"),
    ("login", f"{float(lg['ok_rps']):.2f}", ms(lg["p50_us"]), ms(lg["p99_us"]),
     str(int(lg["other"]) + int(lg["socket_errors"])), f"{mib('LG_PEAK'):.1f} MiB", env["LG_OTHER"],
     f"bcrypt cost {cost}, {env['LOGIN_CONNECTIONS']} conns; shed (503): {lg['shed']}"),
    ("current-user under login flood", f"{float(cf['rps']):.0f}", ms(cf["p50_us"]), ms(cf["p99_us"]),
     str(errors(cf)), f"{mib('CF_PEAK'):.1f} MiB", env["CF_OTHER"], "while the flood below runs"),
    ("login flood", f"{float(lf['ok_rps']):.2f}", ms(lf["p50_us"]), ms(lf["p99_us"]),
     str(int(lf["other"]) + int(lf["socket_errors"])), "(same)", "(same)",
     f"{env['FLOOD_CONNECTIONS']} conns; shed (503): {lf['shed']}; longest {ms(lf['max_us'])}"),
] + [
    (f"login burst, {b['conns']} conns", f"{b['ok_rps']:.2f}", ms(b["d"]["p50_us"]), ms(b["d"]["p99_us"]),
     str(b["errors"]), f"{b['peak_mib']:.1f} MiB", b["other"],
     f"503/s: {b['shed_rps']:.1f}; {b['of_bcrypt']:.2f} x raw bcrypt; longest {ms(b['d']['max_us'])}")
    for b in bursts
] + [
    ("raw bcrypt verify, all cores", f"{bcrypt_rate:.2f}", "-", "-", "0", "-", env["BCRYPT_OTHER"],
     env["BCRYPT_LINE"]),
] + [
    (f"{label}: {name}", f"{f['rps']:.0f}", ms(f["p50_us"]), ms(f["p99_us"]), str(f["errors"]), peak, other,
     f"rounds {' / '.join(f'{x:.0f}' for x in f['rounds'])}; server CPU {f['cpu_us']:.0f} us/request{extra}")
    for label, figures, peak, other, extra in (
        (f"{env['SMALL_SESSIONS']} sessions", (small_cu, small_rf),
         f"{max(r['peak_mib'] for r in small_rounds):.1f} MiB", f"{big_other:.2f}", ""),
        (f"{n_sessions} sessions", (big_cu, big_rf), f"{big_peak:.1f} MiB", "(same)",
         f"; store file {env['DB_MIB']} MiB"),
    )
    for name, f in zip(("current-user", "refresh"), figures)
]
for name, runs in peers.items():
    c, r, l = runs["current-user"], runs["refresh"], runs["login"]
    rows += [
        (f"{name}: current-user", f"{float(c['d']['rps']):.0f}", ms(c["d"]["p50_us"]), ms(c["d"]["p99_us"]),
         str(errors(c["d"])), f"{c['peak_mib']:.1f} MiB", c["other"], f"Node.js, one process; {conns} conns"),
        (f"{name}: refresh", f"{float(r['d']['rps']):.0f}", ms(r["d"]["p50_us"]), ms(r["d"]["p99_us"]),
         str(errors(r["d"], int(r["d"]["broken"]))), f"{r['peak_mib']:.1f} MiB", r["other"],
         f"{env['REFRESH_CONNECTIONS']} cookie chains"),
        (f"{name}: login", f"{float(l['d']['ok_rps']):.2f}", ms(l["d"]["p50_us"]), ms(l["d"]["p99_us"]),
         str(int(l["d"]["other"]) + int(l["d"]["socket_errors"])), f"{l['peak_mib']:.1f} MiB", l["other"],
         f"bcryptjs cost {cost}, {env['LOGIN_CONNECTIONS']} conns; shed (503): {l['d']['shed']}"),
    ]
head = ("scenario", "req/s", "p50", "p99", "errors", "peak RSS", "other CPU", "notes")
left = (0, 5, 7)
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
def line(r):
    return "| " + " | ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))) + " |"
print()
print(line(head))
print("|" + "|".join("-" * (w + 2) if i in left else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
for r in rows:
    print(line(r))
print()
print("req/s of login rows: successful logins per second. errors: non-2xx answers other than")
print("the 503s of shedding, socket errors, and refreshes that broke their cookie chain.")
print("login bursts: every connection logs in again as soon as it has an answer; p50/p99 over")
print("all answers (503s included); x raw bcrypt: successful logins/s over the raw rate below.")
print("other CPU: cores used meanwhile by processes outside this benchmark (a shared machine).")
print("peer, peer-keyobject: the Node.js peer (benches/peer), JWT secrets as strings or as KeyObjects.")

cu_rps, ref_rps = float(cu["rps"]), float(ref["rps"])
peak = max([mib(k) for k in ("CU_PEAK", "RF_PEAK", "LG_PEAK", "CF_PEAK")] + [b["peak_mib"] for b in bursts])
# A login admitted during the flood runs its own bcrypt at the flood's pace:
# each thread finishes one job per (threads / successful logins per second).
flood_ok = float(lf["ok_rps"])
job_s = int(env["BCRYPT_THREADS"]) / flood_ok if flood_ok > 0 else 0.0
queued_s = max(0.0, int(lf["max_us"]) / 1e6 - job_s)
ready_fresh = int(env["READY_FRESH_MS"]) / 1000
admitted, refused, others_statuses = (int(x) for x in env["FAILURES_ADMITTED"].split())
targets = [
    ("current-user / reference req/s", cu_rps / ref_rps, ">= 0.7", cu_rps / ref_rps >= 0.7),
    ("/health/live / reference hello req/s", float(live["rps"]) / float(hello["rps"]), ">= 0.8",
     float(live["rps"]) / float(hello["rps"]) >= 0.8),
    ("current-user with EdDSA / reference req/s", float(cue["rps"]) / ref_rps, ">= 0.4",
     float(cue["rps"]) / ref_rps >= 0.4),
    ("refresh / reference req/s", float(rf["rps"]) / ref_rps, ">= 0.2", float(rf["rps"]) / ref_rps >= 0.2),
    ("refresh errors, reuse detections", f"{rf_errors}, {reuse}", "0, 0", rf_errors == 0 and reuse == 0),
    ("login / raw bcrypt-verify rate", float(lg["ok_rps"]) / bcrypt_rate, ">= 0.9",
     float(lg["ok_rps"]) / bcrypt_rate >= 0.9),
    ("flood: current-user req/s / idle req/s", float(cf["rps"]) / cu_rps, ">= 0.25",
     float(cf["rps"]) / cu_rps >= 0.25),
    ("flood: current-user p99 / idle p99", int(cf["p99_us"]) / max(1, int(cu["p99_us"])), "<= 10",
     int(cf["p99_us"]) / max(1, int(cu["p99_us"])) <= 10),
    ("flood: logins shed with 503", int(lf["shed"]), "> 0", int(lf["shed"]) > 0),
    # Logins are admitted while their expected wait is within
    # LOGIN_MAX_QUEUE_WAIT (5 s): that, plus slack for the estimate.
    ("flood: longest login minus its own bcrypt (s)", queued_s, "< 6 (LOGIN_MAX_QUEUE_WAIT + 1)",
     queued_s < 6),
] + [
    (f"burst of {b['conns']}: successful logins/s / raw bcrypt-verify rate", b["of_bcrypt"], ">= 0.8",
     b["of_bcrypt"] >= 0.8)
    for b in bursts
] + [
    ("3 instances: wrong-password verdicts for one email, 60 at once", admitted,
     "<= 10 (the limit; the rest 429)", admitted <= 10 and others_statuses == 0),
    ("peak RSS under load (MiB)", peak, "<= 64", peak <= 64),
    (f"idle RSS with {n_sessions} sessions (MiB)", big_idle, "<= 64", big_idle <= 64),
    (f"peak RSS with {n_sessions} sessions (MiB)", big_peak, "<= 64", big_peak <= 64),
    (f"current-user with {n_sessions} sessions / with {env['SMALL_SESSIONS']}, same rounds",
     big_cu["rps"] / small_cu["rps"], ">= 0.9", big_cu["rps"] / small_cu["rps"] >= 0.9),
    (f"refresh with {n_sessions} sessions / with {env['SMALL_SESSIONS']}, same rounds",
     big_rf["rps"] / small_rf["rps"], ">= 0.9", big_rf["rps"] / small_rf["rps"] >= 0.9),
    ("ready after start, fresh store (s)", ready_fresh, "<= 0.5", ready_fresh <= 0.5),
    (f"ready after start, {n_sessions} sessions (s)", ready_big, "<= 0.5", ready_big <= 0.5),
]
print()
print("| target | measured | goal | met |")
print("|---|---:|---|---|")
for name, value, goal, met in targets:
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"| {name} | {shown} | {goal} | {'yes' if met else 'NO'} |")

# tokengate / peer: the same scenario, same wrk parameters, in this run.
print()
names = list(peers)
print("| scenario | " + " | ".join(f"tokengate / {n}" for n in names) + " |")
print("|---|" + "---:|" * len(names))
for label, scenario, ours, key in (("current-user req/s", "current-user", cu, "rps"),
                                   ("refresh req/s", "refresh", rf, "rps"),
                                   ("login: successful logins/s", "login", lg, "ok_rps")):
    cells = []
    for name in names:
        theirs = float(peers[name][scenario]["d"][key])
        cells.append(f"{float(ours[key]) / theirs:.2f}" if theirs > 0 else "-")
    print(f"| {label} | " + " | ".join(cells) + " |")

others = [float(env[k]) for k in ("REF_OTHER", "HELLO_OTHER", "CU_OTHER", "LIVE_OTHER", "RF_OTHER", "LG_OTHER",
                                  "CF_OTHER", "BCRYPT_OTHER")] + [big_other] + [float(b["other"]) for b in bursts] + \
    [float(run["other"]) for runs in peers.values() for run in runs.values()]
if max(others) > 0.1:
    print()
    print(f"warning: other processes used up to {max(others):.2f} cores during a scenario;")
    print("the ratios compare scenarios that did not see the same machine. Run again when it is quiet.")
PY
