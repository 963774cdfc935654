#!/usr/bin/env bash
# The project's test command (`npm test`): sets up what the tests need, then typecheck, lint, tests.
# Idempotent set-up: cached Go builds are reused, present packages are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== set-up: Debian packages for the packaging tests (snap, npm package, shell completion)"
bash scripts/setup-packaging-deps.sh
echo "== set-up: control plane binaries (cached under ~/.cache/mk8s-addons; a cold build takes minutes)"
bash scripts/build-control-plane.sh --quiet >/dev/null
echo "== set-up: Debian packages for the datapath tests and the real Cilium agent (clang-19)"
bash scripts/setup-datapath-deps.sh
echo "== set-up: Cilium agent, CLI and CNI plugin v1.20.2 (cached under ~/.cache/mk8s-addons; a cold build takes ~7 min)"
bash scripts/build-cilium.sh --quiet >/dev/null
echo "== typecheck"
npx tsc -p tsconfig.json
echo "== bundle (the shipped CLI, dist/bundle: scripts/bundle.mjs)"
node scripts/bundle.mjs
echo "== lint"
npx eslint .
echo "== tests"
# The render check's kept verdicts (src/cilium/render-check.ts) in a folder of this run's own: the tests
# start with none, and leave none in ~/.cache.
MK8S_ADDONS_CHECK_CACHE="$(mktemp -d)"
export MK8S_ADDONS_CHECK_CACHE
trap 'rm -rf "$MK8S_ADDONS_CHECK_CACHE"' EXIT
node --test --test-reporter=spec --test-concurrency=1 dist/test/
