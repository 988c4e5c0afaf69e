#!/usr/bin/env bash
# Benchmarks the messaging path on this machine: starts the project's
# RabbitMQ and the signing-server emulator (no artificial delay), then
# prints Markdown tables (bench/msgbench, bench/cosignbench). Loopback
# only; bounded.
#
#   bench/run.sh               every figure of the README's Performance table
#   bench/run.sh soak [N]      only the soak: N (20000) tasks, 3 replicas
#   bench/run.sh flow          flow control against a slow server: the CLI
#                              with 4,000 references at 100/s (timeout 5,
#                              retries 2, send_retries 2) and 3 daemon
#                              replicas, 60 tasks x 100 references at 200/s
#   bench/run.sh -- FLAGS      msgbench with FLAGS (see bin/msgbench -h)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/broker.sh up main
eval "$(scripts/broker.sh env main | sed 's/^/export /')"
mkdir -p bin .run/bench
scripts/build.sh
go build -o bin/msgbench ./bench/msgbench
go build -o bin/flowbench ./bench/flowbench
conf=.run/bench/conf.yaml
cat >"$conf" <<YAML
msg_signer:
  messaging_brokers: [$AMQP_URL]
  messaging_cert_key: $CLIENT_CERT_KEY
  messaging_ca_cert: $CA_CERT
  topic_send_to: /topic/robosignatory.{env}.sign
  topic_listen_to: /topic/robosignatory.{env}.client.{creator}.{task_id}
  environment: bench
  service: pubtools-sign
  timeout: 30
  retries: 2
  send_retries: 2
  message_id_key: request_id
YAML
# Replies to the per-task reply addresses go through one link to amq.topic
# (--topic-exchange), as the ceiling's do: the daemon's figures then
# measure the daemon, not the emulator attaching a link per task.
bin/pubtools-sign emulator --config-file "$conf" --log-level WARNING --topic-exchange amq.topic &
emu=$!
trap 'kill $emu 2>/dev/null || true' EXIT
sleep 1
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3), RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)"
if [ "${1:-}" = flow ]; then
  # Private topics and an in-process emulator with a capacity limit.
  bin/flowbench --config "$conf" --refs 4000 --capacity 100 --timeout 5 --retries 2 --send-retries 2
  echo
  bin/msgbench --config "$conf" --flow-daemon 3x60x100@200
  exit
fi
if [ "${1:-}" = soak ]; then
  bin/msgbench --config "$conf" --soak "${2:-20000}"
  exit
fi
[ "${1:-}" = -- ] && shift
bin/msgbench --config "$conf" "$@"
echo
scripts/cosign.sh
go build -o bin/cosignbench ./bench/cosignbench
bin/cosignbench --cosign "$PWD/bin/cosign"
