#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test the project:
# Debian packages (RabbitMQ with its AMQP 1.0 plugin, openssl, jq), the Go
# modules, the pinned staticcheck and cosign. Idempotent; needs root only
# when something is missing. The only script that installs anything: tests
# skip (or, with CI=true, fail) naming this script when a component is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: a new staticcheck release can add checks and turn a green tree red.
staticcheck_version=v0.8.2

need=()
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
command -v openssl >/dev/null || need+=(openssl)
command -v flock >/dev/null || need+=(util-linux)
command -v jq >/dev/null || need+=(jq) # the pipeline-step test reads the CLI's JSON with jq
command -v ss >/dev/null || need+=(iproute2)
command -v pgrep >/dev/null || need+=(procps)
if ((${#need[@]})); then
  echo "deps: installing ${need[*]}" >&2
  # Keep Debian from starting the system RabbitMQ: we run a private node.
  # The trap removes the policy whatever happens: left behind, it would
  # block every service start on the machine.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
  fi
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
go mod download
gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "(${staticcheck_version#v})\|${staticcheck_version}"; then
  echo "deps: installing staticcheck $staticcheck_version" >&2
  go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi
scripts/cosign.sh
