#!/usr/bin/env bash
# The project's test command: static checks, then every test (unit and
# integration against the real RabbitMQ, NATS, cosign and registry) with
# the race detector, then short fuzzing runs. Brokers this run started are
# stopped when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

# Instances already running (a developer's) stay; the rest are ours.
before=" $(scripts/broker.sh list | tr '\n' ' ') "
stop_started() {
  local n
  for n in $(scripts/broker.sh list); do
    case "$before" in *" $n "*) ;; *) scripts/broker.sh down "$n" || true ;; esac
  done
}
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
scripts/broker.sh up main

echo "== gofmt / go vet / staticcheck" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.run/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
"$(go env GOPATH)/bin/staticcheck" ./...

echo "== go test -race ($SECONDS s so far)" >&2
# -json through testreport: package results as they come, the output of
# failed and skipped tests, and the slowest tests at the end.
mkdir -p .run
go build -o .run/testreport ./scripts/testreport
go test -race -count=1 -timeout 20m -json ./... | .run/testreport

echo "== fuzz (bounded; $SECONDS s so far)" >&2
# A count, not a duration: a time-boxed run can end with a spurious
# "context deadline exceeded" when the clock runs out mid-execution.
fuzztime=${FUZZTIME:-40000x}
for target in FuzzReformat:./internal/pyjson/ FuzzDirectEncodingMatchesRewrite:./internal/pyjson/ FuzzFastPathsMatchRuneByRune:./internal/pyjson/ FuzzDecodeTask:./worker/ FuzzDecodeReply:./broker/ FuzzParse:./config/ FuzzPythonRepr:./config/; do
  go test -run '^$' -fuzz "^${target%%:*}\$" -fuzztime "$fuzztime" "${target#*:}"
done
echo "== done in $SECONDS s" >&2
