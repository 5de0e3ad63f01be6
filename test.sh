#!/usr/bin/env bash
# Runs every BuildFarm test in two lanes and prints a final line "N passed, N failed, N skipped" totalled over both
# lanes and all projects; exits non-zero on any failure.
#
#   1. build with warnings as errors;
#   2. fast lane: every test without [NeedsServer] (trait Lane=Servers), run with the server variables unset, so a test
#      that needs a server but is not marked fails here instead of passing by luck;
#   3. installs (as root, with apt-get) and starts on 127.0.0.1 the servers the tests need (redis, rabbitmq, prometheus);
#   4. server lane: the [NeedsServer] tests (Lane=Servers) of the projects that have any, with the variables set;
#   5. stops what it started.
#
#   ./test.sh                 everything
#   ./test.sh --filter EXPR   passes a dotnet test filter to every project (combined with each lane's own filter)
#   ./test.sh --fast          the fast lane only (no servers started)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
run_dir="$root/.test-run"
rm -rf "$run_dir"
mkdir -p "$run_dir/results" "$run_dir/services"

user_filter=""; fast_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) [ -n "${2:-}" ] || { echo "test.sh: --filter needs an expression" >&2; exit 2; }; user_filter="$2"; shift 2 ;;
    --fast) fast_only=1; shift ;;
    *) echo "test.sh: unknown argument '$1' (use --filter EXPR or --fast)" >&2; exit 2 ;;
  esac
