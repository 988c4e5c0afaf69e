#!/usr/bin/env bash
# The main job on one machine: RabbitMQ (AMQP 1.0, mutual TLS), the
# signing-server emulator, and `pubtools-sign serve` with its embedded NATS;
# then submits tasks of each signer type and prints their envelopes.
# Everything stays on loopback; Ctrl-C (or the end) stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/broker.sh up main
eval "$(scripts/broker.sh env main | sed 's/^/export /')"
scripts/build.sh
bin=bin/pubtools-sign
dir=.run/demo
rm -rf "$dir" && mkdir -p "$dir"
nats_port=${DEMO_NATS_PORT:-4222}
http_listen=${DEMO_HTTP_LISTEN:-127.0.0.1:9464}
section() {
  cat <<YAML
  messaging_brokers: [$AMQPS_URL]
  messaging_cert_key: $CLIENT_CERT_KEY
  messaging_ca_cert: $CA_CERT
  topic_send_to: /topic/robosignatory.{env}.sign
  topic_listen_to: /topic/robosignatory.{env}.client.{creator}
  environment: demo
  service: pubtools-sign
  timeout: 10
  retries: 3
  send_retries: 2
  message_id_key: request_id
YAML
}
# cosign: a key pair and an in-memory registry with two images to sign.
(cd "$dir" && COSIGN_PASSWORD= ../../bin/cosign generate-key-pair >/dev/null 2>&1)
registry_listen=${DEMO_REGISTRY_LISTEN:-127.0.0.1:5055}
{
  echo "msg_signer:"; section
  echo "msg_batch_signer:"; section; echo "  chunk_size: 2"
  cat <<YAML
cosign_signer:
  cosign_bin: $PWD/bin/cosign
  timeout: 1m0s
  rekor_url: http://127.0.0.1:1
  upload_tlog: false
  allow_http_registry: true
  env_variables:
    COSIGN_PASSWORD: ""
  key_aliases:
    demo-key: $PWD/$dir/cosign.key
worker:
  id: demo-worker
nats:
  embedded_listen: 127.0.0.1:$nats_port
  data_dir: $PWD/$dir/nats
http:
  listen: $http_listen
log:
  format: text
YAML
} >"$dir/conf.yaml"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

$bin emulator --config-file "$dir/conf.yaml" --log-level WARNING 2>"$dir/emulator.log" &
pids+=($!)
$bin dev-registry --listen "$registry_listen" --push 2 --images-out "$dir/images.txt" 2>"$dir/registry.log" &
pids+=($!)
$bin serve --config-file "$dir/conf.yaml" 2>"$dir/serve.log" &
pids+=($!)
for i in $(seq 1 100); do
  curl -fsS "http://$http_listen/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "== worker ready (log: $dir/serve.log); /readyz says:"
curl -fsS "http://$http_listen/readyz"

url=nats://127.0.0.1:$nats_port
digest() { printf 'sha256:%064x' "$1"; }
run() { echo; echo "== submit $*"; $bin submit --nats-url "$url" --wait --timeout 60s "$@"; }
run --signer msg-container --signing-key 0123456789ABCDEF \
  --reference registry.example/ns/app:1.0 --digest "$(digest 1)" \
  --reference registry.example/ns/app:1.1 --digest "$(digest 2)"
run --signer msg-clear --signing-key ABCD1234 --repo demo --input "hello, signed world"
run --signer msg-blob --signing-key ABCD1234 --input "$(printf 'blob bytes' | base64)"
run --signer msg-batch-container --signing-key 0123456789ABCDEF \
  --reference registry.example/ns/a:1 --digest "$(digest 3)" \
  --reference registry.example/ns/a:2 --digest "$(digest 4)" \
  --reference registry.example/ns/b:1 --digest "$(digest 5)"
cosign_args=()
while read -r ref dgst; do cosign_args+=(--reference "$ref" --digest "$dgst" --identity "public.example/${ref#*/}"); done <"$dir/images.txt"
run --signer cosign-container --signing-key demo-key "${cosign_args[@]}"
echo; echo "== cosign verify of the first image:"
first=$(head -n1 "$dir/images.txt")
ref=${first% *}
COSIGN_PASSWORD= bin/cosign verify --key "$dir/cosign.pub" --insecure-ignore-tlog=true --allow-http-registry=true \
  "${ref%:*}@${first#* }" 2>/dev/null | head -c 400; echo
echo; echo "== submit checks a task before queueing it (the worker would answer with an error envelope naming the field):"
$bin submit --nats-url "$url" --file /dev/stdin --wait --timeout 30s <<JSON || true
{"schema": "pubtools-sign.task.v1", "task_id": "demo-bad-1", "signer": "msg-container", "signing_keys": ["K"], "references": ["registry.example/ns/app:1"], "digests": ["sha256:XYZ"]}
JSON
echo; echo "== metrics (excerpt):"
curl -fsS "http://$http_listen/metrics" | grep -E '^pubtools_sign_(tasks_total|pending_requests|request_duration_seconds_count)' || true
echo; echo "== done: serve and the emulator are stopped; the private RabbitMQ stays up for the next run (scripts/broker.sh down main stops it)"
