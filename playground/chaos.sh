#!/usr/bin/env bash
# Hand-driven faults on the playground (spec §9.1) and a live view of the group.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<USAGE
Usage: playground/chaos.sh VERB [SITE]

Verbs:
  kill-site SITE          force-delete every pod of SITE (mysqld + sidecar); the Deployment
                          brings it back with its data, by then the other site has taken over
  kill-operator           force-delete the operator pod (the sidecars keep fencing alone)
  kill-counter            force-delete the counter app pod
  network-partition SITE  NetworkPolicy chaos-partition-SITE: deny all ingress and egress of
                          SITE's MySQL pod (needs an enforcing CNI: k3s's default is)
  cordon SITE             cordon SITE's node (nothing new schedules there)
  uncordon                uncordon every site node
  recover                 remove chaos NetworkPolicies, uncordon, scale everything back to 1
  status                  the group's status, DNS target, each site's read_only/source/GTIDs,
                          the counter's totals
  watch                   status every 2s until Ctrl-C

Cluster: context k3d-\${BLOODRAVEN_CLUSTER:-bloodraven}, namespace $NS, group $GROUP.
USAGE
}

site_arg() {
  [ $# -ge 1 ] || die 2 "this verb needs a SITE (one of: ${SITES[*]})"
  valid_site "$1"
}

status() {
  echo "group $NS/$GROUP  $(date -u +%H:%M:%SZ)"
  kn get mfg "$GROUP" -o jsonpath='  activeSite={.status.activeSite}  lastFailover={.status.lastFailover} -> {.status.lastFailoverTarget}{"\n"}' 2>/dev/null \
    || echo "  (no MysqlFailoverGroup)"
  kn get mfg "$GROUP" -o jsonpath='{range .status.sites[*]}  status {.name}: state={.state} replicating={.replicating} lag={.secondsBehindSource} recovery={.recoveryState}{"\n"}{end}' 2>/dev/null || true
  echo "  dns db.chaos.example -> $(kn get dnsendpoint "bloodraven-$GROUP" -o jsonpath='{.spec.endpoints[0].targets[0]}' 2>/dev/null || echo '<none>')"
  site_summary
  kn get pods -o wide --no-headers 2>/dev/null | awk '{printf "  pod %-40s %-8s %-10s %s\n", $1, $2, $3, $7}'
  local stats
  stats=$(kc get --raw "/api/v1/namespaces/$NS/services/counter:8090/proxy/stats" 2>/dev/null || echo '(counter unreachable)')
  echo "  counter $stats"
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
verb=$1
shift
case "$verb" in
  -h|--help|help) usage; exit 0 ;;
  kill-site|kill-operator|kill-counter|network-partition|cordon|uncordon|recover|status|watch) ;;
  *) usage >&2; die 2 "unknown verb '$verb'" ;;
esac
case "$verb" in
  kill-site|network-partition|cordon) site_arg "$@" ;;
esac
need_cluster

case "$verb" in
  kill-site)
    site_arg "$@"
    log "force-deleting the pods of site $1"
    kn delete pod -l "shipstream.io/site=$1" --force --grace-period=0 --wait=false 2>&1 | grep -v '^Warning' || true
    echo "Watch the failover: playground/chaos.sh watch (detection ~6s, promotion and DNS within ~20s)"
    ;;
  kill-operator)
    log "force-deleting the operator pod"
    kn delete pod -l app.kubernetes.io/name=bloodraven --force --grace-period=0 --wait=false 2>&1 | grep -v '^Warning' || true
    ;;
  kill-counter)
    log "force-deleting the counter pod"
    kn delete pod -l app.kubernetes.io/name=counter --force --grace-period=0 --wait=false 2>&1 | grep -v '^Warning' || true
    ;;
  network-partition)
    site_arg "$@"
    log "partitioning site $1 (NetworkPolicy chaos-partition-$1)"
    kn apply -f - <<NP
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: chaos-partition-$1
  labels: {chaos.shipstream.io/fault: partition}
spec:
  podSelector:
    matchLabels: {app.kubernetes.io/name: mysql, shipstream.io/site: "$1"}
  policyTypes: [Ingress, Egress]
NP
    ;;
  cordon)
    site_arg "$@"
    kc cordon -l "shipstream.io/site=$1"
    ;;
  uncordon)
    kc uncordon -l shipstream.io/site
    ;;
  recover)
    log "removing partitions, uncordoning, scaling sites back to 1"
    kn delete networkpolicy -l chaos.shipstream.io/fault --ignore-not-found
    kc uncordon -l shipstream.io/site
    for s in "${SITES[@]}"; do
      kn scale "deploy/mysql-$GROUP-$s" --replicas=1
    done
    kn scale deploy/bloodraven deploy/counter --replicas=1
    ;;
  status)
    status
    ;;
  watch)
    while true; do
      out=$(status 2>&1 || true)
      clear 2>/dev/null || true
      echo "$out"
      sleep 2
    done
    ;;
esac
