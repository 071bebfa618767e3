"""A seccomp filter for the Python jail: the syscalls an algorithm never needs fail with EPERM.

Classic BPF, built here (no libseccomp), handed to bubblewrap with ``--seccomp FD``;
bubblewrap installs it just before it execs the interpreter, after its own setup.
x86_64 only: on any other architecture :func:`filter_bytes` returns None and the jail
runs without it (the namespaces and the unprivileged uid stay the boundary).

Denied (errno EPERM, so the algorithm sees a plain error rather than dying):
networking sockets, debugging other processes, namespaces and mounts, kernel keyrings,
BPF and perf, userfaultfd, io_uring, module loading, kexec, and the whole x32 ABI
(syscall numbers with bit 30 set: a second table that a filter on numbers would miss).
A call from another ABI (32-bit int 0x80) kills the process.
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06

# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl).
DENIED_X86_64 = {
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "accept4": 288,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "add_key": 248, "request_key": 249, "keyctl": 250,
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
    "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179,
}


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_bytes() -> bytes | None:
    """The compiled filter (struct sock_filter[]), or None where it is not built (not x86_64)."""
    if platform.machine() != "x86_64":
        return None
    eperm = RET_ERRNO | errno.EPERM
    prog = [
        _insn(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _insn(RET_K, 0, 0, RET_KILL_PROCESS),
        _insn(LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _insn(JGE_K, 0, 1, X32_BIT),
        _insn(RET_K, 0, 0, eperm),
    ]
    for nr in sorted(DENIED_X86_64.values()):
        prog += [_insn(JEQ_K, 0, 1, nr), _insn(RET_K, 0, 0, eperm)]
    prog.append(_insn(RET_K, 0, 0, RET_ALLOW))
    return b"".join(prog)
