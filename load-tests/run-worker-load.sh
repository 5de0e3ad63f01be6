#!/usr/bin/env bash
# Runs the worker load generator (load-tests/BuildFarm.WorkerLoad) against a PRIVATE redis-server and RabbitMQ node
# started here the way ./test.sh starts them (own ports, own node name, state under .load-run/, the project's
# deploy/rabbitmq/rabbitmq.conf), and stops both at the end, whatever happens. Arguments go to the generator:
#
#   load-tests/run-worker-load.sh [--builds 2000] [--rate 100] [--latency-seconds 20] [--memory-builds 10000] ...
#
# With servers of your own instead: export BUILDFARM_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:PORT/ and
# BUILDFARM_TEST_REDIS=127.0.0.1:PORT and run `dotnet run -c Release --project load-tests/BuildFarm.WorkerLoad -- ...`
# (the broker must not have the queue buildfarm-build-image yet: the baseline publishes BuildImage).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
run_dir="$root/.load-run"
# One run at a time: a second run would delete the first one's server state under its feet (and leave its servers).
exec 9>"$root/.load-run.lock"
flock -n 9 || { echo "run-worker-load.sh: another run is in progress (lock $root/.load-run.lock)" >&2; exit 1; }
rm -rf "$run_dir"
mkdir -p "$run_dir"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

fail() { echo "run-worker-load.sh: $*" >&2; exit 1; }
for tool in redis-server redis-cli rabbitmq-server rabbitmqctl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (apt-get install redis-server redis-tools rabbitmq-server)"
done

wait_until() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && fail "$what did not become ready within ${seconds}s"
    sleep 0.2
  done
}

free_port() {
  local port="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

redis_pid=""; rabbit_dir=""; rabbit_tmp_dir=""; started_epmd=0
stop_services() {
  if [ -n "$rabbit_dir" ]; then
    local pid; pid="$(cat "$rabbit_dir/pid" 2>/dev/null)"
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + 60))
      while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    [ "$started_epmd" = "1" ] && { epmd -kill >/dev/null 2>&1 || true; }
  fi
  if [ -n "$rabbit_tmp_dir" ]; then
    rm -f "$run_dir/rabbitmq"
    mkdir -p "$run_dir/rabbitmq"
    cp -r "$rabbit_tmp_dir/log" "$rabbit_tmp_dir/out.log" "$run_dir/rabbitmq/" 2>/dev/null || true
    rm -rf "$rabbit_tmp_dir"
  fi
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
}
trap stop_services EXIT

redis_port="$(free_port 26379)"
echo "== redis-server on 127.0.0.1:$redis_port"
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$run_dir" --logfile "$run_dir/redis.log" &
redis_pid=$!
wait_until "redis-server" 30 bash -c "[ \"\$(redis-cli -h 127.0.0.1 -p $redis_port ping)\" = PONG ]"

rabbit_port="$(free_port 36672)"
rabbit_dir="$run_dir/rabbitmq"
# As root, Debian's rabbitmq-server drops to the rabbitmq user, which may not enter the checkout (a clone under /root,
# mode 700): the node then lives in a fresh folder under /tmp owned by rabbitmq, linked from .load-run/rabbitmq and
# removed at the end.
if [ "$(id -u)" = "0" ]; then
  rabbit_tmp_dir="$(mktemp -d /tmp/buildfarm-load-rabbitmq.XXXXXX)" || fail "mktemp for the RabbitMQ node failed"
  ln -s "$rabbit_tmp_dir" "$rabbit_dir"
  rabbit_dir="$rabbit_tmp_dir"
fi
mkdir -p "$rabbit_dir/mnesia" "$rabbit_dir/log"
cp deploy/rabbitmq/rabbitmq.conf "$rabbit_dir/"
echo "[]." >"$rabbit_dir/enabled_plugins"
[ "$(id -u)" = "0" ] && chown -R rabbitmq:rabbitmq "$rabbit_dir"
pgrep -x epmd >/dev/null 2>&1 || started_epmd=1
echo "== rabbitmq-server on 127.0.0.1:$rabbit_port (node bfload-$rabbit_port@localhost)"
env RABBITMQ_NODENAME="bfload-$rabbit_port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$rabbit_port" \
  RABBITMQ_DIST_PORT=$((rabbit_port + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 \
  RABBITMQ_MNESIA_BASE="$rabbit_dir/mnesia" RABBITMQ_LOG_BASE="$rabbit_dir/log" RABBITMQ_CONFIG_FILE="$rabbit_dir/rabbitmq.conf" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$rabbit_dir/enabled_plugins" RABBITMQ_PID_FILE="$rabbit_dir/pid" \
  rabbitmq-server >"$rabbit_dir/out.log" 2>&1 &
wait_until "rabbitmq-server (logs: $rabbit_dir)" 120 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$rabbit_port)"
wait_until "rabbitmq-server to accept AMQP" 60 rabbitmqctl -q -n "bfload-$rabbit_port@localhost" await_startup

# The generator reports CPU per build of every process on the machine, these two included.
export BUILDFARM_LOAD_REDIS_PID="$redis_pid"
export BUILDFARM_LOAD_BROKER_PID="$(cat "$rabbit_dir/pid" 2>/dev/null)"
export BUILDFARM_TEST_REDIS="127.0.0.1:$redis_port"
export BUILDFARM_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:$rabbit_port/"
echo "== dotnet run -c Release --project load-tests/BuildFarm.WorkerLoad -- $*"
dotnet run -c Release --project load-tests/BuildFarm.WorkerLoad -- "$@"
exit $?
