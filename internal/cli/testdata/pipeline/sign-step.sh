#!/usr/bin/env bash
# A release pipeline's signing step, written the way a Tekton task step
# runs the Python tool: call it by its script name, keep its JSON, and let
# jq pull out what the next steps need. TestPipelineStepWithJq runs it
# against RabbitMQ and the emulator answering like the production server.
#
# Inputs (environment): CONFIG, TASK_ID, SIGNING_KEYS (space separated),
# SIGNING_KEY_NAMES (optional), SIGNER_TYPE (single|batch), REQUESTS (a
# file of "reference digest" lines), OUT (a directory).
# Outputs in OUT: result.json, exit (the tool's exit code), status
# (signer_result.status), signatures.tsv, errors.txt.
set -euo pipefail
: "${CONFIG:?}" "${TASK_ID:?}" "${SIGNING_KEYS:?}" "${REQUESTS:?}" "${OUT:?}"

args=(--config-file "$CONFIG" --task-id "$TASK_ID" --signer-type "${SIGNER_TYPE:-single}")
for key in $SIGNING_KEYS; do args+=(--signing-key "$key"); done
for name in ${SIGNING_KEY_NAMES:-}; do args+=(--signing-key-name "$name"); done
while read -r reference digest; do
  [ -n "$reference" ] && args+=(--reference "$reference" --digest "$digest")
done <"$REQUESTS"

rc=0
pubtools-sign-msg-container-sign "${args[@]}" >"$OUT/result.json" 2>"$OUT/stderr" || rc=$?
echo "$rc" >"$OUT/exit"
jq -r '.signer_result.status' "$OUT/result.json" >"$OUT/status"

if [ "${SIGNER_TYPE:-single}" = batch ]; then
  # One reply per chunk; each lists its claims with one signature per key name.
  jq -r '.operation_results[] | .[0].msg | .signing_status as $status
         | .claims[] | .repo as $repo | .manifest_digest as $digest
         | .signed_claims | to_entries[] | [$repo, $digest, .key, $status, .value] | @tsv' \
    "$OUT/result.json" >"$OUT/signatures.tsv"
else
  # One reply per reference and key, reference-major: zip them with
  # operation.references by position, as pipelines do.
  jq -r '. as $r | ($r.signing_keys | length) as $keys
         | range(0; $r.operation_results | length) as $i
         | $r.operation_results[$i][0].msg
         | [$r.operation.references[($i / $keys) | floor], .repo, .manifest_digest, .sig_key_id, .signing_status, (.signed_claim // "")] | @tsv' \
    "$OUT/result.json" >"$OUT/signatures.tsv"
fi
jq -r '.operation_results[] | .[0].msg.errors[]' "$OUT/result.json" >"$OUT/errors.txt"
