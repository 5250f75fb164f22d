#!/usr/bin/env bash
# The benchmark: Confidant's SFU against a plain forwarding relay and against Janus, under the
# same load, in one run; writes BENCHMARKS.md.
#
# For every scenario the load generator (confidant-loadgen, release build) runs the same
# participants with the same media three times, one run after the other:
#   sfu        through a fresh `confidant` server: signalling, ICE, DTLS, SRTP, the str0m SFU;
#   raw-relay  through `confidant-loadgen relay`, one thread copying every datagram to the other
#              members of its room with no WebRTC at all: the baseline;
#   raw-relay-gso  (information) the same relay with batched I/O (`relay --gso`: recvmmsg bursts
#              in, each member's share of a burst out in UDP GSO sends): the physical limit a
#              forwarder could approach;
#   janus      through a fresh Janus 1.1 (Debian package `janus`, installed with apt-get when
#              missing; its packaged config and service are never used), videoroom plugin and
#              HTTP transport only, driven by the generator through Janus's own API. Janus never
#              uses loopback for ICE, so this script makes two network namespaces joined by a
#              veth pair on private addresses of its own (10.231.0.1/30 for Janus, .2 for the
#              generator) and removes them on exit; no test traffic leaves them or loopback.
#              Needs root (ip netns); without it the janus runs are skipped and say why.
# BENCHMARKS.md gets the machine, date, commit and command, each run's raw numbers, and the
# ratios of the two runs, which is what the numbers mean: absolute values depend on the machine.
#
# On a machine with two or more cores the forwarder (server or relay) is pinned to core 0 and
# the generator to the others, so both forwarders get the same single core.
#
# Bounds: every run (start of its forwarder to the generator's report) is killed after
# BENCH_RUN_LIMIT seconds (60); no run starts once BENCH_TOTAL_LIMIT seconds (1300) have passed
# since the script started, so the whole script, release build included, ends within about
# 22 minutes plus one run (a cold release build can take longer on a small machine: it is not
# killed, but then no scenario runs and BENCHMARKS.md says so).
#
# Environment:
#   BENCH_SCENARIOS    "NAME[:ROOMS] ..." (default: one-to-one:10 group5:3 audio50:1 talk200:1;
#                      empty: none, for a churn-only run)
#   BENCH_HEADLINE     scenario of the first table (default: the heaviest that every system ran
#                      without loss or failure)
#   BENCH_MODES        systems to run (default "sfu raw-relay raw-relay-gso janus")
#   BENCH_DURATION     measurement window per run, seconds (default 15)
#   BENCH_OUT          report file (default BENCHMARKS.md at the repository root)
#   BENCH_CHURN_CYCLES join/leave cycles of the churn run, over 4 rooms (default 10000; 0: no
#                      churn run)
#   BENCH_CHURN_LIMIT  seconds the churn run may take (default 480)
#   BENCH_PROFILE      scenarios run once more each through Confidant under `perf record`, after
#                      the measured runs (recording DWARF call chains costs the server enough to
#                      change what is measured); their profiles split the measured CPU per
#                      forwarded packet into system calls, str0m and Confidant's own code
#                      (default "group5 talk200"; empty: none; skipped when perf is missing or
#                      not allowed, or a scenario is not in BENCH_SCENARIOS)
#   BENCH_KEEP_PERF    folder to copy each profiled run's perf.data to, as SCENARIO.perf.data
#                      (for `perf report --children`)
#   BENCH_SKIP_BUILD   1: use the release binaries already built
#   CARGO_TARGET_DIR   where cargo builds (as for cargo)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
START=$(date +%s)
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
COMMAND_LINE="scripts/bench.sh${*:+ $*}"

SCENARIOS="${BENCH_SCENARIOS-one-to-one:10 group5:3 audio50:1 talk200:1}"
DURATION="${BENCH_DURATION:-15}"
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
RUN_LIMIT="${BENCH_RUN_LIMIT:-60}"
TOTAL_LIMIT="${BENCH_TOTAL_LIMIT:-1300}"
HEADLINE="${BENCH_HEADLINE:-}"
MODES="${BENCH_MODES:-sfu raw-relay raw-relay-gso janus}"
CHURN_CYCLES="${BENCH_CHURN_CYCLES:-10000}"
CHURN_LIMIT="${BENCH_CHURN_LIMIT:-480}"
PROFILE="${BENCH_PROFILE-group5 talk200}"
# The Janus namespaces: Janus's end and the generator's end of the veth pair.
JANUS_NS="confidant-bench-janus-$$"
GEN_NS="confidant-bench-gen-$$"
JANUS_IF="cbj$$"
GEN_IF="cbg$$"
JANUS_IP="10.231.0.1"
GEN_IP="10.231.0.2"
JANUS_PORT=8088
JANUS_SKIP=""
NETNS_MADE=""
GEN_NETNS=()
EMAIL="bench@example.org"
PASSWORD="benchmark password $(date +%s%N)"

die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

