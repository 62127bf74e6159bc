#!/usr/bin/env bash
# Makes node_modules match package-lock.json, checks that node_modules/.bin/node is Node 22 (the
# `node` devDependency: every npm script and every service runs on it), and that the Prisma client
# has been generated. Does nothing that is already done, so it is cheap to run before every command.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SYNCWELL_ROOT"

heading "Dependencies"
command -v npm >/dev/null 2>&1 ||
  die "npm is not installed. Any Node.js with npm will do for installing: the project brings its own Node 22."

reason=""
if [ ! -f node_modules/.package-lock.json ]; then
  reason="node_modules is missing"
elif [ package-lock.json -nt node_modules/.package-lock.json ]; then
  reason="package-lock.json is newer than node_modules"
fi
if [ -n "$reason" ]; then
  info "npm ci ($reason)"
  log="$(mktemp -t npm-ci.XXXXXX.log)"
  # The root postinstall generates the Prisma client.
  if ! with_npm_lock npm ci --no-audit --no-fund 2>&1 | tee "$log"; then
    # npm ci refuses a lockfile that lacks optional platform packages (Biome's for other systems)
    # when the registry it was written against does not carry them; npm install accepts the same
    # lockfile and installs the same versions.
    grep -q "package.json and package-lock.json or npm-shrinkwrap.json are in sync" "$log" ||
      die "npm ci failed (output above)"
    warn "npm ci finds package-lock.json out of sync with package.json; running npm install instead"
    with_npm_lock npm install --no-audit --no-fund
  fi
  rm -f "$log"
fi

version="$(node22_version)"
if [[ "$version" != v22.* ]]; then
  # The `node` package downloads its binary in an install script; --ignore-scripts or a script
  # policy may have skipped it.
  info "node_modules/.bin/node is '${version:-missing}', expected v22: npm rebuild node"
  with_npm_lock npm rebuild node
  version="$(node22_version)"
  [[ "$version" == v22.* ]] ||
    die "node_modules/.bin/node is '${version:-missing}' after 'npm rebuild node'; expected Node 22 (devDependency 'node')."
fi
info "Node $version (node_modules/.bin/node)"

client=libs/db/src/generated/prisma/client.ts
if [ ! -f "$client" ] || [ libs/db/prisma/schema.prisma -nt "$client" ]; then
  info "generating the Prisma client"
  use_node22
  npm run --silent generate -w @syncwell/db
fi
info "dependencies ready"
