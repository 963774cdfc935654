#!/usr/bin/env bash
# Usage: apt-packages.sh NAME PACKAGE...: installs the Debian packages that are missing, for the set-up
# script NAME (named in its messages). Idempotent: packages already installed (dpkg -s) are left alone;
# `apt-get update` runs once, and only when something is missing. Needs root (apt-get); prints what is
# missing and how to get it otherwise (exit 3).
set -euo pipefail

name=$1
shift
missing=()
for pkg in "$@"; do
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
  echo "$name: missing ${missing[*]} and apt-get is not available: install them with your package manager" >&2
  exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$name: missing ${missing[*]}: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 3
fi

echo "$name: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Other set-up scripts may be installing at the same time: wait for dpkg's lock instead of failing.
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
