#!/usr/bin/env bash
# Runs a private RabbitMQ (Debian package) with its AMQP 1.0 plugin on loopback.
#
#   scripts/broker.sh up|down|status|env|list|down-all [NAME]
#
# NAME (default "main") selects an instance; each has its own node, ports,
# data dir and certificates, so a test can restart its own broker without
# disturbing the others. Nothing touches the system service or /var/lib,
# and nothing is installed here (that is scripts/deps.sh): without RabbitMQ
# this exits 3 naming scripts/deps.sh.
#
# Ports. Every listener is on 127.0.0.1 and below Linux's ephemeral range
# (32768-60999), where any outgoing connection could hold a port when a
# broker (re)starts. Each checkout (BROKER_ROOT) claims its own block of 100
# ports in 20000-28999: preferred from the path's checksum, moved to the next
# free block when another existing checkout holds it (claims live in
# $BROKER_CLAIMS, default /tmp/pubtools-sign-broker-blocks). In a block,
# instance slot i (0-19) has AMQP base+4i, AMQPS +1, Erlang distribution +2;
# base+80..99 are rabbitmqctl's own distribution ports. An instance remembers
# its slot (NAME/slot); a start that fails with address-in-use moves it to
# the next free slot. epmd (port 4369, shared by every checkout) is told to
# listen on 127.0.0.1 only.
#
#   BROKER_PORT   first port of the block (skips the claim)
#   BROKER_ROOT   where instances live (default: <repo>/.run/broker)
#   RABBITMQ_BIN_DIR  the node's scripts (default: /usr/lib/rabbitmq/bin;
#                 a missing one shows what tests do without RabbitMQ)
#
# "up" is idempotent, waits until the broker answers the AMQP 1.0 protocol
# header and writes NAME/broker.env (URLs and certificate paths) for tests.
# It renews the test certificates when one expires within a day.
set -euo pipefail

cmd=${1:-status}
name=${2:-main}
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${BROKER_ROOT:-$repo/.run/broker}
dir=$root/$name
claims=${BROKER_CLAIMS:-/tmp/pubtools-sign-broker-blocks}
mkdir -p "$dir"
root=$(cd "$root" && pwd)
dir=$root/$name
# Unique per instance directory: epmd is shared by every checkout.
node="pubtools-sign-$name-$(printf %s "$dir" | cksum | cut -d" " -f1)@localhost"
# The /usr/sbin wrappers switch to the "rabbitmq" user; the node's own scripts
# run as whoever calls them, so the private dir stays ours.
rmq_bin=${RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}

log() { printf 'broker[%s]: %s\n' "$name" "$*" >&2; }

require_installed() {
  if [ ! -x "$rmq_bin/rabbitmq-server" ] || ! command -v openssl >/dev/null; then
    log "RabbitMQ (Debian rabbitmq-server) or openssl is not installed: run scripts/deps.sh"
    exit 3
  fi
}

