#!/usr/bin/env python3
"""tcx-query: the BPF programs attached with tcx or netkit (kernel 6.6+) to each interface of the network
namespace it runs in, asked of the kernel directly (the bpf(2) syscall, BPF_PROG_QUERY per interface and
hook), for hosts whose bpftool is older than 7.3 and cannot list them (Debian bookworm ships 7.1).

Run by mk8s-addons's datapath check (src/adapters/datapath-tools.ts) as
`python3 tcx-query.py`, inside `ip netns exec NAME` for another namespace. Prints one JSON object:
  {"attachments": [{"ifname", "ifindex", "kind": "tcx"|"netkit", "hook", "prog_id", "link_id", "kernel_name"}]}
or {"error": "..."} with exit code 1 (3 when the kernel refuses: not root).
Only the standard library; reads, never changes anything.
"""
import ctypes
import errno
import json
import os
import sys

NR_BPF = {"x86_64": 321, "aarch64": 280, "s390x": 351, "ppc64le": 361, "ppc64": 361}.get(os.uname().machine)
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16
# enum bpf_attach_type (include/uapi/linux/bpf.h)
HOOKS = [("tcx", "ingress", 46), ("tcx", "egress", 47), ("netkit", "primary", 54), ("netkit", "peer", 55)]
MAX = 64

u32, u64 = ctypes.c_uint32, ctypes.c_uint64


class Query(ctypes.Structure):
    # union bpf_attr, the BPF_PROG_QUERY member (kernel 6.6 layout)
    _fields_ = [
        ("target_ifindex", u32), ("attach_type", u32), ("query_flags", u32), ("attach_flags", u32),
        ("prog_ids", u64), ("count", u32), ("_pad", u32),
        ("prog_attach_flags", u64), ("link_ids", u64), ("link_attach_flags", u64), ("revision", u64),
    ]


class GetFd(ctypes.Structure):
    _fields_ = [("id", u32), ("next_id", u32), ("open_flags", u32)]


class GetInfo(ctypes.Structure):
    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    ret = libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    return ret, ctypes.get_errno()


def kernel_name(prog_id):
    """The program's name as the kernel keeps it (15 characters at most), or None."""
    fd, _ = bpf(BPF_PROG_GET_FD_BY_ID, GetFd(id=prog_id))
    if fd < 0:
        return None
    try:
        buf = (ctypes.c_ubyte * 256)()
        ret, _ = bpf(BPF_OBJ_GET_INFO_BY_FD, GetInfo(bpf_fd=fd, info_len=256, info=ctypes.addressof(buf)))
        if ret < 0:
            return None
        # struct bpf_prog_info: name[16] at offset 64
        return bytes(buf[64:80]).split(b"\0", 1)[0].decode() or None
    finally:
        os.close(fd)


def main():
    if NR_BPF is None:
        print(json.dumps({"error": "unsupported machine %s" % os.uname().machine}))
        return 1
    out = []
    for ifname in sorted(os.listdir("/sys/class/net")):
        try:
            with open("/sys/class/net/%s/ifindex" % ifname) as f:
                ifindex = int(f.read())
        except OSError:
            continue
        for kind, hook, attach_type in HOOKS:
            progs, links = (u32 * MAX)(), (u32 * MAX)()
            q = Query(target_ifindex=ifindex, attach_type=attach_type, prog_ids=ctypes.addressof(progs), count=MAX, link_ids=ctypes.addressof(links))
            ret, err = bpf(BPF_PROG_QUERY, q)
            if ret < 0:
                if err in (errno.EPERM, errno.EACCES):
                    print(json.dumps({"error": "the kernel refused BPF_PROG_QUERY (%s): run as root" % os.strerror(err)}))
                    return 3
                # EINVAL: a kernel before 6.6 (no tcx), or a netkit hook on another kind of device.
                continue
            for i in range(min(q.count, MAX)):
                out.append({"ifname": ifname, "ifindex": ifindex, "kind": kind, "hook": hook, "prog_id": progs[i], "link_id": links[i] or None, "kernel_name": kernel_name(progs[i])})
    print(json.dumps({"attachments": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
