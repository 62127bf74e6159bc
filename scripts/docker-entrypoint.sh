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
    if [ "$what" = poller ]; then
      # Pages of hundreds of polls in flight survive the default 16 MB young generation and are
      # promoted; a larger one keeps them young (docs/decisions/0007). A flag set in NODE_OPTIONS
      # by the operator comes later and wins.
      export NODE_OPTIONS="--max-semi-space-size=64${NODE_OPTIONS:+ $NODE_OPTIONS}"
    elif [ "$what" = health-scorer ]; then
      # Its batches need a few tens of MB; without limits V8 lets garbage pile up to several times
      # that before collecting it (docs/decisions/0017). The young generation at 16 MB, not 8: what
      # the bundle saves pays for fewer collections (docs/decisions/0019).
      export NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=16${NODE_OPTIONS:+ $NODE_OPTIONS}"
    elif [ "$what" = notifier ]; then
      # The same limits as the scorer's, and two V8 worker threads instead of four: each thread
      # keeps a malloc arena of its own (docs/decisions/0018).
      export NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=8 --v8-pool-size=2${NODE_OPTIONS:+ $NODE_OPTIONS}"
    fi
    # The bundles `npm run build` made in the image (docs/decisions/0019).
    exec node --import ./libs/telemetry/dist/register.mjs "services/$what/dist/main.mjs" "$@"
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
