"""A wasm algorithm inside the jail, for a sealed slot: the jail's main program.

In a sealed slot the module's bid must not reach the host, so the module does not run
in the service process: this program loads wasmtime (the service's own copy, bound
read-only at /wasm), runs the module with the same ``mev`` host functions
(``mevwasm``) and the same fuel and memory limits, answers them over the jail's pipe
(``mevalgo.Sim``) and hands what the module submitted to ``mevalgo.run``, which seals
the bid exactly as it does a Python algorithm's. When the module fails, the host
hears only the failure's kind (``mevwasm.FAILURES``); its details go to stderr, which
reaches the builder's own check and never a report.

Importing wasmtime and compiling the module happen before the slot message is read:
in a jail started ahead of the deadline (sandbox/warm.py) they are done by then, and
the run only instantiates the module.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, "/wasm")  # wasmtime: the interpreter runs with -I -S

import mevalgo  # noqa: E402
import mevwasm  # noqa: E402


def fail(kind: str, detail: str) -> None:
    sys.stderr.write(f"{kind}: {detail}\n")
    sys.stdout.write(json.dumps({"op": "abort", "kind": kind}) + "\n")
    sys.stdout.flush()
    raise SystemExit(0)


def load():
    """The store (with its limits) and the compiled module, or the reason it does not compile."""
    wasmtime = mevwasm.wasmtime
    with open(os.path.join(HERE, "limits.json")) as f:
        limits = json.load(f)
    with open(os.path.join(HERE, "module.wasm"), "rb") as f:
        code = f.read()
    # No epochs: the host's wall clock binds here (it kills the jail at the deadline).
    eng = wasmtime.Engine(mevwasm.config(limits["memory_bytes"], epochs=False))
    store = wasmtime.Store(eng)
    store.set_limits(memory_size=limits["memory_bytes"], instances=1, tables=1, memories=1)
    store.set_fuel(limits["fuel"])
    try:
        return store, wasmtime.Module(eng, code), None
    except Exception as exc:  # wasmtime refuses the bytes: not a module, or a bad one
        return store, None, str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""


STORE, MODULE, INVALID = load()


def build(slot, sim):
    if MODULE is None:  # reported only now: the host hears of it in the slot's run
        fail("invalid", INVALID)
    orders = slot.orders
    run = mevwasm.ModuleRun(STORE, MODULE, [o.id for o in orders], sim.request,
                            lambda i, j: orders[i].conflicts_with(orders[j]),
                            [(o.alone.success, o.alone.bid) for o in orders])
    failed = run.run()
    if run.submitted is None:  # the last submit counts, whatever came after
        fail(*(failed or ("no-submit", "")))
    sequence, bid = run.submitted
    return sequence, "truthful" if bid is None else bid


mevalgo.run(build)
