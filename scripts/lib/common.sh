# Shared helpers for scripts/run, scripts/test, scripts/bench. Source, don't execute.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# Create .venv if missing and install the project (with extras in $1, e.g. "test").
# Reinstalls only when pyproject.toml changed since the last install.
ensure_venv() {
  local extras="${1:-}"
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
  fi
  local spec="$ROOT"
  [ -n "$extras" ] && spec="$ROOT[$extras]"
  local stamp="$VENV/.installed-${extras:-base}"
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing the project ($spec)"
    "$PY" -m pip install -q -e "$spec"
    echo "$want" > "$stamp"
  fi
}

# Install Debian packages when their command is missing: apt_ensure COMMAND PACKAGE...
apt_ensure() {
  local cmd="$1"; shift
  if command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ]; then return 0; fi
  log "installing $* (Debian)"
  if [ "$(id -u)" -ne 0 ]; then log "need root to install $*"; return 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  }
}

# The real OpenID provider of tests/oidc (panva's oidc-provider, pinned by its package-lock.json).
ensure_oidc_provider() {
  apt_ensure npm nodejs npm
  local provider="$ROOT/tests/oidc/provider"
  if [ ! -f "$provider/node_modules/.package-lock.json" ] ||
    [ "$provider/package-lock.json" -nt "$provider/node_modules/.package-lock.json" ]; then
    log "installing the test OpenID provider (npm ci in tests/oidc/provider)"
    (cd "$provider" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

free_port() {
  "$PY" - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

# Start a throwaway PostgreSQL cluster owned by the postgres user; sets PG_URL.
start_postgres() {
  pg_bin >/dev/null || apt_ensure initdb postgresql
  local bin; bin="$(pg_bin)"
  SERVICES_DIR="${SERVICES_DIR:-$(mktemp -d /tmp/portal-services.XXXXXX)}"
  chmod 755 "$SERVICES_DIR"
  local data="$SERVICES_DIR/pg"
  mkdir -p "$data"
  local runas=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$data"; runas=(runuser -u postgres --); fi
  PG_PORT="$(free_port)"
  "${runas[@]}" "$bin/initdb" -D "$data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
  "${runas[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  PG_STOP=("${runas[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop)
  PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
  log "PostgreSQL on 127.0.0.1:$PG_PORT"
}

# Start a throwaway Redis server; sets REDIS_URL.
start_redis() {
  apt_ensure redis-server redis-server
  SERVICES_DIR="${SERVICES_DIR:-$(mktemp -d /tmp/portal-services.XXXXXX)}"
  REDIS_PORT="$(free_port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" \
    --dir "$SERVICES_DIR" >/dev/null
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  log "Redis on 127.0.0.1:$REDIS_PORT"
}

stop_services() {
  if [ "${#PG_STOP[@]}" -gt 0 ] 2>/dev/null; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${SERVICES_DIR:-}" ] && [ -f "$SERVICES_DIR/redis.pid" ]; then
    kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true
  fi
  if [ -n "${SERVICES_DIR:-}" ]; then rm -rf "$SERVICES_DIR"; fi
}
