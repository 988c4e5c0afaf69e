#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test the project:
# Debian packages (RabbitMQ with its AMQP 1.0 plugin, openssl, jq) and the Go
# modules. Idempotent; needs root only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
command -v openssl >/dev/null || need+=(openssl)
command -v flock >/dev/null || need+=(util-linux)
command -v jq >/dev/null || need+=(jq) # the pipeline-step test reads the CLI's JSON with jq
if ((${#need[@]})); then
  echo "deps: installing ${need[*]}" >&2
  # Keep Debian from starting the system RabbitMQ: we run a private node.
  policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; added=1; fi
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
  [ -n "$added" ] && rm -f "$policy"
fi
go mod download
scripts/cosign.sh
