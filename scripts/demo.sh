#!/usr/bin/env bash
# The main job (`npm run demo`): on a fresh sandbox node, the addon lifecycle live, then tear down.
#   sandbox up -> enable dns:1.1.1.1 -> enable cilium (1.20: the real agent runs) -> its CLI and datapath
#   -> enable hubble -> status -> disable cilium -> enable cilium:v1.8 --force (the field notes' era) -> reset
#   -> sandbox down
# Every step is real mk8s-addons against a real control plane and, for Cilium 1.20, the real cilium-agent
# built from Cilium's module with its eBPF datapath; what the sandbox simulates (snapd, systemd, container
# images, flannel and Calico, Hubble) is said by `sandbox status`. Needs root (network namespaces, BPF).
# Env: DEMO_LAYOUT=1.20|1.35 (default 1.20, the field notes' era), DEMO_OUTPUT=pretty|plain|json.
set -euo pipefail
cd "$(dirname "$0")/.."
layout="${DEMO_LAYOUT:-1.20}"
output="${DEMO_OUTPUT:-plain}"
# The CLI as it ships (package.json's bin: the bundle of dist/src), rebuilt when missing or stale.
cli=(node dist/bundle/src/cli.js)
{ [ -f dist/bundle/src/cli.js ] && node scripts/bundle.mjs --check >/dev/null 2>&1; } || npm run build

echo "== control plane binaries (built once from Go modules, then cached)"
bash scripts/build-control-plane.sh --quiet >/dev/null
echo "== the real Cilium agent: clang-19 and the agent, CLI and CNI plugin v1.20.2 (built once, then cached)"
bash scripts/setup-datapath-deps.sh
bash scripts/build-cilium.sh --quiet >/dev/null

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
step enable cilium
echo
echo "== \$SNAP_DATA/bin/cilium status --brief (the CLI copied out of the agent's pod, talking to the real agent)"
"$SNAP_DATA/bin/cilium" status --brief
echo
echo "== mk8s-addons datapath --netns (the agent's eBPF programs, read from the kernel)"
netns="$("${cli[@]}" sandbox status --dir "$dir" --output json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).netns))')"
# CoreDNS was just restarted onto Cilium: its endpoint gets its program once the agent has built it.
for _ in $(seq 1 30); do "${cli[@]}" datapath --netns "$netns" >/dev/null 2>&1 && break; sleep 1; done
"${cli[@]}" datapath --netns "$netns" || true
step enable hubble
step status
step disable cilium
echo
echo "(The sandbox runs Kubernetes 1.34; Cilium 1.8 supports up to 1.18, so the compatibility check refuses it"
echo " and says why: exit $("${cli[@]}" enable cilium:v1.8 >/dev/null 2>&1; echo $?). --force installs it anyway, as the field notes' era did;"
echo " the sandbox has a real agent for 1.20 only, so the 1.8 agent is simulated.)"
step enable cilium:v1.8 --force
step reset
echo
echo "== sandbox status (what is real and what is simulated)"
"${cli[@]}" sandbox status --dir "$dir" || true
