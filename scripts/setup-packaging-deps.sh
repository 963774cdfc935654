#!/usr/bin/env bash
# Installs what the packaging tests need: squashfs-tools (mksquashfs / unsquashfs: `npm run snap` packs the
# snap as snapcraft does, test/integration/snap.test.ts unpacks it) and util-linux's unshare (the npm
# package is installed with no network), plus zsh and fish, so that the completion scripts are tried in
# those shells too (test/unit/completion.test.ts). Idempotent: packages already installed (dpkg -s) are left
# alone; `apt-get update` runs once, and only when something is missing. Needs root (apt-get).
set -euo pipefail

PACKAGES=(squashfs-tools util-linux zsh fish)

missing=()
for pkg in "${PACKAGES[@]}"; do
  # A removed package can keep a dpkg record (config-files): only "install ok installed" counts.
  status=$(dpkg -s "$pkg" 2>/dev/null || true)
  if [[ $status != *"Status: install ok installed"* ]]; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-packaging-deps: missing ${missing[*]} and apt-get is not available: install them with your package manager" >&2
  exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-packaging-deps: missing ${missing[*]}: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 3
fi

echo "setup-packaging-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Other set-up scripts may be installing at the same time: wait for dpkg's lock instead of failing.
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
