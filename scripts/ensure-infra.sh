#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS with JetStream answer, for the tests and for local runs.
#
#   scripts/ensure-infra.sh [--database-url URL] [--nats-url URL]
#
# The URLs default to SYNCWELL_TEST_DATABASE_URL and SYNCWELL_TEST_NATS_URL, then to the local
# servers (postgresql://postgres@127.0.0.1:5432/postgres, nats://127.0.0.1:4222).
#
# A server on this machine (127.0.0.1, localhost or ::1, at the port this script manages) is started
# when it is stopped, and installed from Debian's packages when it is missing (both need root);
# a fresh PostgreSQL gets trust authentication for `postgres` over 127.0.0.1/::1. Any other address
# is not ours to manage: it is only waited for. Idempotent; changes nothing when all is up.
#
# Environment:
#   SYNCWELL_INFRA_WAIT_SECONDS  how long to wait for each server to answer (default 60)
#   SYNCWELL_INFRA_PG_PORT       the local PostgreSQL port this script manages (default 5432)
#   SYNCWELL_INFRA_NATS_PORT     the local NATS port this script manages (default 4222)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SYNCWELL_ROOT"

DATABASE_URL_TO_CHECK="${SYNCWELL_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
NATS_URL_TO_CHECK="${SYNCWELL_TEST_NATS_URL:-nats://127.0.0.1:4222}"
while [ $# -gt 0 ]; do
  case "$1" in
    --database-url) DATABASE_URL_TO_CHECK="$2"; shift 2 ;;
    --nats-url) NATS_URL_TO_CHECK="$2"; shift 2 ;;
    *) die "unknown argument '$1' (usage: ensure-infra.sh [--database-url URL] [--nats-url URL])" ;;
  esac
done

WAIT_SECONDS="${SYNCWELL_INFRA_WAIT_SECONDS:-60}"
MANAGED_PG_PORT="${SYNCWELL_INFRA_PG_PORT:-5432}"
MANAGED_NATS_PORT="${SYNCWELL_INFRA_NATS_PORT:-4222}"
HBA_MARKER="# added by syncwell scripts/ensure-infra.sh"
apt_updated=""

# --- helpers ------------------------------------------------------------------------------------

# "host port" of a URL (credentials, path and query dropped, [v6] brackets removed).
url_endpoint() {
  local rest="${1#*://}" host port
  rest="${rest%%[/?]*}"
  rest="${rest##*@}"
  if [[ "$rest" == \[* ]]; then
    host="${rest%%]*}" host="${host#[}" port="${rest#*]}" port="${port#:}"
  elif [[ "$rest" == *:* ]]; then
    host="${rest%%:*}" port="${rest##*:}"
  else
    host="$rest" port=""
  fi
  echo "${host:-127.0.0.1} ${port:-$2}"
}

is_loopback() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == ::1 ]]; }

tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$1" -p "$2" -t 2
  else
    tcp_open "$1" "$2"
  fi
}

# wait_for SECONDS COMMAND...: true as soon as COMMAND succeeds, false after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

show_log() {
  if [ -n "$1" ] && [ -r "$1" ]; then
    echo "--- last lines of $1 ---" >&2
    tail -n 20 "$1" >&2 || true
  fi
}

need_root() {
  is_root || die "$1; starting or installing it needs root. As root, run scripts/ensure-infra.sh again, or: $2"
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    die "$1 is not installed and there is no apt-get here: install it yourself, or point SYNCWELL_TEST_DATABASE_URL / SYNCWELL_TEST_NATS_URL at servers that run elsewhere."
  local what="$1"
  shift
  need_root "$what is not installed" "apt-get update && apt-get install -y $*"
  if [ -z "$apt_updated" ]; then
    info "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  info "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- PostgreSQL ---------------------------------------------------------------------------------

# "version name status logfile" of the cluster on a port, if any (Debian's postgresql-common).
pg_cluster_on_port() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters -h 2>/dev/null | awk -v p="$1" '$3 == p { print $1, $2, $4, ($7 == "" ? "-" : $7); exit }'
}

pg_server_installed() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