done

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# fail MESSAGE: stops the run; the last line still totals what ran so far, plus this failure.
fail() { echo "test.sh: $*" >&2; echo "${passed:-0} passed, $((${failed:-0} + 1)) failed, ${skipped:-0} skipped"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Services. Each one the tests need is listed in $services; started ones are stopped on exit.
# ---------------------------------------------------------------------------------------------
services=(redis rabbitmq prometheus registry)
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

# RabbitMQ with the project's deploy/rabbitmq/rabbitmq.conf (consumer_timeout), a node of its own (name, ports,
# mnesia, logs) so it never meets a system broker. Debian's rabbitmq-server drops to the rabbitmq user when started
# as root, and that user may not be able to enter the checkout (a clone under /root, mode 700): as root the node's
# folder is a fresh one under /tmp owned by rabbitmq, removed on exit, with a link to it at
# $run_dir/services/rabbitmq. Exports BUILDFARM_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:PORT/.
rabbitmq_dir=""; rabbitmq_tmp_dir=""; rabbitmq_started_epmd=0
start_rabbitmq() {
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  local port; port="$(free_port 35672)"
  local d="$run_dir/services/rabbitmq"
  if [ "$(id -u)" = "0" ]; then
    rabbitmq_tmp_dir="$(mktemp -d /tmp/buildfarm-test-rabbitmq.XXXXXX)" || fail "mktemp for the RabbitMQ node failed"
    ln -s "$rabbitmq_tmp_dir" "$d"
    d="$rabbitmq_tmp_dir"
  fi
  mkdir -p "$d/mnesia" "$d/log"
  cp deploy/rabbitmq/rabbitmq.conf "$d/"
  echo "[]." >"$d/enabled_plugins"
  if [ "$(id -u)" = "0" ]; then chown -R rabbitmq:rabbitmq "$d"; fi
  pgrep -x epmd >/dev/null 2>&1 || rabbitmq_started_epmd=1
  rabbitmq_dir="$d"
  echo "== rabbitmq-server on 127.0.0.1:$port (node bftest-$port@localhost)"
  env RABBITMQ_NODENAME="bftest-$port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" \
    RABBITMQ_DIST_PORT=$((port + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_PID_FILE="$d/pid" \
    rabbitmq-server >"$d/out.log" 2>&1 &
  started_pids+=($!)
  wait_until "rabbitmq-server (logs: $d/out.log, $d/log)" 120 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port)"
  # The build consumer holds its message for the whole build: the broker must run with the project's consumer_timeout.
  local want got
  want="$(sed -n 's/^consumer_timeout *= *\([0-9]*\).*/\1/p' deploy/rabbitmq/rabbitmq.conf)"
  got="$(timeout 60 rabbitmqctl -q -n "bftest-$port@localhost" eval 'application:get_env(rabbit, consumer_timeout).' 2>&1)"
  [ "$got" = "{ok,$want}" ] || fail "rabbitmq consumer_timeout is '$got', expected {ok,$want} from deploy/rabbitmq/rabbitmq.conf"
  echo "   consumer_timeout in force: $want ms"
  export BUILDFARM_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:$port/"
}

stop_rabbitmq() {
  [ -n "$rabbitmq_dir" ] || return 0
  local pid; pid="$(cat "$rabbitmq_dir/pid" 2>/dev/null)"
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # epmd outlives the node; stop it only if it was not running before this script.
  if [ "$rabbitmq_started_epmd" = "1" ]; then epmd -kill >/dev/null 2>&1 || true; fi
  # The node's logs are kept beside the test results when the node ran outside the checkout.
  if [ -n "$rabbitmq_tmp_dir" ]; then
    rm -f "$run_dir/services/rabbitmq"
    mkdir -p "$run_dir/services/rabbitmq"
    cp -r "$rabbitmq_tmp_dir/log" "$rabbitmq_tmp_dir/out.log" "$run_dir/services/rabbitmq/" 2>/dev/null || true
    rm -rf "$rabbitmq_tmp_dir"
  fi
}

# prometheus and promtool for tests/BuildFarm.Dashboards.Tests: installed here (Debian package, ~13 s, ~96 MB), not
# started — each test starts its own prometheus on a free port. Exports BUILDFARM_TEST_PROMETHEUS and
# BUILDFARM_TEST_PROMTOOL (absolute paths). The package enables and starts a system prometheus on :9090; a temporary
# policy-rc.d (exit 101) keeps it from starting during the install when the machine has none.
prometheus_policy_added=0
start_prometheus() {
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      prometheus_policy_added=1
    fi
    apt_install prometheus
    remove_prometheus_policy
  fi
  BUILDFARM_TEST_PROMETHEUS="$(command -v prometheus)"
  BUILDFARM_TEST_PROMTOOL="$(command -v promtool)"
  export BUILDFARM_TEST_PROMETHEUS BUILDFARM_TEST_PROMTOOL
  echo "== $("$BUILDFARM_TEST_PROMETHEUS" --version 2>&1 | head -n 1) (the dashboards tests start their own)"
}

remove_prometheus_policy() {
  if [ "$prometheus_policy_added" = "1" ]; then
    rm -f /usr/sbin/policy-rc.d
    prometheus_policy_added=0
  fi
}

# Two Debian docker-registry (CNCF distribution 2.8) processes for tests/BuildFarm.Registry.Tests and the simulator's
# real pushes: one open, one behind htpasswd Basic auth (a bcrypt file made here with htpasswd from apache2-utils). Each
# has its own storage folder and config under $run_dir/services. skopeo is installed when the package can be had (the
# tests cross-check indexes with `skopeo inspect --raw` when it is there). A policy-rc.d keeps the package from
# starting a system registry on :5000 during the install. Exports BUILDFARM_TEST_REGISTRY (host:port, no auth),
# BUILDFARM_TEST_REGISTRY_AUTH (host:port), BUILDFARM_TEST_REGISTRY_USER, BUILDFARM_TEST_REGISTRY_PASSWORD and, with
# skopeo, BUILDFARM_TEST_SKOPEO.
registry_policy_added=0
start_registry() {
  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      registry_policy_added=1
    fi
    apt_install "${missing[@]}"
    if [ "$registry_policy_added" = "1" ]; then rm -f /usr/sbin/policy-rc.d; registry_policy_added=0; fi
  fi
  if ! command -v skopeo >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo \
      >"$run_dir/services/apt-install-skopeo.log" 2>&1 || echo "   skopeo could not be installed; the registry tests use the registry API alone"
  fi
  local d="$run_dir/services/registry"
  mkdir -p "$d/open" "$d/auth"
  local user="buildfarm" password; password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  htpasswd -Bbc "$d/htpasswd" "$user" "$password" >/dev/null 2>&1 || fail "htpasswd could not write $d/htpasswd"
  local port auth_port
  port="$(free_port 15000)"
  write_registry_config "$d/open" "$port" ""
  docker-registry serve "$d/open/config.yml" >"$d/open/registry.log" 2>&1 &
  started_pids+=($!)
  wait_until "docker-registry (log: $d/open/registry.log)" 30 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port)"
  auth_port="$(free_port $((port + 1)))"
  write_registry_config "$d/auth" "$auth_port" "$d/htpasswd"
  docker-registry serve "$d/auth/config.yml" >"$d/auth/registry.log" 2>&1 &
  started_pids+=($!)
  wait_until "docker-registry with auth (log: $d/auth/registry.log)" 30 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$auth_port)"
  echo "== docker-registry on 127.0.0.1:$port (open) and 127.0.0.1:$auth_port (htpasswd)"
  export BUILDFARM_TEST_REGISTRY="127.0.0.1:$port" BUILDFARM_TEST_REGISTRY_AUTH="127.0.0.1:$auth_port"
  export BUILDFARM_TEST_REGISTRY_USER="$user" BUILDFARM_TEST_REGISTRY_PASSWORD="$password"
  if command -v skopeo >/dev/null 2>&1; then export BUILDFARM_TEST_SKOPEO="$(command -v skopeo)"; fi
}

