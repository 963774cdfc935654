#!/usr/bin/env bash
# The main job (`npm run demo`): on a fresh sandbox node, the addon lifecycle live, then tear down.
#   sandbox up -> enable dns:1.1.1.1 -> enable cilium:v1.8 -> enable hubble -> status -> disable cilium
#   -> reset -> sandbox down
# Every step is real mk8s-addons against a real control plane; what the sandbox simulates (snapd,
# systemd, the container runtime, BPF) is said by `sandbox status`. Needs root (network namespace).
# Env: DEMO_LAYOUT=1.20|1.35 (default 1.20, the Cilium v1.8 era), DEMO_OUTPUT=pretty|plain|json.
set -euo pipefail
cd "$(dirname "$0")/.."
layout="${DEMO_LAYOUT:-1.20}"
output="${DEMO_OUTPUT:-plain}"
cli=(node dist/src/cli.js)
[ -f dist/src/cli.js ] || npm run build

echo "== control plane binaries (built once from Go modules, then cached)"
bash scripts/build-control-plane.sh --quiet >/dev/null

dir="$(mktemp -d "${TMPDIR:-/tmp}/mk8s-addons-demo.XXXXXX")"
cleanup() {
  echo "== sandbox down"
  "${cli[@]}" sandbox down --dir "$dir" || true
}
trap cleanup EXIT

step() {
  echo
  echo "== mk8s-addons $*"
  "${cli[@]}" "$@" --output "$output"
}

echo "== sandbox up (layout $layout, 1 node) in $dir"
"${cli[@]}" sandbox up --dir "$dir" --layout "$layout" --nodes 1
eval "$("${cli[@]}" sandbox env --dir "$dir")"
export SNAP SNAP_DATA SNAP_COMMON KUBECONFIG

step enable dns:1.1.1.1
echo
echo "(The sandbox runs Kubernetes 1.34; Cilium 1.8 supports up to 1.18, so the compatibility check refuses it"
echo " and says why: exit $("${cli[@]}" enable cilium:v1.8 >/dev/null 2>&1; echo $?). --force installs it anyway, as the field notes' era did.)"
step enable cilium:v1.8 --force
step enable hubble
step status
step disable cilium
step reset
echo
echo "== sandbox status (what is real and what is simulated)"
"${cli[@]}" sandbox status --dir "$dir" || true
