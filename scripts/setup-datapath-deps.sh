#!/usr/bin/env bash
# Installs what the datapath tests need (test/integration/datapath-kernel.test.ts): clang and llvm to
# compile the tiny BPF programs for the bpf target, bpftool and iproute2 (ip, tc) to attach and list them.
# Idempotent: packages already installed (dpkg -s) are left alone; `apt-get update` runs once, and only
# when something is missing. Needs root (apt-get); prints what is missing and how to get it otherwise.
# Debian names (bookworm has bpftool 7.1); on Ubuntu bpftool comes with linux-tools-$(uname -r).
set -euo pipefail

PACKAGES=(clang llvm bpftool iproute2)

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
  echo "setup-datapath-deps: missing ${missing[*]} and apt-get is not available: install them with your package manager" >&2
  exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-datapath-deps: missing ${missing[*]}: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 3
fi

echo "setup-datapath-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Other set-up scripts may be installing at the same time: wait for dpkg's lock instead of failing.
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