# write_registry_config DIR PORT HTPASSWD: a registry on 127.0.0.1:PORT storing under DIR/storage; Basic auth when HTPASSWD.
write_registry_config() {
  local dir="$1" port="$2" htpasswd_file="$3"
  {
    echo "version: 0.1"
    echo "log: {level: warn, accesslog: {disabled: true}}"
    echo "storage: {filesystem: {rootdirectory: $dir/storage}, delete: {enabled: true}}"
    echo "http: {addr: 127.0.0.1:$port, secret: buildfarm-test-$port}"
    if [ -n "$htpasswd_file" ]; then echo "auth: {htpasswd: {realm: buildfarm-test, path: $htpasswd_file}}"; fi
  } >"$dir/config.yml"
}

stop_services() {
  remove_prometheus_policy
  if [ "$registry_policy_added" = "1" ]; then rm -f /usr/sbin/policy-rc.d; fi
  stop_rabbitmq
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_services EXIT

# ---------------------------------------------------------------------------------------------
# Build once, then run each lane over the test projects and total the TRX counters.
# ---------------------------------------------------------------------------------------------
echo "== build (warnings as errors)"
if ! dotnet build BuildFarm.sln -c Release -warnaserror -nologo -v:q >"$run_dir/build.log" 2>&1; then
  cat "$run_dir/build.log" >&2
  fail "dotnet build failed"
fi

server_variables=(BUILDFARM_TEST_REDIS BUILDFARM_TEST_RABBITMQ BUILDFARM_TEST_PROMETHEUS BUILDFARM_TEST_PROMTOOL
  BUILDFARM_TEST_REGISTRY BUILDFARM_TEST_REGISTRY_AUTH BUILDFARM_TEST_REGISTRY_USER BUILDFARM_TEST_REGISTRY_PASSWORD BUILDFARM_TEST_SKOPEO)
passed=0; failed=0; skipped=0; status=0

# run_lane LANE FILTER [env -u ...]: runs every test project with FILTER (and the user's), adds its counters to the totals.
run_lane() {
  local lane="$1" lane_filter="$2"; shift 2
  local filter="$lane_filter"
  if [ -n "$user_filter" ]; then filter="($lane_filter)&($user_filter)"; fi
  local lane_passed=0 lane_failed=0 lane_skipped=0 lane_started=$SECONDS
  for project in tests/*.Tests/*.Tests.csproj; do
    local name; name="$(basename "$project" .csproj)"
    # The server lane skips projects with no [NeedsServer] test (each dotnet test costs a few seconds to start).
    if [ "$lane" = "servers" ] && ! grep -rqs --include='*.cs' 'NeedsServer(' "$(dirname "$project")"; then
      continue
    fi
    echo "== $lane: $name"
    "$@" dotnet test "$project" -c Release --no-build -nologo \
      --logger "trx;LogFileName=$name.$lane.trx" --logger "console;verbosity=minimal" \
      --results-directory "$run_dir/results" --filter "$filter"
    local code=$?
    local trx="$run_dir/results/$name.$lane.trx"
    if [ ! -f "$trx" ]; then
      echo "test.sh: $name ($lane lane) produced no results (exit $code)" >&2
      lane_failed=$((lane_failed + 1)); status=1
      continue
    fi
    local counters; counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
    get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    local p f e t a n
    p="$(get passed)"; f="$(get failed)"; e="$(get error)"; t="$(get timeout)"; a="$(get aborted)"; n="$(get notExecuted)"
    lane_passed=$((lane_passed + ${p:-0}))
    lane_failed=$((lane_failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
    lane_skipped=$((lane_skipped + ${n:-0}))
    if [ "$code" != "0" ] && [ "$((${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))" = "0" ]; then
      echo "test.sh: $name ($lane lane) exited $code without a failed test (crash or no tests?)" >&2
      lane_failed=$((lane_failed + 1))
    fi
    [ "$code" = "0" ] || status=1
  done
  echo "== $lane lane: $lane_passed passed, $lane_failed failed, $lane_skipped skipped in $((SECONDS - lane_started))s"
  passed=$((passed + lane_passed)); failed=$((failed + lane_failed)); skipped=$((skipped + lane_skipped))
}

# Fast lane first, with no server variables: an unmarked test that needs a server fails here.
env_unset=(env); for v in "${server_variables[@]}"; do env_unset+=(-u "$v"); done
run_lane fast "Lane!=Servers" "${env_unset[@]}"

if [ "$fast_only" = "0" ]; then
  for service in "${services[@]}"; do
    "start_$service"
  done
  run_lane servers "Lane=Servers"
fi

echo "== total $((SECONDS))s"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" != "0" ] || [ "$status" != "0" ]; then
  exit 1
fi
exit 0
