# shellcheck shell=bash disable=SC2034
# Shared helpers of the playground scripts (sourced, not run). SC2034: the variables
# are used by the scripts that source this file.
# Every script talks to one cluster through an explicit context, never the current one.

PLAYGROUND_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$PLAYGROUND_DIR/.." && pwd)"
CLUSTER="${BLOODRAVEN_CLUSTER:-bloodraven}"
CONTEXT="k3d-$CLUSTER"
NS=chaos
GROUP=demo
SITES=(a b)

# Distinct exit codes for a missing environment, so callers can tell them apart.
EXIT_NO_DOCKER=10
EXIT_NO_K3D=11
EXIT_NO_KUBECTL=12
EXIT_DOCKER_DOWN=13
EXIT_NO_CLUSTER=14

die() {
  local code=$1
  shift
  echo "error: $*" >&2
  exit "$code"
}

log() { echo "==> $*"; }

need() {
  local tool=$1 code=$2 hint=$3
  command -v "$tool" >/dev/null 2>&1 || die "$code" "$tool not found on PATH ($hint)"
}

need_kubectl() { need kubectl "$EXIT_NO_KUBECTL" "install it: https://kubernetes.io/docs/tasks/tools/"; }

kc() { kubectl --context "$CONTEXT" "$@"; }
kn() { kubectl --context "$CONTEXT" -n "$NS" "$@"; }

# Fails (exit 14) unless the playground cluster answers.
need_cluster() {
  need_kubectl
  kc get --raw /readyz >/dev/null 2>&1 \
    || die "$EXIT_NO_CLUSTER" "cluster context $CONTEXT is not reachable; run playground/setup.sh first"
}

valid_site() {
  local s
  for s in "${SITES[@]}"; do
    [ "$s" = "$1" ] && return 0
  done
  die 2 "unknown site '$1' (expected one of: ${SITES[*]})"
}

# Runs SQL as root inside a site's mysqld container; prints tab-separated rows.
site_sql() {
  local site=$1 sql=$2
  # shellcheck disable=SC2016 # expanded by the container's shell, on purpose
  kn exec "deploy/mysql-$GROUP-$site" -c mysql -- \
    bash -c 'mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -h127.0.0.1 -N -B -e "$1" 2>/dev/null' _ "$sql"
}

# One line per site: read_only, replication source, GTID set (or "down").
site_summary() {
  local s out
  for s in "${SITES[@]}"; do
    if out=$(site_sql "$s" "SELECT @@read_only, IFNULL((SELECT HOST FROM performance_schema.replication_connection_configuration LIMIT 1), '-'), REPLACE(@@gtid_executed, '\n', '')" 2>/dev/null) && [ -n "$out" ]; then
      read -r ro src gtid <<<"$out"
      printf '  site %-2s read_only=%s source=%-24s gtid=%s\n' "$s" "$ro" "$src" "${gtid:-<empty>}"
    else
      printf '  site %-2s down (mysqld not answering)\n' "$s"
    fi
  done
}

# Waits until the operator has created a site's Deployment, rolled it out and its
# mysqld answers (a first boot initialises the data directory: about a minute).
wait_site() {
  local site=$1 i
  for i in $(seq 120); do
    kn get "deploy/mysql-$GROUP-$site" >/dev/null 2>&1 && break
    [ "$i" = 120 ] && die 1 "the operator created no deploy/mysql-$GROUP-$site in 240s (kubectl -n $NS logs deploy/bloodraven)"
    sleep 2
  done
  kn rollout status "deploy/mysql-$GROUP-$site" --timeout=300s >/dev/null
  for i in $(seq 150); do
    [ "$(site_sql "$site" "SELECT 1" 2>/dev/null)" = 1 ] && return 0
    sleep 2
  done
  die 1 "mysqld of site $site did not answer in 300s (kubectl -n $NS logs deploy/mysql-$GROUP-$site -c mysql)"
}

# Waits until the group reports an active site and prints it.
wait_active_site() {
  local active i
  for i in $(seq 60); do
    active=$(kn get mfg "$GROUP" -o jsonpath='{.status.activeSite}' 2>/dev/null || true)
    if [ -n "$active" ]; then
      echo "$active"
      return 0
    fi
    sleep 2
  done
  die 1 "the group reports no active site after 120s (kubectl -n $NS describe mfg $GROUP)"
}

# A value of a Secret in the playground namespace.
secret_value() {
  kn get secret "$1" -o "jsonpath={.data.$2}" | base64 -d
}

# First-time topology. Every sidecar fences its mysqld at startup and the operator has no
# active site to vouch for yet, so: a writable, b fenced and replicating from a, as the
# operator's user (the group Secret's, created by the operator's first-boot script, in the
# container's environment). Idempotent: does nothing once b has a replication source or
# the group has an active site.
bootstrap_replication() {
  local active src
  active=$(kn get mfg "$GROUP" -o jsonpath='{.status.activeSite}' 2>/dev/null || true)
  src=$(site_sql b "SELECT COUNT(*) FROM performance_schema.replication_connection_configuration" || echo 0)
  if [ -n "$active" ] || [ "${src:-0}" != "0" ]; then
    log "replication already set up (activeSite='${active}'); leaving it"
    return 0
  fi
  log "bootstrapping replication: a writable, b replica of a"
  site_sql a "SET GLOBAL super_read_only=OFF; SET GLOBAL read_only=OFF" >/dev/null
  # shellcheck disable=SC2016 # the credentials are the container's environment
  kn exec "deploy/mysql-$GROUP-b" -c mysql -- bash -c '
    mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -h127.0.0.1 -e "
      SET GLOBAL super_read_only=ON;
      STOP REPLICA;
      CHANGE REPLICATION SOURCE TO SOURCE_HOST=\"mysql-demo-a-internal\", SOURCE_PORT=3306,
        SOURCE_USER=\"$BLOODRAVEN_MYSQL_USER\", SOURCE_PASSWORD=\"$BLOODRAVEN_MYSQL_PASSWORD\",
        SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1;
      START REPLICA;" 2>/dev/null'
}

# The counter's user, created on the active site (binlogged, so it replicates).
# Idempotent: IF NOT EXISTS, and a repeated GRANT changes nothing.
ensure_app_user() {
  local active user password
  active=$(wait_active_site)
  user=$(secret_value counter-credentials username)
  password=$(secret_value counter-credentials password)
  log "ensuring the counter's MySQL user '$user' on the active site $active"
  site_sql "$active" "CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password'; GRANT SELECT, INSERT, CREATE ON chaos.* TO '$user'@'%'" >/dev/null
}
