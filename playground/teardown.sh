#!/usr/bin/env bash
# Removes the playground: its manifests, node labels and namespace; with --delete-cluster
# the whole k3d cluster.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<USAGE
Usage: playground/teardown.sh [--cluster NAME] [--delete-cluster] [--help]

Without --delete-cluster: deletes the playground objects (operator, sites, group, counter,
namespace $NS, CRDs), removes the node labels, keeps the cluster.
With --delete-cluster: deletes the k3d cluster NAME (default bloodraven).
USAGE
}

delete_cluster=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --cluster) [ $# -ge 2 ] || die 2 "--cluster needs a NAME"; CLUSTER=$2; CONTEXT="k3d-$CLUSTER"; shift 2 ;;
    --delete-cluster) delete_cluster=1; shift ;;
    *) usage >&2; die 2 "unknown argument '$1'" ;;
  esac
done

if [ "$delete_cluster" = 1 ]; then
  need k3d "$EXIT_NO_K3D" "install k3d: https://k3d.io/#installation"
  log "deleting k3d cluster $CLUSTER"
  k3d cluster delete "$CLUSTER"
  exit 0
fi

need_cluster
log "deleting the playground objects"
kn delete networkpolicy -l chaos.shipstream.io/fault --ignore-not-found
kc delete -k "$PLAYGROUND_DIR/manifests/playground" --ignore-not-found --wait=true
log "removing node labels and the group's taints"
kc label node -l shipstream.io/site shipstream.io/site- >/dev/null || true
kc label node -l shipstream.io/playground-role shipstream.io/playground-role- >/dev/null || true
kc taint node --all "shipstream.io/db-readonly-$GROUP:NoExecute-" >/dev/null 2>&1 || true
kc uncordon -l kubernetes.io/hostname >/dev/null 2>&1 || true
log "done; the cluster $CONTEXT is still there (--delete-cluster removes it)"
