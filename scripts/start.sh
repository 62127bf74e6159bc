#!/usr/bin/env bash
# The project's run command: everything on this machine, in one terminal.
#
#   scripts/start.sh
#
# Installs what is missing (dependencies, PostgreSQL, NATS with JetStream), creates the database
# and applies the migrations, then runs the provider simulator (port 4010) and the five services
# (scheduler 3001, token-service 3002, poller 3003, health-scorer 3004, notifier 3005) with their
# output prefixed by name. One that exits is restarted after a backoff (1 s doubling to 30 s) while
# the others keep running; only Ctrl-C stops them all.
#
# Environment (all optional): DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/syncwell),
# NATS_URL (default nats://127.0.0.1:4222), NATS_PREFIX, LOG_LEVEL, OTEL_EXPORTER_OTLP_ENDPOINT
# (e.g. http://127.0.0.1:4318 for a local Jaeger; without it telemetry is off), and any variable a
# service's config reads: they are passed on to every process.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SYNCWELL_ROOT"

export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/syncwell}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"

bash scripts/ensure-deps.sh
bash scripts/ensure-infra.sh --database-url "$DATABASE_URL" --nats-url "$NATS_URL"
use_node22

heading "Database"
if [ -f libs/db/src/cli/migrate.ts ]; then
  npm run --silent db:migrate -- --create-database
else
  warn "libs/db/src/cli/migrate.ts does not exist yet: database not created or migrated"
fi

heading "Services (restarted when they exit; Ctrl-C stops them all)"
exec node tools/dev/src/run-all.ts
