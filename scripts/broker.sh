#!/usr/bin/env bash
# Runs a private RabbitMQ (Debian package) with its AMQP 1.0 plugin on loopback.
#
#   scripts/broker.sh up|down|status|env [NAME]
#
# NAME (default "main") selects an instance; each has its own node, ports,
# data dir and certificates, so a test can restart its own broker without
# disturbing the others. Nothing touches the system service or /var/lib.
#
#   BROKER_PORT   AMQP port of instance "main" (default: from the checkout's
#                 path, 20000-28999); AMQPS is PORT+1, Erlang distribution
#                 PORT+2. Other instances get 3 ports derived from the name.
#   BROKER_ROOT   where instances live (default: <repo>/.run/broker)
#
# "up" is idempotent, waits until the broker answers the AMQP 1.0 protocol
# header and writes NAME/broker.env (URLs and certificate paths) for tests.
set -euo pipefail

cmd=${1:-status}
name=${2:-main}
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${BROKER_ROOT:-$repo/.run/broker}
dir=$root/$name
mkdir -p "$dir"

# Ports stay below Linux's ephemeral range (32768-60999), where any outgoing
# connection could hold them. Each checkout gets its own block of 100 ports
# in 20000-28999 (from its path), each instance 3 ports inside the block.
if [ -n "${BROKER_PORT:-}" ]; then
  base=$BROKER_PORT
else
  base=$(( 20000 + ( $(printf '%s' "$repo" | cksum | cut -d' ' -f1) % 90 ) * 100 ))
fi
if [ "$name" != main ]; then
  off=$(( ( $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 30 + 1 ) * 3 ))
  base=$(( base + off ))
fi
amqp_port=$base
amqps_port=$((base + 1))
dist_port=$((base + 2))
# Unique per instance directory: epmd is shared by every checkout.
node="pubtools-sign-$name-$(printf %s "$dir" | cksum | cut -d" " -f1)@localhost"
# The /usr/sbin wrappers switch to the "rabbitmq" user; the node's own scripts
# run as whoever calls them, so the private dir stays ours.
rmq_bin=/usr/lib/rabbitmq/bin

log() { printf 'broker[%s]: %s\n' "$name" "$*" >&2; }

install_if_missing() {
  command -v rabbitmq-server >/dev/null && return 0
  log "installing Debian rabbitmq-server"
  # Keep the package's own service from starting: we run a private node.
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; added=1; fi
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rabbitmq-server openssl) >&2
  [ -n "$added" ] && rm -f "$policy"
  # Some images start epmd/beam from the package scripts anyway; stop only those.
  if command -v systemctl >/dev/null && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
    systemctl stop rabbitmq-server || true
  fi
}

