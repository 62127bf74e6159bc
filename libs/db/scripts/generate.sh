#!/usr/bin/env bash
# Generates Prisma Client offline. `prisma generate` needs no schema engine, but the CLI insists on
# finding one; point it at a placeholder unless the caller provides a real engine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PRISMA_SCHEMA_ENGINE_BINARY:-}" ]; then
  export PRISMA_SCHEMA_ENGINE_BINARY="$PWD/scripts/no-schema-engine"
fi
exec prisma generate --schema prisma/schema.prisma