for tool in python3 curl timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
[[ "$DURATION" =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 40 ] \
  || die "BENCH_DURATION must be 1..40 seconds (a run is limited to $RUN_LIMIT s)"

# Nothing from the caller's environment may redirect the server.
unset DATABASE_URL CONFIDANT_LISTEN CONFIDANT_PUBLIC_URL CONFIDANT_DATA_DIR CONFIDANT_SFU_BIND \
  CONFIDANT_SFU_ADVERTISE CONFIDANT_TURN_URLS CONFIDANT_SMTP_HOST CONFIDANT_MAX_PARTICIPANTS \
  CONFIDANT_MAX_LOBBY CONFIDANT_WS_MAX_PER_ADDRESS CONFIDANT_LOADGEN_EMAIL CONFIDANT_LOADGEN_PASSWORD

WORK="$(mktemp -d /tmp/confidant-bench.XXXXXX)"
CHILD=""
cleanup() {
  if [ -n "$CHILD" ]; then
    kill "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  if [ -n "$NETNS_MADE" ]; then
    # Deleting a namespace deletes the veth end inside it, and with it the pair.
    ip netns delete "$JANUS_NS" 2>/dev/null || true
    ip netns delete "$GEN_NS" 2>/dev/null || true
    ip link delete "$JANUS_IF" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# A signal ends the script through its EXIT trap, so the namespaces never outlive it.
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  echo "==> cargo build --release -p confidant -p confidant-loadgen"
  nice -n 19 cargo build --release -p confidant -p confidant-loadgen
fi
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
CONFIDANT="$TARGET_DIR/release/confidant"
LOADGEN="$TARGET_DIR/release/confidant-loadgen"
[ -x "$CONFIDANT" ] || die "no release build at $CONFIDANT"
[ -x "$LOADGEN" ] || die "no release build at $LOADGEN"

CORES="$(nproc)"
if [ "$CORES" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  FORWARDER_CPU=(taskset -c 0)
  GENERATOR_CPU=(taskset -c "1-$((CORES - 1))")
  THREADS=$((CORES - 1))
  if [ "$CORES" -eq 2 ]; then GENERATOR_CORES="core 1"; else GENERATOR_CORES="cores 1-$((CORES - 1))"; fi
  PINNING="forwarder (server or relay) on core 0, generator on $GENERATOR_CORES ($THREADS runtime thread(s))"
else
  FORWARDER_CPU=()
  GENERATOR_CPU=()
  THREADS=2
  PINNING="none (fewer than 2 cores or no taskset): forwarder and generator share the machine"
fi

free_port() { # $1: tcp or udp
  python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1] == 'tcp' else socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" "$1"
}

# Seconds left for a run that starts now.
run_budget() {
  local left=$((TOTAL_LIMIT - ($(date +%s) - START)))
  [ "$left" -gt 0 ] || { echo 0; return; }
  [ "$left" -lt "$RUN_LIMIT" ] && echo "$left" || echo "$RUN_LIMIT"
}

stop_child() {
  if [ -n "$CHILD" ]; then
    kill "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
    CHILD=""
  fi
}

# The generator, bounded by what is left of the run's limit. $1: result file stem; rest: args.
generate() {
  local stem="$1" run_start="$2"
  shift 2
  local left=$((RUN_LIMIT - ($(date +%s) - run_start)))
  [ "$left" -gt 5 ] || { echo 124 >"$stem.rc"; return; }
  local rc=0
  timeout -k 5 "$left" "${GEN_NETNS[@]}" "${GENERATOR_CPU[@]}" "$LOADGEN" "$@" \
    --duration "$DURATION" --warmup 2 --setup-timeout 20 --threads "$THREADS" --json --quiet \
    >"$stem.json" 2>"$stem.err" || rc=$?
  echo "$rc" >"$stem.rc"
}

run_sfu() { # $1 scenario, $2 rooms, $3 "profile" for the profiled extra run
  local kind="${3:-sfu}"
  local stem="$WORK/$1.$kind" data="$WORK/data-$1-$kind" run_start
  run_start=$(date +%s)
  local http udp
  http="$(free_port tcp)"
  udp="$(free_port udp)"
  printf '%s\n' "$PASSWORD" | "$CONFIDANT" --data-dir "$data" admin create-counsellor \
    --email "$EMAIL" --name "Bench" --password-stdin >/dev/null 2>&1 \
    || die "could not create the benchmark counsellor"
  RUST_LOG=warn "${FORWARDER_CPU[@]}" "$CONFIDANT" --data-dir "$data" \
    --listen "127.0.0.1:$http" --sfu-bind "127.0.0.1:$udp" --sfu-advertise 127.0.0.1 \
    --max-participants 256 --max-lobby 256 --ws-max-per-address 100000 >"$stem.server.log" 2>&1 &
  CHILD=$!
  local i
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$http/readyz" 2>/dev/null && break
    kill -0 "$CHILD" 2>/dev/null || break
    sleep 0.1
  done
  if curl -fsS -o /dev/null "http://127.0.0.1:$http/readyz" 2>/dev/null; then
    local perf_pid=""
    if [ "$kind" = profile ] && command -v perf >/dev/null 2>&1; then
      # The server's CPU over warm-up and window, sampled 499 times a second with call chains
      # unwound from DWARF (the release build has no frame pointers, so `-g` loses the Rust
      # callers and inclusive costs cannot be told).
      perf record -q -F 499 --call-graph dwarf,16384 -p "$CHILD" -o "$stem.perf.data" -- sleep "$((DURATION + 2))" \
        >"$stem.perf.log" 2>&1 &
      perf_pid=$!
    fi
    generate "$stem" "$run_start" --server "http://127.0.0.1:$http" --email "$EMAIL" \
      --password "$PASSWORD" --scenario "$1" --rooms "$2" --sfu-pid "$CHILD" "${CHURN_ARGS[@]}"
    if [ -n "$perf_pid" ]; then
      wait "$perf_pid" 2>/dev/null || true
      # Flat profile by self time (where the cycles are spent), then by shared object.
      perf report -q -i "$stem.perf.data" --no-children -g none --sort dso,symbol --percent-limit 0.8 \
        --stdio 2>/dev/null | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]*$//; s/[[:space:]]{3,}/   /g' \
        | grep -v '^$' | head -n 40 >"$stem.profile" || true
      perf report -q -i "$stem.perf.data" --no-children -g none --sort dso --stdio 2>/dev/null \
        | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]*$//; s/[[:space:]]{3,}/   /g' \
        | grep -v '^$' | head -n 12 >"$stem.profile-dso" || true
      # Inclusive (self + callees) and complete self time per symbol, for the cost breakdown.
      perf report -q -i "$stem.perf.data" --children -g none --sort symbol --percent-limit 0.05 \
        --stdio >"$stem.profile-children" 2>/dev/null || true
      perf report -q -i "$stem.perf.data" --no-children -g none --sort symbol --stdio \
        >"$stem.profile-self" 2>/dev/null || true
      # Complete self time by shared object and symbol, for the split per forwarded packet.
      perf report -q -i "$stem.perf.data" --no-children -g none --sort dso,symbol --stdio \
        >"$stem.profile-dso-symbol" 2>/dev/null || true
      if [ -n "${BENCH_KEEP_PERF:-}" ]; then
        mkdir -p "$BENCH_KEEP_PERF" && cp "$stem.perf.data" "$BENCH_KEEP_PERF/$1.perf.data"
      fi
    fi
  else
    echo "server did not become ready" >"$stem.err"
    echo 3 >"$stem.rc"
  fi
  stop_child
  rm -rf "$data"
}

# Churn through Confidant: join/leave cycles against a resident publisher, for the server's
# memory after many peers came and went. Its own time limit (CHURN_LIMIT). CHURN_ROOMS rooms,
# each with its resident publisher, host and the generator's default 8 churning clients: one
# room cannot go faster than about 15 cycles/s (its host sends one `admit` per client, paced
# under the server's limit of 20 messages/s per connection, and a joining client's video waits
# for a keyframe, requested at most every 500 ms), and 10,000 cycles in the 450 s window need
# 22/s. Four rooms measured about 60 cycles/s on two cores.
CHURN_ROOMS=4
run_churn() {
  local saved_limit="$RUN_LIMIT" saved_duration="$DURATION"
  RUN_LIMIT="$CHURN_LIMIT"
  DURATION="$((CHURN_LIMIT - 30))"
  CHURN_ARGS=(--cycles "$CHURN_CYCLES")
  run_sfu churn "$CHURN_ROOMS"
  CHURN_ARGS=()
  RUN_LIMIT="$saved_limit"
  DURATION="$saved_duration"
}
CHURN_ARGS=()

run_relay() { # $1 scenario, $2 rooms, $3 "gso" for the relay with batched I/O (raw-relay-gso)
  local mode="raw-relay" gso=()
  if [ "${3:-}" = gso ]; then
    mode="raw-relay-gso"
    gso=(--gso)
  fi
  local stem="$WORK/$1.$mode" run_start
  run_start=$(date +%s)
  local port_file="$WORK/relay.port"
  rm -f "$port_file"
  "${FORWARDER_CPU[@]}" "$LOADGEN" relay --bind 127.0.0.1:0 --port-file "$port_file" "${gso[@]}" \
    --max-seconds "$((RUN_LIMIT + 10))" >"$stem.server.log" 2>&1 &
  CHILD=$!
  local i
  for i in $(seq 1 100); do
    [ -s "$port_file" ] && break
    sleep 0.1
  done
  if [ -s "$port_file" ]; then
    generate "$stem" "$run_start" --raw-relay "127.0.0.1:$(cat "$port_file")" \
      --scenario "$1" --rooms "$2" --sfu-pid "$CHILD"
  else
    echo "relay did not start" >"$stem.err"
    echo 3 >"$stem.rc"
  fi
  stop_child
}