make_certs() {
  local c=$dir/certs
  [ -s "$c/client.pem" ] && return 0
  mkdir -p "$c" && chmod 700 "$c"
  log "generating test CA and certificates in $c"
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pubtools-sign test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=other test CA" \
      -keyout other-ca.key -out other-ca.pem 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.pem 2>/dev/null
    client() { # name subject
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out "$1.crt" 2>/dev/null
      cat "$1.key" "$1.crt" >"$1.pem"
      rm -f "$1.key" "$1.crt" "$1.csr"
    }
    client client-uid "/UID=pubtools-uid"
    client client "/CN=pubtools-sign-test"
    chmod 600 ./*.key ./*.pem
  )
}

write_config() {
  mkdir -p "$dir/mnesia" "$dir/log" "$dir/home"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$amqp_port
listeners.ssl.default = 127.0.0.1:$amqps_port
ssl_options.cacertfile = $dir/certs/ca.pem
ssl_options.certfile = $dir/certs/server.pem
ssl_options.keyfile = $dir/certs/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.1 = tlsv1.2
ssl_options.versions.2 = tlsv1.3
loopback_users = none
log.file.level = warning
log.console = false
disk_free_limit.absolute = 50MB
EOF
  printf '[rabbitmq_amqp1_0].\n' >"$dir/enabled_plugins"
}

rmq_env() {
  export HOME=$dir/home
  export RABBITMQ_NODENAME=$node
  export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
  export RABBITMQ_MNESIA_BASE=$dir/mnesia
  export RABBITMQ_LOG_BASE=$dir/log
  export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
  export RABBITMQ_DIST_PORT=$dist_port
  export ERL_EPMD_ADDRESS=127.0.0.1
}

# node_alive: the node started from this directory is running (its pid
# file is ours; another checkout's node has its own).
node_alive() {
  [ -s "$dir/rabbitmq.pid" ] && kill -0 "$(cat "$dir/rabbitmq.pid")" 2>/dev/null
}

# amqp10_answers succeeds when the port answers an AMQP 1.0 SASL header.
amqp10_answers() {
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$amqp_port; printf 'AMQP\x03\x01\x00\x00' >&3; head -c 8 <&3 | od -An -tx1" 2>/dev/null | tr -d ' \n') || return 1
  [ "$reply" = "414d515003010000" ]
}

# port_listening: something accepts connections on the AMQP port.
port_listening() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$amqp_port" 2>/dev/null
}

write_env() {
  cat >"$dir/broker.env" <<EOF
AMQP_URL=amqp://127.0.0.1:$amqp_port
AMQPS_URL=amqps://localhost:$amqps_port
CA_CERT=$dir/certs/ca.pem
OTHER_CA_CERT=$dir/certs/other-ca.pem
CLIENT_CERT_KEY=$dir/certs/client.pem
CLIENT_UID_CERT_KEY=$dir/certs/client-uid.pem
EOF
}

up() {
  install_if_missing
  make_certs
  write_config
  if amqp10_answers; then
    if ! node_alive; then
      log "port $amqp_port answers but not with the node of $dir (another checkout's broker?); stop it or set BROKER_PORT"
      return 1
    fi
    write_env; log "already up on 127.0.0.1:$amqp_port"; return 0
  fi
  rmq_env
  # A node that was just stopped may still hold the listener for a moment.
  for _ in $(seq 1 120); do port_listening || break; sleep 0.25; done
  log "starting node $node (amqp 127.0.0.1:$amqp_port, amqps 127.0.0.1:$amqps_port)"
  (cd "$dir" && exec setsid "$rmq_bin/rabbitmq-server" >"$dir/log/console.log" 2>&1 </dev/null) 9>&- &
  local launched=$! i
  for i in $(seq 1 240); do
    if amqp10_answers; then
      expire_orphan_queues
      write_env; log "ready after $((i / 4))s"; return 0
    fi
    # The pid file comes late in the boot; the launched process tells sooner.
    if ! kill -0 "$launched" 2>/dev/null && ! node_alive; then break; fi
    sleep 0.25
  done
  log "did not accept AMQP 1.0; last log lines:"
  grep -v '^\s*$' "$dir/log/console.log" | grep -m 20 -i 'error\|invalid\|failed' >&2 || tail -n 20 "$dir/log/console.log" >&2
  return 1
}

# expire_orphan_queues: the AMQP 1.0 plugin backs each /topic/ receiver
# with a server-named queue (amq.gen-*) that outlives a link whose detach
# it never completed, collecting copies of every matching message forever.
# Production brokers need the same policy (see README, Operating it).
expire_orphan_queues() {
  "$rmq_bin/rabbitmqctl" -n "$node" set_policy --apply-to queues amqp10-orphan-queues '^amq\.gen-' '{"expires": 60000}' >/dev/null 2>&1 ||
    log "warning: could not set the amq.gen-* expiry policy"
}

down() {
  rmq_env
  if node_alive; then
    local pid
    pid=$(cat "$dir/rabbitmq.pid")
    "$rmq_bin/rabbitmqctl" -n "$node" stop >/dev/null 2>&1 || kill "$pid" || true
    # A loaded machine (CI runs packages in parallel) can take a while;
    # never report "stopped" while the node still holds its ports.
    for _ in $(seq 1 240); do node_alive || break; sleep 0.25; done
    if node_alive; then
      log "node did not stop within 60s; killing it"
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    rm -f "$dir/rabbitmq.pid"
    log "stopped"
  else
    log "not running"
  fi
  rm -f "$dir/broker.env"
}

status() {
  if amqp10_answers; then log "up on 127.0.0.1:$amqp_port"; else log "down"; return 1; fi
}

# Concurrent test packages call "up" at once: serialise per instance.
exec 9>"$dir/.lock"
flock 9
case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) up >/dev/null && cat "$dir/broker.env" ;;
  *) echo "usage: $0 up|down|status|env [NAME]" >&2; exit 2 ;;
esac
