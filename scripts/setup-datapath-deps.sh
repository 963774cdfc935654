#!/usr/bin/env bash
# Installs what the datapath tests need (test/integration/datapath-kernel.test.ts): clang and llvm to
# compile the tiny BPF programs for the bpf target, bpftool and iproute2 (ip, tc) to attach and list them.
# Idempotent, through scripts/apt-packages.sh (needs root for apt-get).
# Debian names (bookworm has bpftool 7.1); on Ubuntu bpftool comes with linux-tools-$(uname -r).
set -euo pipefail
exec bash "$(dirname "$0")/apt-packages.sh" setup-datapath-deps clang llvm bpftool iproute2