# Janus: the package, a config folder of our own, the namespaces. Any failure skips the janus
# runs (with the reason in their rows) and leaves the others alone.
setup_janus() {
  if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
    JANUS_SKIP="needs root and iproute2 (ip netns) for Janus's network namespaces"
    return
  fi
  if ! command -v janus >/dev/null 2>&1; then
    echo "==> apt-get install -y janus (benchmark only; its packaged config is not used)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y janus >"$WORK/apt.log" 2>&1; then
      JANUS_SKIP="apt-get install janus failed: $(tail -n 1 "$WORK/apt.log")"
      return
    fi
  fi
  local libdir
  libdir="$(dirname "$(dpkg -L janus 2>/dev/null | grep '/plugins/libjanus_videoroom.so$' | head -n 1)")"
  libdir="${libdir%/plugins}"
  if [ ! -f "$libdir/plugins/libjanus_videoroom.so" ] || [ ! -f "$libdir/transports/libjanus_http.so" ]; then
    JANUS_SKIP="janus is installed but its videoroom plugin or HTTP transport is missing"
    return
  fi
  local dir="$WORK/janus"
  mkdir -p "$dir/conf" "$dir/plugins" "$dir/transports" "$dir/none"
  ln -s "$libdir/plugins/libjanus_videoroom.so" "$dir/plugins/"
  ln -s "$libdir/transports/libjanus_http.so" "$dir/transports/"
  cat >"$dir/conf/janus.jcfg" <<EOF
general: {
	configs_folder = "$dir/conf"
	plugins_folder = "$dir/plugins"
	transports_folder = "$dir/transports"
	events_folder = "$dir/none"
	loggers_folder = "$dir/none"
	debug_level = 4
	session_timeout = 60
	admin_secret = "unused-$(date +%s%N)"
}
media: {
	ipv6 = false
	rtp_port_range = "20000-40000"
}
nat: {
	ice_lite = true
	ice_enforce_list = "$JANUS_IF"
	ignore_mdns = true
}
EOF
  printf 'general: {\n}\n' >"$dir/conf/janus.plugin.videoroom.jcfg"
  cat >"$dir/conf/janus.transport.http.jcfg" <<EOF
general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = $JANUS_PORT
	ip = "$JANUS_IP"
	https = false
	acl = "$GEN_IP"
}
admin: {
	admin_http = false
	admin_https = false
}
EOF
  NETNS_MADE=1
  if ! { ip netns add "$JANUS_NS" && ip netns add "$GEN_NS" \
    && ip link add "$JANUS_IF" type veth peer name "$GEN_IF" \
    && ip link set "$JANUS_IF" netns "$JANUS_NS" && ip link set "$GEN_IF" netns "$GEN_NS" \
    && ip -n "$JANUS_NS" addr add "$JANUS_IP/30" dev "$JANUS_IF" \
    && ip -n "$GEN_NS" addr add "$GEN_IP/30" dev "$GEN_IF" \
    && ip -n "$JANUS_NS" link set lo up && ip -n "$GEN_NS" link set lo up \
    && ip -n "$JANUS_NS" link set "$JANUS_IF" up && ip -n "$GEN_NS" link set "$GEN_IF" up; } \
    >"$WORK/netns.log" 2>&1; then
    JANUS_SKIP="could not make the network namespaces: $(tail -n 1 "$WORK/netns.log")"
    return
  fi
  JANUS_VERSION="$(janus --version 2>/dev/null | head -n 1 || true)"
}

run_janus() { # $1 scenario, $2 rooms
  local stem="$WORK/$1.janus" run_start
  if [ -n "$JANUS_SKIP" ]; then
    echo "skipped: $JANUS_SKIP" >"$stem.err"
    echo 126 >"$stem.rc"
    return
  fi
  run_start=$(date +%s)
  # From the work folder and without core dumps: an overloaded Janus has crashed here once and
  # left a 1.3 GB core file in the repository root. `exec` keeps $! the process to stop.
  (cd "$WORK" && ulimit -c 0 && exec ip netns exec "$JANUS_NS" "${FORWARDER_CPU[@]}" janus \
    -F "$WORK/janus/conf" -L "$stem.server.log" -N >/dev/null 2>&1) &
  CHILD=$!
  local url="http://$JANUS_IP:$JANUS_PORT/janus" i
  for i in $(seq 1 100); do
    ip netns exec "$GEN_NS" curl -fsS -o /dev/null "$url/info" 2>/dev/null && break
    kill -0 "$CHILD" 2>/dev/null || break
    sleep 0.1
  done
  if ip netns exec "$GEN_NS" curl -fsS -o /dev/null "$url/info" 2>/dev/null; then
    # `ip netns exec` and taskset exec Janus itself, so CHILD is Janus's PID.
    GEN_NETNS=(ip netns exec "$GEN_NS")
    generate "$stem" "$run_start" --janus-url "$url" --scenario "$1" --rooms "$2" --sfu-pid "$CHILD"
    GEN_NETNS=()
  else
    echo "janus did not answer on $url" >"$stem.err"
    echo 3 >"$stem.rc"
  fi
  stop_child
}

# ---------------------------------------------------------------------------------------------
JANUS_VERSION=""
case " $MODES " in
  *" janus "*) setup_janus ;;
esac
[ -z "$JANUS_SKIP" ] || echo "==> janus runs skipped: $JANUS_SKIP"
RAN=""
for entry in $SCENARIOS; do
  name="${entry%%:*}"
  rooms=1
  [ "$entry" != "$name" ] && rooms="${entry#*:}"
  case "$name" in
    one-to-one | group5 | audio50 | talk200) ;;
    *) die "unknown scenario $name (one-to-one, group5, audio50, talk200)" ;;
  esac
  [[ "$rooms" =~ ^[0-9]+$ ]] && [ "$rooms" -ge 1 ] || die "bad room count in $entry"
  for mode in $MODES; do
    if [ "$(run_budget)" -le 5 ]; then
      echo "==> $name ($rooms room(s)), $mode: skipped, the ${TOTAL_LIMIT}-second budget is spent"
      echo "skipped: time budget spent" >"$WORK/$name.$mode.err"
      echo 125 >"$WORK/$name.$mode.rc"
      continue
    fi
    echo "==> $name ($rooms room(s)), $mode"
    case "$mode" in
      sfu) run_sfu "$name" "$rooms" ;;
      raw-relay) run_relay "$name" "$rooms" ;;
      raw-relay-gso) run_relay "$name" "$rooms" gso ;;
      janus) run_janus "$name" "$rooms" ;;
      *) die "unknown mode $mode (sfu, raw-relay, raw-relay-gso, janus)" ;;
    esac
    echo "    exit $(cat "$WORK/$name.$mode.rc") after $(($(date +%s) - START)) s in all"
  done
  RAN="$RAN $name:$rooms"
done

# The profiles: one more Confidant run of each of those scenarios, recorded (not one of the
# measured runs).
PROFILED=""
for prof in $PROFILE; do
  PROFILE_ROOMS=""
  for entry in $RAN; do
    [ "${entry%%:*}" = "$prof" ] && PROFILE_ROOMS="${entry##*:}"
  done
  if [ -n "$PROFILE_ROOMS" ] && [[ " $MODES " == *" sfu "* ]]; then
    if [ "$(run_budget)" -gt 5 ]; then
      echo "==> $prof ($PROFILE_ROOMS room(s)), sfu under perf record (the profile)"
      run_sfu "$prof" "$PROFILE_ROOMS" profile
      echo "    exit $(cat "$WORK/$prof.profile.rc") after $(($(date +%s) - START)) s in all"
      PROFILED="$PROFILED $prof"
    else
      echo "==> profile of $prof: skipped, the ${TOTAL_LIMIT}-second budget is spent"
    fi
  fi