# claim_block sets base to the first port of this checkout's block.
claim_block() {
  if [ -n "${BROKER_PORT:-}" ]; then base=$BROKER_PORT; return; fi
  mkdir -p "$claims"
  local n start owner
  exec 7>"$claims/.lock"
  flock 7
  for f in "$claims"/*; do # already ours
    [ -f "$f" ] && [ "$(cat "$f")" = "$root" ] && { base=$(( 20000 + $(basename "$f") * 100 )); exec 7>&-; return; }
  done
  start=$(( $(printf '%s' "$root" | cksum | cut -d' ' -f1) % 90 ))
  for i in $(seq 0 89); do
    n=$(( (start + i) % 90 ))
    owner=$(cat "$claims/$n" 2>/dev/null || true)
    # A claim of a checkout that no longer exists is stale.
    if [ -z "$owner" ] || [ ! -d "$owner" ]; then
      printf '%s' "$root" >"$claims/$n"
      base=$(( 20000 + n * 100 )); exec 7>&-; return
    fi
  done
  exec 7>&-
  log "all 90 port blocks are claimed by existing checkouts (see $claims)"; exit 1
}

# port_free: no socket of any state is bound to local port $1.
port_free() {
  if command -v ss >/dev/null; then
    # TIME_WAIT leftovers do not keep a listener from binding.
    [ -z "$(ss -Htan exclude time-wait "( sport = :$1 )" 2>/dev/null)" ]
  else
    ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
  fi
}

set_ports() {
  amqp_port=$(( base + slot * 4 )); amqps_port=$((amqp_port + 1)); dist_port=$((amqp_port + 2))
  ctl_min=$(( base + 80 )); ctl_max=$(( base + 99 ))
}

# pick_slot sets slot: the remembered one, else the name's preferred slot,
# else the next one that no other instance of this checkout remembers and
# whose ports are free. With "avoid", the remembered slot is given up.
pick_slot() {
  local avoid=${1:-} preferred taken s i
  if [ -z "$avoid" ] && [ -s "$dir/slot" ]; then slot=$(cat "$dir/slot"); set_ports; return; fi
  if [ "$name" = main ]; then preferred=0; else preferred=$(( $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 19 + 1 )); fi
  exec 6>"$root/.slots.lock"
  flock 6
  taken=" "
  for f in "$root"/*/slot; do [ -f "$f" ] && [ "$f" != "$dir/slot" ] && taken="$taken$(cat "$f") "; done
  for i in $(seq 0 19); do
    s=$(( (preferred + i) % 20 ))
    [ -n "$avoid" ] && [ "$s" = "$avoid" ] && continue
    case "$taken" in *" $s "*) continue ;; esac
    slot=$s; set_ports
    if port_free "$amqp_port" && port_free "$amqps_port" && port_free "$dist_port"; then
      printf '%s\n' "$slot" >"$dir/slot"; exec 6>&-; return
    fi
  done
  exec 6>&-
  log "no free slot in the block at $base"; exit 1
}

