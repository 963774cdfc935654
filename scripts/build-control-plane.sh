#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok)
# from Go modules into a cache folder outside the clone, keyed by version. Idempotent: a binary that is
# already in the cache is not built again. Test-only: the product itself is TypeScript.
#
#   scripts/build-control-plane.sh          build (or reuse) and print the bin folder on the last line
#   scripts/build-control-plane.sh --quiet  the same, but stdout is only the bin folder and stderr only
#                                            errors (no per-binary notes, no disk usage)
#   KUBEBUILDER_ASSETS=/dir scripts/...      use the binaries in /dir instead (envtest convention);
#                                            only the missing ones are built
#
# Cache root: $MK8S_ADDONS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/mk8s-addons.
# src/sandbox/binaries.ts derives the same folder from the same variables and versions (a test checks).
set -euo pipefail

quiet=false
for arg in "$@"; do
  case "$arg" in
    --quiet|-q) quiet=true ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf '[build-control-plane] error: unknown argument %s; use --quiet or --help\n' "$arg" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="v1.34.4"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.7.0"

cache_root="${MK8S_ADDONS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mk8s-addons}"
bin_dir="$cache_root/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
mkdir -p "$bin_dir"

log() { $quiet || printf '[build-control-plane] %s\n' "$*" >&2; }
error() { printf '[build-control-plane] error: %s\n' "$*" >&2; }
built=0

# have NAME: true when NAME is already usable (override folder or cache).
have() {
  local name="$1"
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$name" ]]; then
    return 0
  fi
  [[ -x "$bin_dir/$name" ]]
}

# build MODULE_DIR OUTPUT_NAME PACKAGE [LDFLAGS]: go build into a temp name, then rename, so an
# interrupted build never leaves a half-written binary that a later run would take as done.
build() {
  local dir="$1" name="$2" pkg="$3" ldflags="${4:--s -w}"
  if have "$name"; then
    log "$name: cached"
    return 0
  fi
  # Go is only needed when something is missing: cached or supplied binaries need no toolchain.
  if ! command -v go >/dev/null 2>&1; then
    error "Go is not installed, and $name is neither in ${KUBEBUILDER_ASSETS:-\$KUBEBUILDER_ASSETS} nor in $bin_dir; install Go >= 1.24 (this builds test binaries only)"
    exit 3
  fi
  log "$name: building $pkg (a cold build takes minutes on 2 cores)"
  local start=$SECONDS
  (cd "$here/controlplane/$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "$ldflags" -o "$bin_dir/.$name.tmp" "$pkg")
  mv -f "$bin_dir/.$name.tmp" "$bin_dir/$name"
  log "$name: built in $((SECONDS - start)) s"
  built=$((built + 1))
}

k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor \
-X k8s.io/component-base/version.gitTreeState=clean"

build etcd etcd go.etcd.io/etcd/server/v3
build kwok kwok sigs.k8s.io/kwok/cmd/kwok \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kubernetes kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"

if [[ $built -gt 0 ]] && ! $quiet; then
  log "disk used by $cache_root: $(du -sh "$cache_root" 2>/dev/null | cut -f1)"
fi
echo "$bin_dir"
