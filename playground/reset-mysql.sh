#!/usr/bin/env bash
# Starts the MySQL sites over from empty data: operator to 0, MySQL to 0, delete the PVCs,
# strip the group's taints, clear the group's failover history, operator back up (it
# recreates the PVCs and scales its Deployments back to 1), bootstrap replication a -> b,
# recreate the counter's user.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h|--help)
    echo "Usage: playground/reset-mysql.sh   (wipes every site's data; the cluster stays)"
    exit 0 ;;
  "") ;;
  *) die 2 "unknown argument '$1' (see --help)" ;;
esac
need_cluster

log "operator to 0"
kn scale deploy/bloodraven --replicas=0
kn wait --for=delete pod -l app.kubernetes.io/name=bloodraven --timeout=60s 2>/dev/null || true
log "MySQL to 0"
for s in "${SITES[@]}"; do
  kn scale "deploy/mysql-$GROUP-$s" --replicas=0
done
kn wait --for=delete pod -l app.kubernetes.io/name=mysql --timeout=120s 2>/dev/null || true
log "deleting the data PVCs"
kn delete networkpolicy -l chaos.shipstream.io/fault --ignore-not-found
for s in "${SITES[@]}"; do
  kn delete pvc "mysql-$GROUP-$s-data" --ignore-not-found --wait=true
done
log "stripping the group's taints"
kc taint node --all "shipstream.io/db-readonly-$GROUP:NoExecute-" >/dev/null 2>&1 || true
log "clearing the group's failover history"
kn annotate mfg "$GROUP" bloodraven.shipstream.io/last-failover- bloodraven.shipstream.io/last-failover-target- >/dev/null || true
kn patch mfg "$GROUP" --subresource=status --type=merge -p '{"status":{"activeSite":"","sites":[],"conditions":[],"lastFailover":null,"lastFailoverTarget":null,"promotionGtidExecuted":null}}' >/dev/null
log "operator up (it recreates the PVCs and scales MySQL back to 1: fresh data directories)"
kn scale deploy/bloodraven --replicas=1
kn rollout status deploy/bloodraven --timeout=120s
for s in "${SITES[@]}"; do
  # The operator's own replica count, said again in case its pass has not run yet.
  kn scale "deploy/mysql-$GROUP-$s" --replicas=1
done
for s in "${SITES[@]}"; do
  wait_site "$s"
done
bootstrap_replication
ensure_app_user
kn rollout restart deploy/counter
site_summary
