#!/usr/bin/env bash
# Runs every BuildFarm test: installs (as root, with apt-get) and starts on 127.0.0.1 the servers the
# tests need, builds with warnings as errors, runs each test project, stops what it started and prints
# a final line "N passed, N failed, N skipped" totalled over all projects. Exits non-zero on any failure.
#
#   ./test.sh                 everything
#   ./test.sh --filter EXPR   passes a dotnet test filter to every project
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
run_dir="$root/.test-run"
rm -rf "$run_dir"
mkdir -p "$run_dir/results" "$run_dir/services"

filter_args=()
if [ "${1:-}" = "--filter" ] && [ -n "${2:-}" ]; then
  filter_args=(--filter "$2")
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

fail() { echo "test.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Services. Each one the tests need is listed in $services; started ones are stopped on exit.
# ---------------------------------------------------------------------------------------------
services=(redis)     # rabbitmq and prometheus join as the worker and dashboards need them
started_pids=()
apt_updated=0

apt_install() {
  if [ "$(id -u)" != "0" ]; then
    fail "$1 is missing and installing it needs root (apt-get install $*)"
  fi
  if [ "$apt_updated" = "0" ]; then
    apt-get update -qq >"$run_dir/services/apt-update.log" 2>&1 || fail "apt-get update failed (see $run_dir/services/apt-update.log)"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >"$run_dir/services/apt-install.log" 2>&1 || fail "apt-get install $* failed (see $run_dir/services/apt-install.log)"
}

# wait_until DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_until() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$what did not become ready within ${seconds}s"
    fi
    sleep 0.2
  done
}

# free_port START: the first port from START up that nothing listens on, on 127.0.0.1.
free_port() {
  local port="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
  local port; port="$(free_port 16379)"
  echo "== redis-server on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$run_dir/services" --logfile "$run_dir/services/redis.log" &
  started_pids+=($!)
  wait_until "redis-server (log: $run_dir/services/redis.log)" 30 \
    bash -c "[ \"\$(redis-cli -h 127.0.0.1 -p $port ping)\" = PONG ]"
  export BUILDFARM_TEST_REDIS="127.0.0.1:$port"
}

stop_services() {
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_services EXIT

for service in "${services[@]}"; do
  "start_$service"
done

# ---------------------------------------------------------------------------------------------
# Build once, then run each test project and total the TRX counters.
# ---------------------------------------------------------------------------------------------
echo "== build (warnings as errors)"
if ! dotnet build BuildFarm.sln -c Release -warnaserror -nologo -v:q >"$run_dir/build.log" 2>&1; then
  cat "$run_dir/build.log" >&2
  fail "dotnet build failed"
fi

passed=0; failed=0; skipped=0; status=0
for project in tests/*/*.csproj; do
  name="$(basename "$project" .csproj)"
  echo "== $name"
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$run_dir/results" "${filter_args[@]}"
  code=$?
  trx="$run_dir/results/$name.trx"
  if [ ! -f "$trx" ]; then
    echo "test.sh: $name produced no results (exit $code)" >&2
    failed=$((failed + 1)); status=1
    continue
  fi
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  p="$(get passed)"; f="$(get failed)"; e="$(get error)"; t="$(get timeout)"; a="$(get aborted)"; n="$(get notExecuted)"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
  skipped=$((skipped + ${n:-0}))
  if [ "$code" != "0" ] && [ "$((${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))" = "0" ]; then
    echo "test.sh: $name exited $code without a failed test (crash or no tests?)" >&2
    failed=$((failed + 1))
  fi
  [ "$code" = "0" ] || status=1
done

echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" != "0" ] || [ "$status" != "0" ]; then
  exit 1
fi
exit 0
