#!/bin/sh
# Entry point of the one Syncwell image (see Dockerfile). The first argument picks the process:
#
#   scheduler | token-service | poller | health-scorer | notifier    a service
#   migrate [--create-database]                                       apply the database migrations
#   provider-simulator                                                the fake providers (local use)
#   (none)                                                            $SERVICE
#   anything else                                                     run as a command, e.g. sh
set -eu

what="${1:-${SERVICE:-}}"
[ $# -eq 0 ] || shift

case "$what" in
  scheduler | token-service | poller | health-scorer | notifier)
    export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-$what}"
    exec node --import @syncwell/telemetry/register "services/$what/src/main.ts" "$@"
    ;;
  migrate)
    exec node libs/db/src/cli/migrate.ts "$@"
    ;;
  provider-simulator)
    # It binds 127.0.0.1 unless told otherwise: in a container it must take outside connections.
    export HOST="${HOST:-0.0.0.0}"
    exec node tools/provider-simulator/src/main.ts "$@"
    ;;
  "")
    echo "usage: <image> scheduler|token-service|poller|health-scorer|notifier|migrate|provider-simulator (or set SERVICE)" >&2
    exit 64
    ;;
  *)
    exec "$what" "$@"
    ;;
esac