done

CHURN_RAN=""
if [ "$CHURN_CYCLES" -gt 0 ] && [[ " $MODES " == *" sfu "* ]]; then
  left=$((TOTAL_LIMIT + CHURN_LIMIT - ($(date +%s) - START)))
  if [ "$left" -ge "$CHURN_LIMIT" ]; then
    echo "==> churn ($CHURN_CYCLES cycles), sfu"
    run_churn
    echo "    exit $(cat "$WORK/churn.sfu.rc") after $(($(date +%s) - START)) s in all"
    CHURN_RAN=1
  else
    echo "==> churn: skipped, not enough of the time budget left"
  fi
fi

# ---------------------------------------------------------------------------------------------
COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  DIRTY="unknown (not a git work tree)"
elif [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  DIRTY="yes"
else
  DIRTY="no"
fi
MACHINE="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
MEMORY="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"

BENCH_WORK="$WORK" BENCH_RAN="$RAN" BENCH_COMMIT="$COMMIT" BENCH_DIRTY="$DIRTY" \
  BENCH_MACHINE="${MACHINE:-unknown} × $CORES core(s), $MEMORY RAM, Linux $(uname -r)" \
  BENCH_PINNING="$PINNING" BENCH_LOAD="$LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after" \
  BENCH_DURATION="$DURATION" BENCH_COMMAND="$COMMAND_LINE" BENCH_ENV="BENCH_SCENARIOS='$SCENARIOS' BENCH_DURATION=$DURATION BENCH_MODES='$MODES'" \
  BENCH_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" BENCH_SECONDS="$(($(date +%s) - START))" \
  BENCH_RUSTC="$(rustc --version 2>/dev/null || echo unknown)" \
  BENCH_HEADLINE="$HEADLINE" BENCH_MODES="$MODES" BENCH_JANUS="${JANUS_VERSION:-not run}" \
  BENCH_JANUS_SKIP="$JANUS_SKIP" BENCH_CHURN="$CHURN_RAN" BENCH_CHURN_CYCLES="$CHURN_CYCLES" \
  BENCH_PROFILE="$PROFILE" BENCH_PROFILED="$PROFILED" \
  python3 - >"$OUT" <<'PY'
import json, os, re

env = os.environ
work = env["BENCH_WORK"]


def load(name, mode):
    stem = os.path.join(work, f"{name}.{mode}")
    rc = open(stem + ".rc").read().strip() if os.path.exists(stem + ".rc") else "?"
    try:
        report = json.load(open(stem + ".json"))
    except (OSError, ValueError):
        report = None
    err = open(stem + ".err").read().strip() if os.path.exists(stem + ".err") else ""
    return rc, report, err


def num(r, k):
    v = None if r is None else r.get(k)
    return v if isinstance(v, (int, float)) else None


def f(v, fmt="{:.0f}"):
    return "–" if v is None else fmt.format(v)


def mib(v):
    return "–" if v is None else f"{v / 1048576:.1f}"


def ratio(a, b, fmt="{:.2f}×"):
    if a is None or b is None or b == 0:
        return "–"
    return fmt.format(a / b)


def rc_text(rc):
    return {"0": "0 (ok)", "1": "1 (ran, not ok)", "124": "124 (timed out)",
            "125": "skipped (time budget)", "126": "skipped (no Janus)"}.get(rc, rc)


ran = [e.rsplit(":", 1) for e in env.get("BENCH_RAN", "").split()]
out = []
w = out.append
w("# Benchmarks")
w("")
w("Written by `scripts/bench.sh`; do not edit by hand, run the script again. The numbers belong")
w("to the machine below; what carries over to other machines are the ratios between Confidant,")
w("the baseline relay and Janus measured in the same run.")
w("")
SYSTEMS = (("confidant", "sfu"), ("raw-relay", "raw-relay"), ("raw-relay-gso", "raw-relay-gso"),
           ("janus", "janus"))
# Information only (the physical limit with batched I/O): never chooses the headline.
INFO_MODES = ("raw-relay-gso",)
modes = env.get("BENCH_MODES", "sfu raw-relay raw-relay-gso janus").split()
names = [n for n, _ in ran]


def clean(name):
    """Every system ran this scenario to the end without loss or failure."""
    reports = [load(name, m)[1] for _, m in SYSTEMS if m in modes and m not in INFO_MODES]
    return all(r is not None and r.get("ok") for r in reports)


# The headline is BENCH_HEADLINE when set; otherwise the heaviest scenario (most packets
# forwarded per second through Confidant) that every system ran cleanly: CPU per packet of
# a saturated, dropping forwarder says more about overload than about forwarding. Not audio50:
# Confidant forwards only the loudest voices there, so the systems do not forward the same
# packets.
headline = env.get("BENCH_HEADLINE", "")
why = "chosen with BENCH_HEADLINE"
if headline not in names:
    candidates = [n for n in names if clean(n) and n != "audio50"]
    why = "the heaviest scenario that every system ran without loss or failure (audio50 aside: Confidant forwards only its loudest voices)"
    if not candidates:
        candidates = [n for n in names if n != "audio50"] or names
        why = "no scenario ran cleanly on every system; the heaviest one"
    headline = max(candidates, key=lambda n: num(load(n, "sfu")[1], "forwarded_pps") or 0,
                   default="–")
head_rooms = dict(ran).get(headline, "–")


def grow(r):
    if num(r, "sfu_rss_bytes") is None or num(r, "sfu_rss_before_bytes") is None:
        return None
    return max(num(r, "sfu_rss_bytes") - num(r, "sfu_rss_before_bytes"), 0)


def pct(v):
    return "–" if v is None else f"{100 * v:.3f} %"


w(f"## Headline: forwarded packets per forwarder CPU-second ({headline}, {head_rooms} room(s))")
w("")
w("Same run, same load generator, same participants and media; *packets* are the RTP datagrams")
w("that arrived at the receivers inside the measurement window (SRTP for Confidant and Janus,")
w("plain RTP-shaped datagrams for the relay), *CPU-seconds* the forwarding process's user +")
w(f"system time in that window. Scenario: {why}; every scenario's numbers follow below.")
w("")
w("| system | participants | forwarded packets/s | mean packet bytes | forwarder CPU-s (% of a core) | pps_per_cpu_second | loss | latency p50 / p99 ms | exit |")
w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
head = {}
for system, mode in SYSTEMS:
    if mode not in modes:
        continue
    rc, r, err = load(headline, mode)
    head[system] = r
    if r is None:
        why = err[-160:].replace(chr(10), " ").replace("|", "/") or "no report"
        w(f"| {system} | – | – | – | – | – | – | – | {rc_text(rc)}: {why} |")
        continue
    pps = num(r, "forwarded_pps")
    size = None if not pps else num(r, "forwarded_mbps") * 1e6 / 8 / pps
    w(f"| {system} | {f(num(r, 'participants'))} | {f(pps)} | {f(size)}"
      f" | {f(num(r, 'sfu_cpu_seconds'), '{:.2f}')} ({f(num(r, 'sfu_cpu_percent'), '{:.1f}')} %)"
      f" | {f(num(r, 'pps_per_cpu_second'))} | {pct(num(r, 'loss_ratio'))}"
      f" | {f(num(r, 'latency_ms_p50'), '{:.2f}')} / {f(num(r, 'latency_ms_p99'), '{:.2f}')} | {rc_text(rc)} |")
w("")
ppc = lambda system: num(head.get(system), "pps_per_cpu_second")
w(f"- **Confidant ÷ relay** (pps_per_cpu_second): {ratio(ppc('confidant'), ppc('raw-relay'), '{:.3f}')}"
  " — the share of plain forwarding's efficiency Confidant keeps while doing WebRTC")
w(f"- **Confidant ÷ Janus** (pps_per_cpu_second): {ratio(ppc('confidant'), ppc('janus'), '{:.2f}')}"
  " — above 1, Confidant forwards more packets per CPU-second than Janus")
if "raw-relay-gso" in modes:
    w(f"- *Information*: **Confidant ÷ relay with GSO** (`raw-relay-gso`, pps_per_cpu_second): "
      f"{ratio(ppc('confidant'), ppc('raw-relay-gso'), '{:.3f}')}, and **relay with GSO ÷ relay**: "
      f"{ratio(ppc('raw-relay-gso'), ppc('raw-relay'), '{:.2f}')} — the relay reading bursts and "
      "sending each member its share of a burst in UDP GSO sends: the physical limit a forwarder "
      "could approach on this machine")
if env.get("BENCH_JANUS_SKIP"):
    w(f"- Janus was not run: {env['BENCH_JANUS_SKIP']}")
w("")

# ------------------------------------------------------------------------------ targets
w("## Targets")
w("")
w("| target | measured | verdict |")
w("| --- | --- | --- |")


def verdict(value, goal, higher=True, fmt="{:.2f}"):
    if value is None:
        return "not measured"
    if (value >= goal) if higher else (value <= goal):
        return "met"
    miss = (goal - value) / goal if higher else (value - goal) / goal
    return f"missed by {100 * miss:.0f} %"


r_relay = None if not ppc("confidant") or not ppc("raw-relay") else ppc("confidant") / ppc("raw-relay")
r_janus = None if not ppc("confidant") or not ppc("janus") else ppc("confidant") / ppc("janus")
w(f"| packets per CPU-second ≥ 75 % of the raw relay ({headline}) | {ratio(ppc('confidant'), ppc('raw-relay'), '{:.3f}')} | {verdict(r_relay, 0.75)} |")
w(f"| packets per CPU-second ≥ 3× Janus ({headline}) | {ratio(ppc('confidant'), ppc('janus'), '{:.2f}×')} | {verdict(r_janus, 3.0)} |")
# "Half of capacity": the Confidant runs whose server used at most 60 % of its core. "Added":
# Confidant's p99 minus the raw relay's p99 in the same scenario and run (same generator, same
# loopback; the relay does no work a forwarder could skip), where the relay ran.
half = [(n, load(n, "sfu")[1], load(n, "raw-relay")[1]) for n, _ in ran]
half = [(n, r, b) for n, r, b in half if r is not None and (num(r, "sfu_cpu_percent") or 100) <= 60
        and num(r, "latency_ms_p99") is not None]


def added_p99(r, b):
    base = num(b, "latency_ms_p99") if b is not None else None
    return num(r, "latency_ms_p99") - (base or 0.0)


if half:
    worst = max(half, key=lambda x: added_p99(x[1], x[2]))
    n, r, b = worst
    p99, base = num(r, "latency_ms_p99"), (num(b, "latency_ms_p99") if b is not None else None)
    added = added_p99(r, b)
    how = (f"{added:.2f} ms over the relay ({n}: {p99:.2f} against {base:.2f} ms, "
           if base is not None else f"{p99:.2f} ms, no relay run to subtract ({n}, ")
    w(f"| p99 added latency < 2 ms at half of capacity (runs at ≤ 60 % of a core: {', '.join(x[0] for x in half)}) | "
      f"{how}{f(num(r, 'sfu_cpu_percent'), '{:.0f}')} % CPU) | {verdict(added, 2.0, higher=False)} |")
else:
    w("| p99 added latency < 2 ms at half of capacity | no Confidant run at ≤ 60 % of a core | not measured |")
if env.get("BENCH_CHURN"):
    _, c, _ = load("churn", "sfu")
    before, warm, end = num(c, "sfu_rss_before_bytes"), num(c, "sfu_rss_warm_bytes"), num(c, "sfu_rss_bytes")
    change = None if not before or end is None else (end - before) / before
    # The target is judged from the RSS after the warm-up (the first tenth of the cycles):
    # growth before it is first use (allocator arenas, caches, runtime, database), not churn.
    warm_change = None if not warm or end is None else (end - warm) / warm
    done = f"{c.get('cycles_completed')} of {c.get('cycles')} cycles" if c else "no report"
    w(f"| RSS within ±5 % after churn ({done}), from the RSS after the warm-up ({c.get('warm_cycles') if c else '–'} cycles) |"
      f" {pct(warm_change) if warm_change is not None else '–'} ({mib(warm)} → {mib(end)} MiB);"
      f" from before anyone joined {pct(change) if change is not None else '–'} ({mib(before)} → {mib(end)} MiB)"
      f" | {verdict(abs(warm_change) if warm_change is not None else None, 0.05, higher=False)} |")
else:
    w("| RSS within ±5 % after churn | churn not run | not measured |")
w("")
w("The latency is one way, publisher → forwarder → receiver on loopback, so it includes the")
w("generator's own packetizing and SRTP at both ends. *Added* latency is Confidant's p99 minus the")
w("raw relay's p99 in the same scenario and run: what the generator, the kernel and loopback cost")
w("either way (in `audio50` the generator receiving 122,500 packets/s from the relay is the slow")
w("part) is taken out; the run with the largest difference is shown. Percentiles do not subtract")
w("exactly, so read it as an estimate; the raw percentiles of every run are below.")
w("")
if env.get("BENCH_CHURN"):
    _, c, err = load("churn", "sfu")
    w("## Churn")
    w("")
    if c is None:
        w(f"No report: {err[-200:] or 'none'}")
    else:
        w(f"{c.get('cycles_completed')} of {c.get('cycles')} join/leave cycles in {f(num(c, 'duration_s'), '{:.1f}')} s"
          f" ({f(num(c, 'cycles_per_second'), '{:.1f}')} cycles/s), {c.get('rooms')} room(s) with a resident publisher each;"
          f" {c.get('participants_failed')} failed. Per cycle, median from `knock`: admitted {f(num(c, 'admit_ms_p50'), '{:.0f}')} ms,"
          f" ICE + DTLS connected {f(num(c, 'join_ms_p50'), '{:.0f}')} ms, a frame of every track {f(num(c, 'ready_ms_p50'), '{:.0f}')} ms"
          f" (video waits for a keyframe, requested at most every 500 ms); `leave` to close {f(num(c, 'leave_ms_p50'), '{:.1f}')} ms.")
        w("")
        tenths = list(zip(c.get("cycles_by_tenth") or [], c.get("sfu_rss_by_tenth") or []))
        if tenths:
            w("Server RSS after each tenth of the cycles, with no churning client connected (the first is the warm-up):")
            w("")
            w("| cycles | " + " | ".join(str(n) for n, _ in tenths) + " |")
            w("| --- | " + " | ".join("---:" for _ in tenths) + " |")
            w("| RSS MiB | " + " | ".join(mib(r) for _, r in tenths) + " |")
            w("")

# ------------------------------------------------------------------------------ profile
# The parts of the forwarding path a profile is broken down into: (label, symbol). A label
# starting with "↳" is inside the part above it.
COST_PARTS = [
    ("sending datagrams (kernel UDP send; on loopback it also delivers into the receiver's socket)", "__libc_sendto"),
    ("waiting for work (epoll, scheduler)", "epoll_wait"),
    ("str0m: timers (pacer, bandwidth estimation, RTCP), one per paced packet", "str0m::Rtc::do_handle_timeout"),
    ("↳ pacer", "<str0m::pacer::leaky::LeakyBucketPacer as str0m::pacer::Pacer>::handle_timeout"),
    ("↳ bandwidth estimation", "str0m::bwe_::Bwe::handle_timeout"),
    ("str0m: polling for output (each poll looks at every stream of the peer)", "str0m::Rtc::poll_output"),
    ("↳ producing datagrams (header, SRTP, RTX cache)", "str0m::session::Session::poll_datagram"),
    ("↳↳ SRTP encryption", "str0m::rtp_::srtp::SrtpContext::protect_rtp"),
    ("↳↳ keeping the packet in the subscriber's RTX cache", "str0m::streams::rtx_cache::RtxCache::cache_sent_packet"),
    ("str0m: receiving RTP", "str0m::session::Session::handle_rtp_receive"),
    ("↳ SRTP decryption", "str0m::rtp_::srtp::SrtpContext::unprotect_rtp"),
    ("str0m: receiving RTCP (feedback: TWCC, NACK, receiver reports)", "str0m::session::Session::handle_rtcp_receive"),
]


def parse_profile(path, inclusive):
    """symbol -> percent from `perf report -g none --sort symbol` (children: first column)."""
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?\[[.k]\]\s+(.*?)\s*(?:-\s+-\s*)?$", line)
        if not m:
            continue
        share = float(m.group(1))
        symbol = m.group(3).strip()
        out[symbol] = out.get(symbol, 0.0) + share if not inclusive else max(out.get(symbol, 0.0), share)
    return out


def split_self(path):
    """Self time by part, in % of the server's samples, from `perf report --sort dso,symbol`."""
    parts = {"kernel": 0.0, "str0m": 0.0, "own": 0.0, "libc": 0.0, "runtime": 0.0}
    if not os.path.exists(path):
        return None
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*?)\s*$", line)
        if not m:
            continue
        share, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        if kind == "k" or dso.startswith("[kernel"):
            parts["kernel"] += share
        elif dso.startswith("libc") or dso.startswith("libm") or dso.startswith("ld-linux"):
            parts["libc"] += share
        elif re.match(r"<?confidant_sfu::", sym):
            parts["own"] += share
        elif re.match(r"<?(tokio|std|core|alloc|hashbrown|mio|tracing)[:<]", sym) or dso != "confidant":
            parts["runtime"] += share
        else:
            # The rest of the binary: str0m and its crates (ICE, DTLS, SCTP) and the crypto
            # they call (aws-lc's C and assembly, SRTP's AES-GCM).
            parts["str0m"] += share
    total = sum(parts.values())
    return None if not total else {k: v / total for k, v in parts.items()}