# cert_fresh: file $1 is a certificate valid for at least another day.
cert_fresh() { [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

# make_certs (re)generates the test CA and certificates when any is missing
# or expires within a day (an old checkout would fail every TLS test);
# returns 0 when it generated them.
make_certs() {
  local c=$dir/certs
  if cert_fresh "$c/ca.pem" && cert_fresh "$c/other-ca.pem" && cert_fresh "$c/server.pem" &&
    cert_fresh "$c/client.pem" && cert_fresh "$c/client-uid.pem" && [ -s "$c/ca.key" ]; then
    return 1
  fi
  rm -rf "$c"
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
  # Erlang distribution: the node's port and rabbitmqctl's (default 35672+,
  # in the ephemeral range) inside the block, all on loopback, as epmd.
  export RABBITMQ_DIST_PORT=$dist_port
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_DIST_PORT_MIN=$ctl_min RABBITMQ_CTL_DIST_PORT_MAX=$ctl_max
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # Every other erl RabbitMQ starts (the server's and the CLI's
  # "epmd-starter" node, which takes no *_ERL_ARGS) gets the same: loopback,
  # a port in the block. ERL_AFLAGS goes first on erl's command line, so
  # the server's own distribution port above still wins.
  export ERL_AFLAGS="-kernel inet_dist_use_interface {127,0,0,1} -kernel inet_dist_listen_min $ctl_min -kernel inet_dist_listen_max $ctl_max"
}

ctl() { "$rmq_bin/rabbitmqctl" -n "$node" "$@"; }

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

# boot starts the node on the current slot's ports and waits for it:
# 0 ready, 2 a port was in use (try another slot), 1 any other failure.
boot() {
  write_config
  rmq_env
  # A node that was just stopped may still hold its ports for a moment;
  # anything else holding them makes the start fail and move on.
  for _ in $(seq 1 20); do
    port_free "$amqp_port" && port_free "$amqps_port" && port_free "$dist_port" && break
    sleep 0.25
  done
  log "starting node $node (127.0.0.1: amqp $amqp_port, amqps $amqps_port, dist $dist_port)"
  : >"$dir/log/console.log"
  (cd "$dir" && exec setsid "$rmq_bin/rabbitmq-server" >"$dir/log/console.log" 2>&1 </dev/null) 9>&- 8>&- &
  local launched=$! i
  # Up to 2 minutes: a boot takes 5-20 s, more on a loaded machine.
  for i in $(seq 1 480); do
    if amqp10_answers && node_alive; then
      expire_orphan_queues
      write_env; log "ready after $((i / 4))s"; return 0
    fi
    # The pid file comes late in the boot; the launched process tells sooner.
    if ! kill -0 "$launched" 2>/dev/null && ! node_alive; then break; fi
    sleep 0.25
  done
  if grep -qi 'eaddrinuse\|could_not_start_listener\|already.in.use\|dist_port_already_used' "$dir/log/console.log" "$dir/log"/*.log 2>/dev/null; then
    stop_node quiet
    return 2
  fi
  log "did not accept AMQP 1.0; last log lines:"
  grep -v '^\s*$' "$dir/log/console.log" | grep -m 20 -i 'error\|invalid\|failed' >&2 || tail -n 20 "$dir/log/console.log" >&2
  stop_node quiet
  return 1
}

up() {
  require_installed
  claim_block
  pick_slot
  if make_certs && node_alive; then
    log "certificates renewed: restarting the node so it serves the new ones"
    rmq_env; stop_node
  fi
  if node_alive && amqp10_answers; then
    write_env; log "already up on 127.0.0.1:$amqp_port"; return 0
  fi
  if node_alive; then stop_node; fi # half up: start clean
  local attempt rc
  for attempt in 1 2 3 4 5; do
    rc=0; boot || rc=$?
    [ "$rc" = 0 ] && return 0
    [ "$rc" = 2 ] || return 1
    log "a port of slot $slot was in use (attempt $attempt); moving to the next free slot"
    pick_slot "$slot"
  done
  log "no slot worked after $attempt attempts"
  return 1
}

# expire_orphan_queues: the AMQP 1.0 plugin backs each /topic/ receiver
# with a server-named queue (amq.gen-*) that outlives a link whose detach
# it never completed, collecting copies of every matching message forever.
# Production brokers need the same policy (see README, Operating it).
expire_orphan_queues() {
  ctl set_policy --apply-to queues amqp10-orphan-queues '^amq\.gen-' '{"expires": 60000}' >/dev/null 2>&1 ||
    log "warning: could not set the amq.gen-* expiry policy"
}

# stop_node stops this directory's node and waits until it is gone.
stop_node() {
  local pid quiet=${1:-}
  if [ ! -s "$dir/rabbitmq.pid" ]; then
    # Boot failed before the pid file: end what the launch left.
    pkill_ours; return 0
  fi
  pid=$(cat "$dir/rabbitmq.pid")
  if kill -0 "$pid" 2>/dev/null; then
    ctl stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    # A loaded machine (CI runs packages in parallel) can take a while;
    # never report "stopped" while the node still holds its ports.
    for _ in $(seq 1 240); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      log "node did not stop within 60s; killing it"
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  fi
  pkill_ours
  rm -f "$dir/rabbitmq.pid"
  [ -n "$quiet" ] || log "stopped"
}

# pkill_ours ends the Erlang processes of this instance only: those whose
# command line names this instance's home directory.
pkill_ours() {
  local p
  for p in $(pgrep -f -- "-home $dir/home( |\$)" 2>/dev/null || true); do
    [ "$p" = "$$" ] || kill -9 "$p" 2>/dev/null || true
  done
}

down() {
  if node_alive; then
    claim_block; pick_slot; rmq_env
    stop_node
  else
    pkill_ours
    log "not running"
  fi
  rm -f "$dir/broker.env"
}

status() {
  claim_block; pick_slot
  if node_alive && amqp10_answers; then log "up on 127.0.0.1:$amqp_port"; else log "down"; return 1; fi
}

# list prints the names of this checkout's running instances.
list() {
  local d
  for d in "$root"/*/; do
    d=${d%/}
    [ -s "$d/rabbitmq.pid" ] && kill -0 "$(cat "$d/rabbitmq.pid")" 2>/dev/null && basename "$d"
  done
  return 0
}

case "$cmd" in
  list) list; exit 0 ;;
  down-all)
    for n in $(list); do "$0" down "$n"; done
    exit 0 ;;
esac

# Concurrent test packages call "up" at once: serialise per instance.
exec 9>"$dir/.lock"
flock 9
case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) up >/dev/null && cat "$dir/broker.env" ;;
  *) echo "usage: $0 up|down|status|env|list|down-all [NAME]" >&2; exit 2 ;;
esac
