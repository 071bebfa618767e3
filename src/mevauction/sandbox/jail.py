"""The Python runtime: an algorithm in a bubblewrap jail, with rlimits.

What the jailed process has (and why):

- its own user, pid, network, IPC, UTS and cgroup namespaces (``--unshare-all``):
  no network interface but loopback, no view of any process outside the jail;
- a fresh, otherwise unused uid per run: RLIMIT_NPROC counts per uid, so a fork
  bomb exhausts only its own count, and no run can signal or ptrace another;
- a read-only root: ``/usr`` (the system Python and its standard library) and
  ``/algo`` (this run's copy of the algorithm, ``mevalgo``, ``mevseal`` and the boot script;
  for a wasm module in a sealed slot, ``wasmhost`` and ``mevwasm`` run it, and ``/wasm``
  is the service's wasmtime package, read-only); in a sealed slot ``/keccak/_keccak.so``,
  the service's compiled Keccak (pycryptodome's C library, no Python in it), read-only,
  so ``mevseal`` hashes its shares in microseconds rather than in pure Python;
  a small private ``/tmp`` that disappears with the run; no ``/etc``, no ``/work``,
  no database, keys or other builders' code; an empty environment;
- rlimits (hard = soft, set by prlimit before bwrap): CPU seconds, address space,
  processes, file size, open files, no core; the host adds the wall-clock budget and
  kills the jail when it is spent;
- where the host lets us, a per-run cgroup (:mod:`.cgroup`): one memory cap and one
  task cap over the jail's whole process tree.

Only stdin and stdout reach the host (stderr goes to a capped file the host reads
for the reason it reports). On x86_64 a seccomp filter (:mod:`.seccomp`) also makes
the syscalls an algorithm never needs fail: sockets, ptrace, namespaces, mounts,
keyrings, BPF, io_uring, module loading.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path

from mevauction.sandbox.cgroup import RunGroup, run_group
from mevauction.sandbox.seccomp import filter_bytes

BWRAP = "bwrap"
PRLIMIT = "/usr/bin/prlimit"
SETPRIV = "/usr/bin/setpriv"
# The jail's interpreter: the system Python, which lives entirely under /usr.
GUEST_PYTHON = "/usr/bin/python3"
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """What one algorithm run may use. The wall-clock budget is the one that binds."""

    budget_ms: int = 1000
    memory_bytes: int = 256 * MIB  # RLIMIT_AS of the interpreter
    processes: int = 16  # RLIMIT_NPROC of the run's uid (threads count); the cgroup's pids.max
    group_memory_bytes: int = 384 * MIB  # the whole jail's memory, where a cgroup can be made
    file_bytes: int = 1 * MIB  # RLIMIT_FSIZE: stderr file and anything in /tmp
    open_files: int = 32  # RLIMIT_NOFILE
    tmp_bytes: int = 4 * MIB  # size of the private /tmp
    output_bytes: int = 32 * MIB  # all of stdout together
    wasm_memory_bytes: int = 64 * MIB  # the wasm store's linear memory
    wasm_fuel: int = 2_000_000_000  # wasm instructions (roughly), deterministic

    @property
    def cpu_seconds(self) -> int:
        return self.budget_ms // 1000 + 1


@dataclass(frozen=True, slots=True)
class Program:
    """A submitted algorithm: its runtime and its code."""

    runtime: str  # "python" or "wasm"
    code: bytes
    name: str = "algorithm"


def guest_file(name: str) -> bytes:
    return resources.files("mevauction.sandbox.guest").joinpath(name).read_bytes()


@cache
def wasmtime_dir() -> str | None:
    """The wasmtime package's directory (bound read-only into a wasm jail), without importing it."""
    spec = importlib.util.find_spec("wasmtime")
    return next(iter(spec.submodule_search_locations or []), None) if spec else None


@cache
def keccak_library() -> str | None:
    """pycryptodome's raw Keccak library (eth-hash's backend), bound read-only into a sealed
    run's jail for ``mevseal`` to load by ctypes, found without importing it."""
    spec = importlib.util.find_spec("Crypto")
    for where in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(where, "Hash").glob("_keccak*.so"))
        if found:
            return str(found[0])
    return None


def owned_prefix() -> str:
    """``mevalgo-<pid>-``: what this process makes (jail directories, control groups) names
    its maker, so a later process can remove what a killed one left (:func:`sweep_orphans`)."""
    return f"mevalgo-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_orphans() -> int:
    """Remove the jail directories and (empty) control groups whose maker is no longer
    running: a service killed with SIGKILL runs no clean-up. Names without a maker's pid
    (older code) and those of live processes are left alone. Returns how many went."""
    from mevauction.sandbox import cgroup

    gone = 0
    root = _work_root()
    for path in Path(root or tempfile.gettempdir()).glob("mevalgo-*-*"):
        pid = _maker(path.name)
        if pid is not None and not _alive(pid) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            gone += not path.exists()
    return gone + cgroup.sweep_orphans(lambda name: (pid := _maker(name)) is not None and not _alive(pid))


