#!/usr/bin/env bash
# Installs what the packaging tests need: squashfs-tools (mksquashfs / unsquashfs: `npm run snap` packs the
# snap as snapcraft does, test/integration/snap.test.ts unpacks it) and util-linux's unshare (the npm
# package is installed with no network), plus zsh and fish, so that the completion scripts are tried in
# those shells too (test/unit/completion.test.ts). Idempotent, through scripts/apt-packages.sh
# (needs root for apt-get).
set -euo pipefail
exec bash "$(dirname "$0")/apt-packages.sh" setup-packaging-deps squashfs-tools util-linux zsh fish
