#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run):
#
#   scripts/test.sh [vitest arguments...]     e.g. scripts/test.sh libs/bus
#
# Installs what is missing (dependencies, PostgreSQL, NATS with JetStream), then lint, typecheck,
# the contracts and NATS config checks and the tests. Every check runs even when an earlier one
# failed, so one run shows all problems; the exit code is non-zero when any failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SYNCWELL_ROOT"

bash scripts/ensure-deps.sh
bash scripts/ensure-infra.sh
use_node22

passed=()
failed=()
summary=""

step() {
  local title="$1" started="$SECONDS" status=0
  shift
  heading "$title"
  "$@" || status=$?
  if [ "$status" = 0 ]; then
    passed+=("$title")
    info "ok ($((SECONDS - started))s)"
  else
    failed+=("$title")
    printf '%sFAILED%s %s (exit %s, %ss)\n' "$_red" "$_reset" "$title" "$status" "$((SECONDS - started))"
  fi
}

run_tests() {
  local report status=0
  report="$(mktemp -t vitest-report.XXXXXX.json)"
  npm test --silent -- --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
  # The counts, in the plain "N passed, N failed" form that CI logs are read for.
  summary="$(node -e '
    const fs = require("node:fs");
    const text = fs.readFileSync(process.argv[1], "utf8");
    if (text.trim() === "") process.exit(0);
    const r = JSON.parse(text);
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report" 2>/dev/null || true)"
  rm -f "$report"
  return "$status"
}

step "Lint (biome)" npm run --silent lint
step "Typecheck (tsc)" npm run --silent typecheck
step "Contracts (JSON Schemas match the code)" npm run --silent contracts:check
step "NATS config (users and permissions match the identities)" npm run --silent nats:check
step "Tests (vitest, real PostgreSQL and NATS)" run_tests "$@"

heading "Summary"
for title in "${passed[@]}"; do info "ok      $title"; done
for title in "${failed[@]}"; do info "FAILED  $title"; done
[ -z "$summary" ] || echo "$summary"
[ "${#failed[@]}" = 0 ]