def _maker(name: str) -> int | None:
    parts = name.split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def _work_root() -> str | None:
    # Memory-backed when possible: each run writes three small files.
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@cache
def jail_problem() -> str | None:
    """Why the jail cannot run on this machine, or None when it can."""
    if shutil.which(BWRAP) is None:
        return "bubblewrap (bwrap) is not installed (scripts/setup.sh installs it)"
    for tool in (PRLIMIT, SETPRIV):
        if not os.path.exists(tool):
            return f"{tool} is missing (Debian util-linux)"
    if not os.path.exists(GUEST_PYTHON):
        return f"{GUEST_PYTHON} is missing (the jail runs the system Python)"
    problem = _probe([], "pass")
    return problem and f"bwrap cannot create namespaces here (user namespaces disabled?): {problem}"


@cache
def wasm_jail_problem() -> str | None:
    """Why a wasm module cannot run in the jail (a sealed slot), or None when it can:
    the jail's Python must import the service's wasmtime through its read-only bind."""
    problem = jail_problem()
    if problem is not None:
        return problem
    where = wasmtime_dir()
    if where is None:
        return "wasmtime is not installed (pip install 'mevauction[wasm]')"
    found = _probe(["--ro-bind", where, "/wasm/wasmtime"],
                   "import sys; sys.path.insert(0, '/wasm'); import wasmtime; wasmtime.Engine()")
    return found and f"wasmtime does not load in the jail's {GUEST_PYTHON}: {found}"


