#!/usr/bin/env python3
"""MicroK8s's addon dispatch, as MicroK8s 1.24+ runs it (scripts/wrappers/common/utils.py), for tests.

Written for mk8s-addons's tests from MicroK8s's documented behaviour, not copied: it reads the addon
repositories under $SNAP_COMMON/addons/, decides enabled/disabled with MicroK8s's rule (check_status in a
line of `kubectl get all,ingress` plus the cluster roles, or, after $VAR expansion, an existing file), and
for `enable`/`disable` takes MicroK8s's fcntl lock on $SNAP_DATA/var/lock/.microk8s-addon-lock (unless
MICROK8S_ADDONS_SKIP_LOCK=1, which it then sets for nested calls), skips addons already in the wanted
state, and runs `$SNAP_COMMON/addons/REPO/addons/NAME/ACTION ARGS...`; the hook's exit code is its own.
Left out: MicroK8s's readiness waits (the tests check readiness themselves) and help flags.

Usage: microk8s-emulator.py enable|disable ADDON[:ARG...] [ARG...] | status
Environment: SNAP, SNAP_DATA, SNAP_COMMON (MicroK8s's), MICROK8S_EMULATOR_KUBECTL (the kubectl to run).
"""
import fcntl
import os
import platform
import subprocess
import sys

import yaml

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "s390x": "s390x", "ppc64le": "ppc64le"}[platform.machine()]


def snap_common():
    return os.environ["SNAP_COMMON"]


def kubectl(*args):
    config = os.path.expandvars("--kubeconfig=${SNAP_DATA}/credentials/client.config")
    r = subprocess.run([os.environ["MICROK8S_EMULATOR_KUBECTL"], config, *args], capture_output=True, text=True)
    return r.stdout


def available_addons():
    found = []
    root = os.path.join(snap_common(), "addons")
    for repo in sorted(os.listdir(root)):
        try:
            with open(os.path.join(root, repo, "addons.yaml")) as f:
                doc = yaml.safe_load(f)
            for addon in doc["microk8s-addons"]["addons"]:
                if ARCH in addon["supported_architectures"]:
                    found.append({**addon, "repository": repo})
        except Exception as e:  # MicroK8s logs the repository and goes on without it
            print("could not load addons from %s: %r" % (repo, e), file=sys.stderr)
    return sorted(found, key=lambda a: (a["repository"], a["name"]))


def is_enabled(check_status, row):
    return check_status in row or os.path.isfile(os.path.expandvars(check_status))


def status(addons):
    rows = (kubectl("get", "all,ingress", "--all-namespaces") + kubectl("get", "clusterroles", "--show-kind", "--no-headers")).split("\n")
    enabled = [a for a in addons if any(is_enabled(a["check_status"], row) for row in rows)]
    return enabled, [a for a in addons if a not in enabled]


def parse_one(arg, available):
    name, *args = arg.split(":")
    parts = name.split("/")
    if len(parts) == 2:
        return parts[0], parts[1], args
    repos = [r for (r, n) in available if n == name]
    if not repos:
        print("Addon %s was not found in any repository" % name, file=sys.stderr)
        sys.exit(1)
    if len(repos) > 1:
        print("Addon %s exists in more than repository. Please explicitly specify" % name, file=sys.stderr)
        sys.exit(1)
    print("Infer repository %s for addon %s" % (repos[0], name), file=sys.stderr)
    return repos[0], name, args


def parse_args(addon_args, available):
    # As MicroK8s does: the `:` form only when every word is a known bare name (strictly fewer than all);
    # otherwise the first word is the addon and the rest its arguments, and its own `:ARGS` are dropped
    # (so `enable REPO/NAME:ARG` loses ARG: the flag style is the way to pass arguments with a prefix).
    names = {a.split(":")[0] for a in addon_args}
    if names < {n for (_, n) in available}:
        return [parse_one(a, available) for a in addon_args]
    repo, name, args = parse_one(addon_args[0], available)
    if args and addon_args[1:]:
        print("Can't pass string arguments and flag arguments simultaneously!")
        sys.exit(1)
    return [(repo, name, addon_args[1:])]


def xable(action, addon_args):
    addons = available_addons()
    enabled, disabled = status(addons)
    done = {(a["repository"], a["name"]) for a in (enabled if action == "enable" else disabled)}
    available = [(a["repository"], a["name"]) for a in addons]
    for repo, name, args in parse_args(addon_args, available):
        if (repo, name) not in available:
            print("Addon %s/%s not found" % (repo, name))
            continue
        if (repo, name) in done:
            print("Addon %s/%s is already %sd" % (repo, name, action))
            continue
        p = subprocess.run([os.path.join(snap_common(), "addons", repo, "addons", name, action), *args])
        if p.returncode:
            sys.exit(p.returncode)


def main():
    action, *rest = sys.argv[1:]
    if action == "status":
        enabled, disabled = status(available_addons())
        for a in enabled:
            print("%s/%s: enabled" % (a["repository"], a["name"]))
        for a in disabled:
            print("%s/%s: disabled" % (a["repository"], a["name"]))
        return
    if os.environ.get("MICROK8S_ADDONS_SKIP_LOCK") == "1":
        xable(action, rest)
        return
    with open(os.path.join(os.environ["SNAP_DATA"], "var", "lock", ".microk8s-addon-lock"), "w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        try:
            os.environ["MICROK8S_ADDONS_SKIP_LOCK"] = "1"
            xable(action, rest)
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


if __name__ == "__main__":
    main()
