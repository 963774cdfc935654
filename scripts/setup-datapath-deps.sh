#!/usr/bin/env bash
# Installs what the datapath tests and the real Cilium agent need (test/integration/datapath-kernel.test.ts,
# cilium-real.test.ts): clang and llvm to compile the tiny BPF programs for the bpf target, bpftool and
# iproute2 (ip, tc) to attach and list them; clang-19, with which the real Cilium agent (1.20) compiles its
# bpf/*.c at start-up (it needs clang/LLVM >= 18.1, bookworm's default clang is 14; the sandbox puts
# /usr/lib/llvm-19/bin first on the agent's PATH); python3 for scripts/tcx-query.py, the datapath check's
# reader of tcx attachments. Debian names (bookworm has bpftool 7.1); on Ubuntu bpftool comes with
# linux-tools-$(uname -r). Idempotent, through scripts/apt-packages.sh (needs root for apt-get).
set -euo pipefail
exec bash "$(dirname "$0")/apt-packages.sh" setup-datapath-deps clang llvm bpftool iproute2 clang-19 python3
