#!/usr/bin/env bash
# Brings up (or refreshes) the Bloodraven playground on k3d. Idempotent: rerun it at will.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<USAGE
Usage: playground/setup.sh [--cluster NAME] [--skip-build] [--help]

Creates or reuses the k3d cluster NAME (default: bloodraven; env BLOODRAVEN_CLUSTER) with a
server node (operator, counter) and one agent node per site (a, b); labels the nodes;
builds the controller, sidecar and chaos images and imports them; installs the CRDs,
RBAC, the operator, the MysqlFailoverGroup 'demo' (namespace chaos) with its Secret and
the counter app; waits for the MySQL sites the operator creates; then sets up
replication a -> b the first time and the counter's MySQL user.

Options:
  --cluster NAME   k3d cluster name; the kubectl context is k3d-NAME
  --skip-build     reuse the images already imported into the cluster
  -h, --help       this help

Exit codes: 0 ok, 2 bad flag, 10 docker missing, 11 k3d missing, 12 kubectl missing,
13 docker daemon unreachable, other non-zero: a step failed (its output says which).
USAGE
}

build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --cluster) [ $# -ge 2 ] || die 2 "--cluster needs a NAME"; CLUSTER=$2; CONTEXT="k3d-$CLUSTER"; shift 2 ;;
    --skip-build) build=0; shift ;;
    *) usage >&2; die 2 "unknown argument '$1'" ;;
  esac
done

need docker "$EXIT_NO_DOCKER" "install Docker: https://docs.docker.com/get-docker/"
need k3d "$EXIT_NO_K3D" "install k3d: https://k3d.io/#installation"
need_kubectl
docker info >/dev/null 2>&1 || die "$EXIT_DOCKER_DOWN" "the Docker daemon is not reachable (is Docker running?)"

if k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
  log "reusing k3d cluster $CLUSTER"
  k3d cluster start "$CLUSTER" >/dev/null
else
  log "creating k3d cluster $CLUSTER (1 server + ${#SITES[@]} agents)"
  k3d cluster create "$CLUSTER" --agents "${#SITES[@]}" --wait \
    --k3s-arg "--disable=traefik@server:0"
fi
kc get --raw /readyz >/dev/null

log "labelling nodes"
kc label node "k3d-$CLUSTER-server-0" shipstream.io/playground-role=control --overwrite >/dev/null
i=0
for s in "${SITES[@]}"; do
  kc label node "k3d-$CLUSTER-agent-$i" "shipstream.io/site=$s" --overwrite >/dev/null
  i=$((i + 1))
done

if [ "$build" = 1 ]; then
  for target in controller sidecar chaos; do
    case "$target" in
      controller) image=bloodraven:playground ;;
      sidecar) image=bloodraven-sidecar:playground ;;
      chaos) image=bloodraven-chaos:playground ;;
    esac
    log "building $image"
    docker build -q -f "$PLAYGROUND_DIR/Dockerfile" --target "$target" -t "$image" "$REPO_ROOT" >/dev/null
  done
  log "importing images into $CLUSTER"
  k3d image import -c "$CLUSTER" bloodraven:playground bloodraven-sidecar:playground bloodraven-chaos:playground
fi

log "installing CRDs"
kc apply -k "$PLAYGROUND_DIR/manifests/crds" >/dev/null
kc wait --for condition=established --timeout=60s \
  crd/mysqlfailovergroups.shipstream.io crd/dnsendpoints.externaldns.k8s.io >/dev/null

log "applying the playground (operator, group and its Secret, lb Services, counter)"
kc apply -k "$PLAYGROUND_DIR/manifests/playground" >/dev/null
kn rollout status deploy/bloodraven --timeout=120s >/dev/null

log "waiting for the operator's MySQL sites (a first boot takes about a minute)"
for s in "${SITES[@]}"; do
  wait_site "$s"
done
bootstrap_replication
ensure_app_user
kn rollout status deploy/counter --timeout=120s >/dev/null

log "playground ready (context $CONTEXT, namespace $NS)"
site_summary
cat <<NEXT

Next:
  playground/chaos.sh watch          # live view of the group
  playground/chaos.sh kill-site a    # kill the primary site and watch b take over
  cargo run -p chaos -- run kill-site --target k3d --context $CONTEXT
NEXT