# Puts `trust` for user postgres over 127.0.0.1 and ::1 at the top of pg_hba.conf (first match wins).
pg_trust_local() {
  local version="$1" name="$2" hba="/etc/postgresql/$1/$2/pg_hba.conf" tmp
  [ -f "$hba" ] || die "pg_hba.conf not found at $hba"
  grep -qF "$HBA_MARKER" "$hba" && return 0
  info "allowing user postgres over 127.0.0.1 and ::1 without a password in $hba"
  tmp="$(mktemp)"
  {
    echo "$HBA_MARKER: local tests and runs connect as postgres without a password"
    echo "host    all    postgres    127.0.0.1/32    trust"
    echo "host    all    postgres    ::1/128         trust"
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba" # keeps the file's owner and mode
  rm -f "$tmp"
}

# The same server and credentials, on the database `postgres` (the URL's own may not exist yet).
pg_admin_url() {
  local scheme="${1%%://*}" rest="${1#*://}" query=""
  [[ "$rest" != *\?* ]] || query="?${rest#*\?}"
  echo "$scheme://${rest%%[/?]*}/postgres$query"
}

# The URL's user name, if it has one.
url_user() {
  local authority="${1#*://}"
  authority="${authority%%[/?]*}"
  [[ "$authority" != *@* ]] || { authority="${authority%@*}" && echo "${authority%%:*}"; }
}

# Empty when the URL's user can log in, else psql's error.
pg_login_error() {
  command -v psql >/dev/null 2>&1 || return 0
  PGCONNECT_TIMEOUT=3 psql "$(pg_admin_url "$1")" -Atqc 'select 1' 2>&1 >/dev/null || true
}

pg_can_login() { [ -z "$(pg_login_error "$1")" ]; }

ensure_local_postgres() {
  local url="$1" host="$2" port="$3" cluster version name status log fresh=""
  if ! pg_ready "$host" "$port"; then
    if ! pg_server_installed; then
      apt_install "PostgreSQL" postgresql
      fresh=1
    fi
    cluster="$(pg_cluster_on_port "$port")"
    if [ -z "$cluster" ]; then
      command -v pg_createcluster >/dev/null 2>&1 ||
        die "PostgreSQL is installed without Debian's postgresql-common (no pg_createcluster): start it on port $port yourself."
      [ -z "$(pg_lsclusters -h 2>/dev/null)" ] ||
        die "no PostgreSQL cluster on port $port (pg_lsclusters lists others): start one there, or set SYNCWELL_TEST_DATABASE_URL."
      need_root "no PostgreSQL cluster exists" "pg_createcluster --port $port <version> main"
      version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
      info "creating PostgreSQL $version cluster 'main' on port $port"
      pg_createcluster --port "$port" "$version" main >/dev/null
      fresh=1
      cluster="$(pg_cluster_on_port "$port")"
    fi
    read -r version name status log <<<"$cluster"
    [ "$log" != "-" ] || log="/var/log/postgresql/postgresql-$version-$name.log"
    if [ -n "$fresh" ]; then pg_trust_local "$version" "$name"; fi
    if [[ "$status" != online* ]]; then
      need_root "PostgreSQL $version/$name on port $port is stopped" \
        "pg_ctlcluster --skip-systemctl-redirect $version $name start"
      info "starting PostgreSQL $version/$name"
      pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start ||
        { show_log "$log"; die "PostgreSQL $version/$name did not start; its log: $log"; }
    elif [ -n "$fresh" ]; then
      pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
    fi
    if ! wait_for "$WAIT_SECONDS" pg_ready "$host" "$port"; then
      show_log "$log"
      die "PostgreSQL did not accept connections on $host:$port within ${WAIT_SECONDS}s; its log: $log"
    fi
  fi

  local error user
  user="$(url_user "$url")"
  error="$(pg_login_error "$url")"
  if [ -n "$error" ] && [ "$user" = postgres ] &&
    [[ "$error" == *authentication* || "$error" == *pg_hba.conf* || "$error" == *"no password supplied"* ]]; then
    cluster="$(pg_cluster_on_port "$port")"
    [ -n "$cluster" ] && is_root ||
      die "PostgreSQL on $host:$port refuses user postgres without a password ($error). Allow it (trust for 127.0.0.1) or set SYNCWELL_TEST_DATABASE_URL."
    read -r version name status log <<<"$cluster"
    pg_trust_local "$version" "$name"
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
    wait_for 10 pg_can_login "$url" ||
      die "PostgreSQL on $host:$port still refuses user postgres: $(pg_login_error "$url")"
  elif [ -n "$error" ]; then
    die "cannot log in to PostgreSQL on $host:$port as ${user:-$(id -un)}: $error"
  fi
  info "PostgreSQL ready on $host:$port"
}

# --- NATS ---------------------------------------------------------------------------------------

# 0 JetStream answers, 1 NATS without JetStream, 2 unreachable, 3 cannot check (no dependencies yet).
jetstream_status() {
  if [[ "$(node22_version)" != v22.* ]] || [ ! -d node_modules/@nats-io/jetstream ]; then return 3; fi
  "$SYNCWELL_ROOT/node_modules/.bin/node" tools/dev/src/check-jetstream.ts "$1" >/dev/null 2>&1
}

# False only while the server cannot be reached as a NATS client (it may still be starting).
jetstream_reachable() {
  local status=0
  jetstream_status "$1" || status=$?
  [ "$status" != 2 ]
}

ensure_local_nats() {
  local host="$1" port="$2" bin store log pidfile
  store=/var/lib/nats-server log=/var/log/nats-server.log pidfile=/run/nats-server.pid
  if [ "$port" != 4222 ]; then
    store="/var/lib/nats-server-$port" log="/var/log/nats-server-$port.log" pidfile="/run/nats-server-$port.pid"
  fi
  if ! tcp_open "$host" "$port"; then
    bin="$(command -v nats-server || true)"
    [ -n "$bin" ] || [ ! -x /usr/sbin/nats-server ] || bin=/usr/sbin/nats-server
    if [ -z "$bin" ]; then
      apt_install "nats-server" nats-server
      bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
    fi
    local args=(-a 127.0.0.1 -p "$port" -js -sd "$store" -l "$log")
    need_root "NATS is not running on $host:$port" "$bin ${args[*]}"
    info "starting NATS with JetStream on 127.0.0.1:$port (store $store)"
    mkdir -p "$store"
    if command -v start-stop-daemon >/dev/null 2>&1; then
      # The pidfile ties the check to this instance: a nats-server on another port is not "ours".
      start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$pidfile" \
        --exec "$bin" -- "${args[@]}"
    else
      nohup "$bin" "${args[@]}" >/dev/null 2>&1 &
      disown
    fi
    if ! wait_for "$WAIT_SECONDS" tcp_open "$host" "$port"; then
      show_log "$log"
      die "NATS did not accept connections on $host:$port within ${WAIT_SECONDS}s; its log: $log"
    fi
  fi
  local status=0
  # The port may open a moment before the server takes clients: retry while it is unreachable.
  wait_for "$WAIT_SECONDS" jetstream_reachable "nats://$host:$port" || true
  jetstream_status "nats://$host:$port" || status=$?
  case "$status" in
    0) info "NATS with JetStream ready on $host:$port" ;;
    3) warn "NATS answers on $host:$port; JetStream not checked (run scripts/ensure-deps.sh first)" ;;
    1) die "NATS on $host:$port runs without JetStream. It is not restarted here; restart it with -js, e.g. nats-server -a 127.0.0.1 -p $port -js -sd $store -l $log" ;;
    *) show_log "$log"; die "NATS on $host:$port accepts TCP but not NATS clients; its log: $log" ;;
  esac
}