def _probe(binds: list[str], code: str) -> str | None:
    """Run ``code`` in a minimal jail under the default limits; None, or the last line of what went wrong."""
    try:
        probe = subprocess.run([*_limits_prefix(Limits()), BWRAP, "--unshare-all", "--ro-bind", "/usr", "/usr",
                                "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", *binds,
                                GUEST_PYTHON, "-I", "-S", "-c", code],
                               capture_output=True, timeout=10, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if probe.returncode != 0:
        return (probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"])[0]
    return None


def _fresh_uid() -> int:
    # Far above any uid a system hands out; unique per run with overwhelming odds.
    return (1 << 24) + secrets.randbelow(1 << 29)


def _jail_uid() -> int | None:
    # Not root: we already are an unprivileged uid, and cannot change it.
    return _fresh_uid() if os.geteuid() == 0 else None


def _limits_prefix(limits: Limits) -> list[str]:
    """prlimit (hard = soft) and, as root, setpriv to a fresh uid with no groups."""
    cpu = limits.cpu_seconds
    prefix = [PRLIMIT, f"--cpu={cpu}:{cpu + 1}", f"--as={limits.memory_bytes}",
              f"--nproc={limits.processes}", f"--fsize={limits.file_bytes}",
              f"--nofile={limits.open_files}", "--core=0", "--"]
    uid = _jail_uid()
    if uid is not None:
        prefix += [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    return prefix


class Jailed:
    """One running jail: its process, its pipes, and the directory to remove after."""

    def __init__(self, program: Program, limits: Limits, sealed: bool = False):
        self.workdir = Path(tempfile.mkdtemp(prefix=owned_prefix(), dir=_work_root()))
        self.workdir.chmod(0o711)  # the jail's uid may traverse it to /algo, not list it
        algo = self.workdir / "algo"
        (algo / "lib").mkdir(parents=True)
        files = {"boot.py": guest_file("boot.py"), "lib/mevalgo.py": guest_file("mevalgo.py"),
                 "lib/mevseal.py": guest_file("mevseal.py")}  # mevseal: a sealed slot's bid sealing
        self.wasm = program.runtime == "wasm"
        self.keccak = keccak_library() if sealed else None  # mevseal's fast hash, only where it seals
        if self.wasm:  # the module runs under its host program, with the store's limits
            files.update({"main.py": guest_file("wasmhost.py"), "lib/mevwasm.py": guest_file("mevwasm.py"),
                          "module.wasm": program.code, "limits.json": json.dumps(
                              {"memory_bytes": limits.wasm_memory_bytes, "fuel": limits.wasm_fuel}).encode()})
        else:
            files["main.py"] = program.code
        for path in (algo, algo / "lib"):
            path.chmod(0o755)
        for name, data in files.items():
            (algo / name).write_bytes(data)
            (algo / name).chmod(0o644)
        self.stderr_path = self.workdir / "stderr"
        self.seccomp_fd: int | None = None
        bpf = filter_bytes()
        if bpf is not None:
            (self.workdir / "seccomp.bpf").write_bytes(bpf)
            self.seccomp_fd = os.open(self.workdir / "seccomp.bpf", os.O_RDONLY)
        # One memory and task cap over the whole tree, where this host allows (sandbox/cgroup.py).
        self.group: RunGroup | None = run_group(limits.group_memory_bytes, limits.processes)
        try:
            # A module's host program: the interpreter's address space plus the store's cap.
            run_limits = (replace(limits, memory_bytes=limits.memory_bytes + limits.wasm_memory_bytes)
                          if self.wasm else limits)
            self.proc = self._start(self.argv(algo, limits), run_limits)
        except BaseException:
            if self.group is not None:
                self.group.remove()
            raise
        finally:
            if self.seccomp_fd is not None:
                os.close(self.seccomp_fd)
        self.status: int | None = None

    def argv(self, algo: Path, limits: Limits) -> list[str]:
        """The jail's command line (a test's control arm replaces it to show the attacks work)."""
        return [
            # --as-pid-1: no bwrap init inside; the algorithm is alone in its pid namespace,
            # with no parent it could signal or ptrace (its parent pid is 0).
            BWRAP, "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--clearenv",
            "--cap-drop", "ALL", "--hostname", "algorithm",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--ro-bind", str(algo), "/algo", "--chdir", "/algo",
            *(["--ro-bind", str(wasmtime_dir()), "/wasm/wasmtime"] if self.wasm else []),
            *(["--ro-bind", self.keccak, "/keccak/_keccak.so"] if self.keccak else []),
            "--remount-ro", "/",
            *(["--seccomp", str(self.seccomp_fd)] if self.seccomp_fd is not None else []),
            GUEST_PYTHON, "-I", "-S", "-B", "/algo/boot.py",
        ]

    def _start(self, argv: list[str], limits: Limits) -> subprocess.Popen[bytes]:
        # Limits and the uid change are done by prlimit and setpriv (util-linux) in front
        # of bwrap, not by preexec_fn/user=: those force a full fork of this (possibly
        # large) process, ≈ 200 ms each under load, while a plain Popen can vfork.
        with open(self.stderr_path, "wb") as err:
            os.chmod(self.stderr_path, 0o600)
            # env={}: bwrap's own process is visible to nothing in the jail (--as-pid-1),
            # but it must not carry the service's environment either.
            return subprocess.Popen(
                [*(self.group.enter_prefix() if self.group else []), *_limits_prefix(limits), *argv],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                close_fds=True, env={}, pass_fds=(self.seccomp_fd,) if self.seccomp_fd is not None else ())

    def kill(self) -> None:
        if self.status is None:
            try:
                # os.kill, not Popen.kill: Popen polls first and may reap the process,
                # and reap() then finds no child. Only reap() waits for it, so the pid is
                # still ours. --die-with-parent takes the jail's pid namespace along.
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        """Wait for the jail (killed by then, or exited)."""
        if self.status is None:
            _, status = os.waitpid(self.proc.pid, 0)
            self.status = os.waitstatus_to_exitcode(status)
            self.proc.returncode = self.status
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe:
                    pipe.close()
            except OSError:
                pass

    def stderr_tail(self, lines: int = 1) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.stderr_path) - 4096))
                text = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])[-300 * lines:]

    def cleanup(self) -> None:
        if self.group is not None:
            self.group.remove()
        shutil.rmtree(self.workdir, ignore_errors=True)


_pending: set[threading.Thread] = set()
_pending_lock = threading.Lock()


def teardown(jail: Jailed) -> None:
    """Kill, reap and remove a jail (here and now; teardown_later: in the background)."""
    try:
        jail.kill()
        jail.reap()
    finally:
        jail.cleanup()
        with _pending_lock:
            _pending.discard(threading.current_thread())


def teardown_later(jail: Jailed) -> None:
    # Not a daemon: the interpreter waits for it at exit, so no jail or directory is left.
    t = threading.Thread(target=teardown, args=(jail,), name="jail-teardown")
    with _pending_lock:
        _pending.add(t)
    t.start()


def wait_teardown(timeout: float = 10.0) -> bool:
    """Wait for the jails being torn down in the background; True when none is left."""
    end = time.monotonic() + timeout
    while True:
        with _pending_lock:
            left = list(_pending)
        if not left:
            return True
        for t in left:
            t.join(timeout=max(0.0, end - time.monotonic()))
        if time.monotonic() >= end:
            with _pending_lock:
                return not _pending
