#!/usr/bin/env bash
# Starts the MySQL sites over from empty data: operator to 0, MySQL to 0, delete the PVCs,
# strip the group's taints, MySQL back up, clear the group's failover history, bootstrap
# replication a -> b, operator back up.
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
log "MySQL back up (fresh data directories)"
kc apply -k "$PLAYGROUND_DIR/manifests/playground" >/dev/null
kn scale deploy/bloodraven --replicas=0
for s in "${SITES[@]}"; do
  kn scale "deploy/mysql-$GROUP-$s" --replicas=1
done
for s in "${SITES[@]}"; do
  kn rollout status "deploy/mysql-$GROUP-$s" --timeout=300s
done
log "clearing the group's failover history"
kn annotate mfg "$GROUP" bloodraven.shipstream.io/last-failover- bloodraven.shipstream.io/last-failover-target- >/dev/null || true
kn patch mfg "$GROUP" --subresource=status --type=merge -p '{"status":{"activeSite":"","sites":[],"conditions":[],"lastFailover":null,"lastFailoverTarget":null,"promotionGtidExecuted":null}}' >/dev/null
bootstrap_replication
log "operator up"
kn scale deploy/bloodraven --replicas=1
kn rollout status deploy/bloodraven --timeout=120s
kn rollout restart deploy/counter
site_summary