# --- main ---------------------------------------------------------------------------------------

heading "Infrastructure"

read -r pg_host pg_port <<<"$(url_endpoint "$DATABASE_URL_TO_CHECK" 5432)"
if is_loopback "$pg_host" && [ "$pg_port" = "$MANAGED_PG_PORT" ]; then
  ensure_local_postgres "$DATABASE_URL_TO_CHECK" "$pg_host" "$pg_port"
else
  info "PostgreSQL at $pg_host:$pg_port is not managed here; waiting for it"
  wait_for "$WAIT_SECONDS" pg_ready "$pg_host" "$pg_port" ||
    die "PostgreSQL at $pg_host:$pg_port did not answer within ${WAIT_SECONDS}s (from SYNCWELL_TEST_DATABASE_URL)"
  info "PostgreSQL answers on $pg_host:$pg_port"
fi

read -r nats_host nats_port <<<"$(url_endpoint "$NATS_URL_TO_CHECK" 4222)"
if is_loopback "$nats_host" && [ "$nats_port" = "$MANAGED_NATS_PORT" ]; then
  ensure_local_nats "$nats_host" "$nats_port"
else
  info "NATS at $nats_host:$nats_port is not managed here; waiting for it"
  wait_for "$WAIT_SECONDS" tcp_open "$nats_host" "$nats_port" ||
    die "NATS at $nats_host:$nats_port did not answer within ${WAIT_SECONDS}s (from SYNCWELL_TEST_NATS_URL)"
  info "NATS answers on $nats_host:$nats_port"
fi