profiled = env.get("BENCH_PROFILED", "").split()
if profiled:
    w("## CPU per forwarded packet, split")
    w("")
    w("The measured run's CPU time per forwarded packet (1 / pps_per_cpu_second), divided by the")
    w("self time of the same scenario's profiled run (below): system calls and the network stack")
    w("(kernel), str0m (WebRTC: ICE, DTLS, SRTP with its AES-GCM, RTP/RTCP, timers, BWE), Confidant's")
    w("own code (`confidant_sfu`), libc (memcpy, malloc) and the Rust runtime (tokio, std")
    w("collections; generic code instantiated from str0m lands here too). The relays' whole cost per")
    w("packet is beside it.")
    w("")
    w("| scenario | Confidant µs/packet | syscalls, network stack | str0m | own code | libc | runtime, std | raw relay µs/packet | relay with GSO µs/packet |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in profiled:
        pps = num(load(name, "sfu")[1], "pps_per_cpu_second")
        parts = split_self(os.path.join(work, f"{name}.profile.profile-dso-symbol"))
        us = None if not pps else 1e6 / pps
        cell = lambda k: "–" if us is None or parts is None else f"{us * parts[k]:.2f} ({100 * parts[k]:.0f} %)"
        relay = num(load(name, "raw-relay")[1], "pps_per_cpu_second")
        gso = num(load(name, "raw-relay-gso")[1], "pps_per_cpu_second")
        w(f"| {name} | {f(us, '{:.2f}')} | {cell('kernel')} | {cell('str0m')} | {cell('own')}"
          f" | {cell('libc')} | {cell('runtime')} | {f(None if not relay else 1e6 / relay, '{:.2f}')}"
          f" | {f(None if not gso else 1e6 / gso, '{:.2f}')} |")
    w("")

for prof_name in env.get("BENCH_PROFILE", "").split():
    prof_path = os.path.join(work, f"{prof_name}.profile.profile")
    if prof_name and os.path.exists(prof_path) and os.path.getsize(prof_path) > 0:
        w(f"## Where Confidant's CPU goes ({prof_name}, `perf record -F 499 --call-graph dwarf`)")
        w("")
        w(f"From one more Confidant run of {prof_name} after the measured ones: recording call chains")
        w("costs the server enough CPU to change what is measured, so no number above comes from it.")
        w("")
        children = parse_profile(os.path.join(work, f"{prof_name}.profile.profile-children"), inclusive=True)
        selfs = parse_profile(os.path.join(work, f"{prof_name}.profile.profile-self"), inclusive=False)
        if children:
            w("Share of the server's samples spent in each part, callees included (a row marked ↳ is")
            w("inside the row above it; the rest of the server, HTTP, signalling and the database, is")
            w("idle during the window):")
            w("")
            w("| part | symbol | share |")
            w("| --- | --- | ---: |")
            for label, symbol in COST_PARTS:
                share = children.get(symbol)
                if share is not None:
                    w(f"| {label} | `{symbol}` | {share:.1f} % |")
            own = sum(v for k, v in selfs.items() if k.startswith("confidant_sfu::"))
            if selfs:
                w(f"| the SFU's own code (`confidant_sfu::*`, self time only) | | {own:.1f} % |")
            w("")
            # The same shares as CPU time per forwarded packet, beside the relay's whole cost.
            sfu_pps = num(load(prof_name, "sfu")[1], "pps_per_cpu_second")
            relay_pps = num(load(prof_name, "raw-relay")[1], "pps_per_cpu_second")
            send = children.get("__libc_sendto")
            str0m = sum(children.get(k, 0.0) for k in (
                "str0m::Rtc::do_handle_timeout", "str0m::Rtc::poll_output",
                "str0m::session::Session::handle_rtp_receive",
                "str0m::session::Session::handle_rtcp_receive"))
            if sfu_pps and relay_pps and send is not None:
                us = 1e6 / sfu_pps
                relay_us = 1e6 / relay_pps
                budget = relay_us / 0.75
                str0m_us = us * str0m / 100
                verdict = (f"less than str0m's rows alone take now, so the forwarding logic is not "
                           f"where the targets are lost" if str0m_us > budget else
                           f"str0m's rows alone take {100 * str0m_us / budget:.0f} % of that")
                w(f"Per forwarded packet in {prof_name} (the measured run): Confidant {us:.1f} µs of "
                  f"CPU, the relay {relay_us:.1f} µs. Sending the datagram alone (the `sendto` row) "
                  f"is {us * send / 100:.1f} µs of Confidant's, {us * send / 100 / relay_us:.1f}× "
                  f"what the relay spends on a packet in all; str0m's rows add up to {str0m_us:.1f} µs "
                  f"(timers, polling, SRTP, receive), the SFU's own code to {us * own / 100:.1f} µs. "
                  f"Reaching 75 % of the relay would leave {budget:.1f} µs for everything: {verdict}. "
                  f"What would close the gap lies inside str0m: a pacer that lets more than one "
                  f"packet out per timeout (each paced packet now costs a full timeout round and a "
                  f"poll that walks every stream of the peer), and NACKs answered from one buffer "
                  f"per publisher instead of a cache per subscriber stream (str0m answers them "
                  f"internally and exposes no NACK event).")
                w("")
        w("Self time (callees not included) by shared object (the `confidant` binary is Rust code:")
        w("str0m, the SFU, tokio; `[kernel.kallsyms]` is system calls and the network stack; `libc`")
        w("mostly memcpy/malloc):")
        w("")
        w("```")
        dso = os.path.join(work, f"{prof_name}.profile.profile-dso")
        if os.path.exists(dso):
            w(open(dso).read().rstrip())
        w("```")
        w("")
        w("Functions with at least 0.8 % of the samples (`[k]` kernel, `[.]` user space):")
        w("")
        w("```")
        w(open(prof_path).read().rstrip())
        w("```")
        w("")
    elif prof_name:
        w(f"## Profile ({prof_name})")
        w("")
        w(f"No profile of {prof_name}: `perf` missing, not allowed (perf_event_paranoid), or the run did not happen.")
        w("")

w("## What is compared")
w("")
w("Each scenario runs up to three times with the same load generator, participants and media (Opus-shaped")
w("audio every 20 ms, VP8-shaped video at 30 fps and 800 kbit/s, keyframes 4×):")
w("")
w("- **sfu**: through a fresh `confidant` server (`--max-participants 256 --max-lobby 256`):")
w("  signalling, ICE, DTLS, SRTP and the str0m SFU in RTP mode, which decrypts every packet once,")
w("  rewrites its sequence number and timestamp per receiver and encrypts it for each (simulcast")
w("  layer choice, TWCC bandwidth estimation, NACK/RTX and PLI handling on);")
w("- **raw-relay** (the baseline): through `confidant-loadgen relay`, one thread with one UDP")
w("  socket that copies every datagram to the other members of its room; the same frames are")
w("  cut into datagrams of the size str0m makes (1150 bytes at most), with no WebRTC at all;")
w("- **raw-relay-gso** (information): the same relay with batched I/O through quinn-udp")
w("  (`relay --gso`): it reads a burst of datagrams per wake-up (`recvmmsg`) and sends each member")
w("  its share of the burst in as few UDP GSO sends as their sizes allow: the physical limit a")
w("  forwarder could approach; it never chooses the headline scenario;")
w("- **janus** (the peer SFU): through a fresh Janus 1.1.2 (Debian package), videoroom plugin,")
w("  driven through its HTTP API: each publisher publishes on one PeerConnection and receives the")
w("  room's other publishers on a second, multistream one; receive-only participants only")
w("  subscribe. Janus relays RTP without repacketizing (it rewrites headers, decrypts and")
w("  re-encrypts SRTP). Churn is not run against Janus (the generator's churn uses Confidant's")
w("  lobby).")
w("")
w("Packets are counted where they arrive (RTP datagrams at the receivers' sockets inside the")
w("measurement window). *CPU per packet* is the forwarding process's CPU time (user + system")
w("from `/proc`, 10 ms ticks) divided by those packets. Loss is by frames, exactly (every frame")
w("sent in the window times its receivers). Latency is one way, publisher to receiver, through")
w("the forwarder, including the generator's own packetizing (and, for the SFU, SRTP) on both")
w("ends. RSS is the whole forwarding process: for `confidant` that includes HTTP, the database")
w("and the hub, so *RSS growth* (end of window minus before the participants joined) is the")
w("fairer comparison.")
w("")
w("In `audio50` three of the fifty participants talk (audio level -30 dBov) and the others send")
w("silence (-127), as in a large meeting; loss counts the talkers' audio only. Confidant forwards")
w("each room's five loudest voices (`--sfu-loudest-audio`, default 5), so it sends 5 × 49 audio")
w("streams where the relay and Janus send all 50 × 49: its packets per second are lower by design,")
w("and what the row shows is whether the room works at all.")
w("")
w("## Ratios: SFU ÷ baseline")
w("")
w("| scenario | rooms | participants | forwarded packets/s | CPU per packet | RSS | RSS growth | latency p50 | latency p99 | loss SFU / baseline |")
w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, rooms in ran:
    _, s, _ = load(name, "sfu")
    _, b, _ = load(name, "raw-relay")
    cpp_s = None if not num(s, "pps_per_cpu_second") else 1 / num(s, "pps_per_cpu_second")
    cpp_b = None if not num(b, "pps_per_cpu_second") else 1 / num(b, "pps_per_cpu_second")
    grow = lambda r: None if num(r, "sfu_rss_bytes") is None or num(r, "sfu_rss_before_bytes") is None \
        else max(num(r, "sfu_rss_bytes") - num(r, "sfu_rss_before_bytes"), 0)
    loss = lambda r: "–" if num(r, "loss_ratio") is None else f"{100 * num(r, 'loss_ratio'):.3f} %"
    w(f"| {name} | {rooms} | {f(num(s, 'participants'))} | {ratio(num(s, 'forwarded_pps'), num(b, 'forwarded_pps'))}"
      f" | {ratio(cpp_s, cpp_b, '{:.1f}×')} | {ratio(num(s, 'sfu_rss_bytes'), num(b, 'sfu_rss_bytes'), '{:.1f}×')}"
      f" | {ratio(grow(s), grow(b), '{:.1f}×')}"
      f" | {ratio(num(s, 'latency_ms_p50'), num(b, 'latency_ms_p50'), '{:.1f}×')}"
      f" | {ratio(num(s, 'latency_ms_p99'), num(b, 'latency_ms_p99'), '{:.1f}×')}"
      f" | {loss(s)} / {loss(b)} |")
w("")
w("*CPU per packet* 3× means the SFU spends three times the baseline's CPU time on each")
w("forwarded packet. The relay keeps almost nothing per member (its RSS grows by a few hundred")
w("KiB at most), so the *RSS growth* ratio mostly shows the SFU's state per peer (str0m `Rtc`s,")
w("buffers); the raw numbers below give the MiB. A dash: the number is missing or zero on one")
w("side (a failed run, or CPU time below one tick).")
w("")
w("## Ratios: Confidant ÷ Janus")
w("")
w("| scenario | rooms | participants | forwarded packets/s | CPU per packet | RSS | RSS growth | latency p50 | latency p99 | loss Confidant / Janus |")
w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, rooms in ran:
    _, s, _ = load(name, "sfu")
    _, j, _ = load(name, "janus")
    cpp_s = None if not num(s, "pps_per_cpu_second") else 1 / num(s, "pps_per_cpu_second")
    cpp_j = None if not num(j, "pps_per_cpu_second") else 1 / num(j, "pps_per_cpu_second")
    w(f"| {name} | {rooms} | {f(num(s, 'participants'))} | {ratio(num(s, 'forwarded_pps'), num(j, 'forwarded_pps'))}"
      f" | {ratio(cpp_s, cpp_j, '{:.2f}×')} | {ratio(num(s, 'sfu_rss_bytes'), num(j, 'sfu_rss_bytes'), '{:.1f}×')}"
      f" | {ratio(grow(s), grow(j), '{:.1f}×')}"
      f" | {ratio(num(s, 'latency_ms_p50'), num(j, 'latency_ms_p50'), '{:.1f}×')}"
      f" | {ratio(num(s, 'latency_ms_p99'), num(j, 'latency_ms_p99'), '{:.1f}×')}"
      f" | {pct(num(s, 'loss_ratio'))} / {pct(num(j, 'loss_ratio'))} |")
w("")
w("*CPU per packet* below 1× means Confidant spends less CPU time than Janus on each forwarded")
w("packet. Both forward RTP packets as they came, rewriting headers and re-encrypting SRTP per receiver.")
w("")
w("## Latency percentiles (one way, publisher → forwarder → receiver, ms)")
w("")
w("| scenario | system | p50 | p99 | p99.9 | max | frames |")
w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for name, rooms in ran:
    for system, mode in SYSTEMS:
        if mode not in modes:
            continue
        _, r, _ = load(name, mode)
        w(f"| {name} | {system} | {f(num(r, 'latency_ms_p50'), '{:.2f}')} | {f(num(r, 'latency_ms_p99'), '{:.2f}')}"
          f" | {f(num(r, 'latency_ms_p999'), '{:.2f}')} | {f(num(r, 'latency_ms_max'), '{:.2f}')} | {f(num(r, 'latency_samples'))} |")
w("")
w("## RSS per subscriber")
w("")
w("RSS growth of the forwarding process (end of the window minus before anyone joined) divided")
w("by the receiving participants (everyone receives: publishers receive each other).")
w("")
w("| scenario | system | participants | RSS before → end MiB | growth MiB | KiB per participant |")
w("| --- | --- | ---: | ---: | ---: | ---: |")
for name, rooms in ran:
    for system, mode in SYSTEMS:
        if mode not in modes:
            continue
        _, r, _ = load(name, mode)
        g, n = grow(r), num(r, "participants")
        per = None if g is None or not n else g / 1024 / n
        w(f"| {name} | {system} | {f(n)} | {mib(num(r, 'sfu_rss_before_bytes'))} → {mib(num(r, 'sfu_rss_bytes'))}"
          f" | {mib(g)} | {f(per, '{:.1f}')} |")
w("")
w("## Raw numbers")
w("")
w("| scenario | mode | exit | forwarded packets/s | Mbit/s | forwarder CPU-s (% of a core) | packets per CPU-s | frames received / expected | loss | RSS MiB before → end (peak) | latency p50 / p99 / p99.9 ms | generator CPU-s, late frames | limited by | failed participants, errors |")
w("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
raw_json = []
for name, rooms in ran:
    for mode in [m for _, m in SYSTEMS if m in modes]:
        rc, r, err = load(name, mode)
        raw_json.append((name, mode, r, err))
        if r is None:
            w(f"| {name} | {mode} | {rc_text(rc)} | – | – | – | – | – | – | – | – | – | – | no report: {err[-200:].replace(chr(10), ' ').replace('|', '/') or 'none'} |")
            continue
        errors = ", ".join(f"{k} {v}" for k, v in sorted(r.get("errors", {}).items())) or "none"
        if num(r, "udp_rcvbuf_drops"):
            errors += f"; kernel dropped {r['udp_rcvbuf_drops']} datagram(s) at full UDP receive buffers"
        limits = []
        if r.get("late_frames", 0) > 0:
            limits.append("generator (late frames)")
        if (num(r, "sfu_cpu_percent") or 0) >= 90:
            limits.append("forwarder (CPU)")
        if (num(r, "udp_rcvbuf_drops") or 0) > 0:
            limits.append("full UDP receive buffers (kernel drops)")
        limited = ", ".join(limits) or "neither"
        w(f"| {name} | {mode} | {rc_text(rc)} | {f(num(r, 'forwarded_pps'))} | {f(num(r, 'forwarded_mbps'), '{:.2f}')}"
          f" | {f(num(r, 'sfu_cpu_seconds'), '{:.2f}')} ({f(num(r, 'sfu_cpu_percent'), '{:.1f}')} %)"
          f" | {f(num(r, 'pps_per_cpu_second'))}"
          f" | {r['frames_received']} / {r['frames_expected']} | {100 * r['loss_ratio']:.3f} %"
          f" | {mib(num(r, 'sfu_rss_before_bytes'))} → {mib(num(r, 'sfu_rss_bytes'))} ({mib(num(r, 'sfu_rss_peak_bytes'))})"
          f" | {f(num(r, 'latency_ms_p50'), '{:.2f}')} / {f(num(r, 'latency_ms_p99'), '{:.2f}')} / {f(num(r, 'latency_ms_p999'), '{:.2f}')}"
          f" | {f(num(r, 'loadgen_cpu_seconds'), '{:.2f}')}, {r['late_frames']}"
          f" | {limited} | {r['participants_failed']}, {errors} |")
w("")
w("*Kernel dropped … datagram(s)*: `RcvbufErrors` from `/proc/net/snmp` over the run (joins")
w("included), machine-wide: datagrams lost before the server or the generator could read them.")
w("Every socket of the server, the generator and the relay asks for a 1 MiB receive buffer.")
w("")
w("*Limited by*: a generator that falls behind its frame schedule (late frames) limited the run")
w("itself, so its loss and latency say little about the forwarder; a forwarder at 90 % of its core")
w("or more was saturated. *Packets per CPU-s* stays a fair cost measure either way. Exit 1 means")
w("the run completed but was not perfect (some loss, a failed participant or an unclean")
w("shutdown); its numbers are still reported.")
w("")
w("## Machine and run")
w("")
w(f"- date: {env['BENCH_DATE']}")
w(f"- commit: `{env['BENCH_COMMIT']}`; uncommitted changes: {env['BENCH_DIRTY']}")
w(f"- machine: {env['BENCH_MACHINE']}")
w(f"- toolchain: {env['BENCH_RUSTC']}, release builds")
w(f"- command: `{env['BENCH_COMMAND']}` with {env['BENCH_ENV']} ({env['BENCH_SECONDS']} s in all)")
w(f"- CPU pinning: {env['BENCH_PINNING']}")
w(f"- load average (1, 5, 15 min): {env['BENCH_LOAD']}; anything else running on the machine")
w("  shows here and takes CPU from the runs")
w(f"- each run: {env['BENCH_DURATION']} s measurement window after 2 s of warm-up; limited to")
w("  60 s from the forwarder's start to the report")
w("")
w(f"- Janus: {env['BENCH_JANUS']}, videoroom plugin and HTTP transport only, ICE lite, in a")
w("  network namespace of its own (veth pair, 10.231.0.1/30 ↔ 10.231.0.2/30); the generator")
w("  runs in the other namespace for the janus runs; the same CPU pinning applies")
w("")
w("<details><summary>Every run's report (<code>confidant-loadgen --json</code>)</summary>")
w("")
w("```json")
if env.get("BENCH_CHURN"):
    raw_json.append(("churn", "sfu", load("churn", "sfu")[1], ""))
for name, mode, r, err in raw_json:
    w(json.dumps({"scenario": name, "mode": mode, "report": r}, sort_keys=True))
w("```")
w("")
w("</details>")
print("\n".join(out))
PY
echo "==> wrote $OUT ($(($(date +%s) - START)) s)"
