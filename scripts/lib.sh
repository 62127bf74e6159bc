# Shared by the scripts in this folder: `source "$(dirname "$0")/lib.sh"`. Defines no behaviour of
# its own beyond SYNCWELL_ROOT.

SYNCWELL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SYNCWELL_ROOT

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  _bold=$'\033[1m' _red=$'\033[31m' _yellow=$'\033[33m' _reset=$'\033[0m'
else
  _bold="" _red="" _yellow="" _reset=""
fi

heading() { printf '\n%s==> %s%s\n' "$_bold" "$*" "$_reset"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%swarning:%s %s\n' "$_yellow" "$_reset" "$*" >&2; }
die() {
  printf '%serror:%s %s\n' "$_red" "$_reset" "$*" >&2
  exit 1
}

# Node 22 from the `node` devDependency first on PATH (the machine's own node may be older).
use_node22() { export PATH="$SYNCWELL_ROOT/node_modules/.bin:$PATH"; }

node22_version() { "$SYNCWELL_ROOT/node_modules/.bin/node" --version 2>/dev/null || true; }

# Several processes may share one work tree: npm commands that write node_modules take a lock.
with_npm_lock() {
  if command -v flock >/dev/null 2>&1; then
    flock /tmp/npm.lock "$@"
  else
    "$@"
  fi
}

is_root() { [ "$(id -u)" = 0 ]; }
