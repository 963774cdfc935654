#!/usr/bin/env bash
# Builds the Cilium binaries the sandbox node runs for real (cilium-agent, cilium-dbg, cilium-cni) from
# Cilium's own Go module into a cache folder outside the clone, keyed by version, and exposes the
# module's bpf/ sources (the agent's --lib-dir) and CRDs beside them. Idempotent: a binary already in the
# cache is not built again. Test-only: the product itself is TypeScript; on a MicroK8s node the agent
# runs from Cilium's image.
#
#   scripts/build-cilium.sh          build (or reuse) and print the cache folder on the last line
#   scripts/build-cilium.sh --quiet  the same, but stdout is only the folder and stderr only errors
#   MK8S_ADDONS_CILIUM_BIN=/dir ...  use cilium-agent, cilium-dbg, cilium-cni (and bpf/) from /dir
#                                    instead; nothing is built
#
# Layout of the folder printed: bin/{cilium-agent,cilium-dbg,cilium-cni}, bpf/ (lib-dir), crds/.
# Cache root: $MK8S_ADDONS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/mk8s-addons.
# src/sandbox/cilium-binaries.ts derives the same folder from the same variables and version.
set -euo pipefail

quiet=false
for arg in "$@"; do
  case "$arg" in
    --quiet|-q) quiet=true ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf '[build-cilium] error: unknown argument %s; use --quiet or --help\n' "$arg" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Keep in step with scripts/cilium/go.mod and src/sandbox/cilium-binaries.ts.
CILIUM_VERSION="v1.20.2"

log() { $quiet || printf '[build-cilium] %s\n' "$*" >&2; }
error() { printf '[build-cilium] error: %s\n' "$*" >&2; }

if [[ -n "${MK8S_ADDONS_CILIUM_BIN:-}" ]]; then
  for name in cilium-agent cilium-dbg cilium-cni; do
    if [[ ! -x "$MK8S_ADDONS_CILIUM_BIN/bin/$name" ]]; then
      error "MK8S_ADDONS_CILIUM_BIN=$MK8S_ADDONS_CILIUM_BIN has no executable bin/$name; point it at a folder laid out as bin/, bpf/, crds/ or unset it to build"
      exit 3
    fi
  done
  echo "$MK8S_ADDONS_CILIUM_BIN"
  exit 0
fi

cache_root="${MK8S_ADDONS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mk8s-addons}"
out="$cache_root/cilium/$CILIUM_VERSION"
mkdir -p "$out/bin"

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    error "Go is not installed, and $1 is not in $out; install Go >= 1.26 (Cilium ${CILIUM_VERSION} needs it; this builds test binaries only)"
    exit 3
  fi
}

module_dir=""
module() {
  if [[ -z "$module_dir" ]]; then
    need_go "the Cilium module"
    module_dir=$(cd "$here/cilium" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/cilium/cilium)
  fi
  printf '%s' "$module_dir"
}

# The version string Cilium's Makefile bakes in: "VERSION REVISION AUTHOR-DATE". The module proxy has no
# commit, so the revision is the tag and the date the module's own time.
info="${GOMODCACHE:-$(go env GOMODCACHE 2>/dev/null || echo "$HOME/go/pkg/mod")}/cache/download/github.com/cilium/cilium/@v/$CILIUM_VERSION.info"
built=0

build() {
  local name="$1" pkg="$2"
  if [[ -x "$out/bin/$name" ]]; then
    log "$name: cached"
    return 0
  fi
  need_go "$name"
  local dir; dir=$(module)
  local when="unknown"
  [[ -f "$info" ]] && when=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")
  local version="${CILIUM_VERSION#v} ${CILIUM_VERSION} ${when}"
  log "$name: building $pkg (a cold build takes minutes on 2 cores)"
  local start=$SECONDS
  (cd "$here/cilium" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags osusergo \
      -ldflags "-s -w -X 'github.com/cilium/cilium/pkg/version.ciliumVersion=$version'" \
      -o "$out/bin/.$name.tmp" "$pkg")
  mv -f "$out/bin/.$name.tmp" "$out/bin/$name"
  log "$name: built in $((SECONDS - start)) s"
  built=$((built + 1))
  : "$dir"
}

build cilium-agent github.com/cilium/cilium/daemon
build cilium-dbg github.com/cilium/cilium/cilium-dbg
build cilium-cni github.com/cilium/cilium/plugins/cilium-cni

# bpf/ sources and CRDs: copied (not linked) so that the cache does not depend on the module cache.
copy_tree() {
  local from="$1" to="$2"
  if [[ -f "$out/$to/.complete" ]]; then
    log "$to/: cached"
    return 0
  fi
  local dir; dir=$(module)
  rm -rf "$out/.$to.tmp"
  cp -R "$dir/$from" "$out/.$to.tmp"
  chmod -R u+w "$out/.$to.tmp"
  touch "$out/.$to.tmp/.complete"
  rm -rf "${out:?}/$to"
  mv "$out/.$to.tmp" "$out/$to"
  log "$to/: copied from $from"
}
copy_tree bpf bpf
copy_tree pkg/k8s/apis/cilium.io/client/crds crds

if [[ $built -gt 0 ]] && ! $quiet; then
  log "disk used by $out: $(du -sh "$out" 2>/dev/null | cut -f1)"
fi
echo "$out"
