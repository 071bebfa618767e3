/* The amm world's order execution in C (issue 15, item 4): a mirror of the cursor
 * (state.py), the order programs (orders.py) and the pair arithmetic (uniswap.py),
 * which stay the specification. Same outcomes, bids, error strings and states,
 * bit for bit (tests/amm/test_amm_core.py runs both on Hypothesis instances).
 *
 * Why native integers are enough: mevauction.worlds.amm.compiled builds a Core only
 * when the sum G of every reserve and balance at the parent state is at most
 * 2^112 - 1 and every amount is non-negative. Every order moves amounts between
 * reserves and balances and pays its bid out of the state (never into it), so G
 * never grows and every state value stays <= G; inside one order a value is at most
 * a few times G (below 2^114). So a state value fits an unsigned __int128, and
 * the pair formulas' products (< 2^240) fit 256 bits, divided here exactly (Knuth's
 * algorithm D on 64-bit limbs). Where a result could leave that range it is either
 * proved to revert (and the error is found without storing it) or computed by the
 * Python function itself: the optimal cycle input (math.isqrt of numbers of up to
 * ~750 bits) is always the Python uniswap.optimal_cycle_input. A stored value above
 * 2^116 would mean the argument is wrong: it raises OverflowError instead of
 * continuing with a wrong number.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_core_arith.h"
#include "_core_exec.h"

/* --- the Cursor type -------------------------------------------------------------- */

static int find(CursorObject *c, PyObject *oid, const Program **out) {
    PyObject *n = PyDict_GetItemWithError(c->core->index, oid);
    if (!n) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, oid);
        return -1;
    }
    Py_ssize_t i = PyLong_AsSsize_t(n);
    if (i < 0 || i >= c->core->nprograms) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "amm core: program number out of range");
        return -1;
    }
    *out = &c->core->programs[i];
    return 0;
}

static int push_mark(CursorObject *c, Py_ssize_t mark) {
    if (c->nmarks == c->capmarks) {
        Py_ssize_t cap = c->capmarks ? 2 * c->capmarks : 64;
        Py_ssize_t *grown = PyMem_Realloc(c->marks, cap * sizeof(Py_ssize_t));
        if (!grown) { PyErr_NoMemory(); return -1; }
        c->marks = grown;
        c->capmarks = cap;
    }
    c->marks[c->nmarks++] = mark;
    return 0;
}

static PyObject *error_text(CursorObject *c, int rc) {
    if (rc == E_BALANCE) return PyUnicode_FromFormat("insufficient balance %U", c->detail);
    if (rc == E_PYTHON) { Py_INCREF(c->detail); return c->detail; }
    return PyUnicode_FromString(MESSAGES[rc]);
}

static PyObject *outcome(CursorObject *c, PyObject *bid, PyObject *success, PyObject *gas, PyObject *error) {
    /* Outcome is a NamedTuple: a tuple subclass, allocated and filled like a tuple */
    PyTypeObject *type = (PyTypeObject *)c->core->outcome;
    PyObject *out = type->tp_alloc(type, 4);
    if (!out) { Py_DECREF(bid); Py_DECREF(error); return NULL; }
    Py_INCREF(success); Py_INCREF(gas);
    PyTuple_SET_ITEM(out, 0, bid);
    PyTuple_SET_ITEM(out, 1, success);
    PyTuple_SET_ITEM(out, 2, gas);
    PyTuple_SET_ITEM(out, 3, error);
    return out;
}

static PyObject *Cursor_push(CursorObject *c, PyObject *oid) {
    const Program *p;
    if (find(c, oid, &p)) return NULL;
    Py_ssize_t mark = c->nlog;
    if (push_mark(c, mark)) return NULL;
    PyObject *bid = NULL;
    int rc = run(c, p, &bid);
    if (rc == OK) { Py_INCREF(Py_None); return outcome(c, bid, Py_True, p->gas, Py_None); }
    undo(c, mark);
    if (rc < 0) { c->nmarks--; return NULL; }
    PyObject *text = error_text(c, rc);
    if (!text) return NULL;
    PyObject *zero = PyLong_FromLong(0);
    if (!zero) { Py_DECREF(text); return NULL; }
    return outcome(c, zero, Py_False, p->gas, text);
}

static PyObject *Cursor_try_push(CursorObject *c, PyObject *oid) {
    const Program *p;
    if (find(c, oid, &p)) return NULL;
    Py_ssize_t mark = c->nlog;
    PyObject *bid = NULL;
    int rc = run(c, p, &bid);
    if (rc == OK) {
        if (push_mark(c, mark)) { Py_DECREF(bid); undo(c, mark); return NULL; }
        return bid;
    }
    undo(c, mark);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Cursor_pop(CursorObject *c, PyObject *Py_UNUSED(ignored)) {
    if (c->nmarks == 0) { PyErr_SetString(PyExc_IndexError, "pop from an empty block"); return NULL; }
    undo(c, c->marks[--c->nmarks]);
    Py_RETURN_NONE;
}

static PyObject *Cursor_snapshot(CursorObject *c, PyObject *Py_UNUSED(ignored)) {
    Py_ssize_t nres = 2 * c->core->npools;
    PyObject *reserves = PyList_New(nres), *balances = PyDict_New();
    if (!reserves || !balances) goto fail;
    for (Py_ssize_t i = 0; i < nres; i++) {
        PyObject *v = from_u128(c->state[i]);
        if (!v) goto fail;
        PyList_SET_ITEM(reserves, i, v);
    }
    for (Py_ssize_t i = nres; i < c->core->nstate; i++) {
        if (c->state[i] == 0) continue;
        PyObject *v = from_u128(c->state[i]);
        int rc = v ? PyDict_SetItem(balances, PyList_GET_ITEM(c->core->keys, i - nres), v) : -1;
        Py_XDECREF(v);
        if (rc) goto fail;
    }
    PyObject *out = PyTuple_Pack(2, reserves, balances);
    Py_DECREF(reserves); Py_DECREF(balances);
    return out;
fail:
    Py_XDECREF(reserves); Py_XDECREF(balances);
    return NULL;
}

static PyObject *Cursor_depth(CursorObject *c, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(nn)", c->nmarks, c->nlog);
}

#include "_core_sequences.h"
#include "_core_walk.h"

static void Cursor_dealloc(CursorObject *c) {
    PyMem_Free(c->state);
    PyMem_Free(c->log);
    PyMem_Free(c->marks);
    Py_XDECREF(c->detail);
    Py_XDECREF(c->core);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyMethodDef Cursor_methods[] = {
    {"push", (PyCFunction)Cursor_push, METH_O, "Execute the order on top; one new frame, even on failure."},
    {"try_push", (PyCFunction)Cursor_try_push, METH_O, "The bid, or None when the order fails (nothing to pop)."},
    {"pop", (PyCFunction)Cursor_pop, METH_NOARGS, "Undo the top frame."},
    {"snapshot", (PyCFunction)Cursor_snapshot, METH_NOARGS, "(reserves, the non-zero balances by key)."},
    {"depth", (PyCFunction)Cursor_depth, METH_NOARGS, "(frames, undo-log entries)."},
    {"sequence_blocks", (PyCFunction)Cursor_sequence_blocks, METH_VARARGS,
     "SequenceRunner.blocks's loop: (value, included, bids) per sequence (sorted by shared prefix)."},
    {"exhaustive_walk", (PyCFunction)Cursor_exhaustive_walk, METH_VARARGS,
     "search.exhaustive's walk: (value, o*, its bids, best value without each b_i, its block)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CursorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mevauction.worlds.amm._core.Cursor",
    .tp_basicsize = sizeof(CursorObject),
    .tp_dealloc = (destructor)Cursor_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A block under construction on the compiled amm state (state.AmmCursor's mirror).",
    .tp_methods = Cursor_methods,
};

/* --- the Core type: programs and parent state, compiled once per world ------------- */

static void clear_programs(CoreObject *core) {
    for (Py_ssize_t i = 0; i < core->nprograms; i++) {
        Program *p = &core->programs[i];
        Py_XDECREF(p->gas); Py_XDECREF(p->tip);
        Py_XDECREF(p->swap.tip); Py_XDECREF(p->swap.limit_obj); Py_XDECREF(p->swap.amount_obj);
    }
    PyMem_Free(core->programs);
    core->programs = NULL;
    core->nprograms = 0;
}

static void Core_dealloc(CoreObject *core) {
    clear_programs(core);
    PyMem_Free(core->initial);
    Py_XDECREF(core->index); Py_XDECREF(core->keys); Py_XDECREF(core->outcome);
    Py_XDECREF(core->optimal); Py_XDECREF(core->get_out); Py_XDECREF(core->get_in);
    Py_TYPE(core)->tp_free((PyObject *)core);
}

static long item_long(PyObject *t, Py_ssize_t i) { return PyLong_AsLong(PyTuple_GET_ITEM(t, i)); }

/* An amount compared with state values (all < 2^120): saturating keeps the comparison. */
static int saturated(PyObject *obj, u128 *out) {
    if (!PyLong_Check(obj) || _PyLong_Sign(obj) < 0) {
        PyErr_SetString(PyExc_ValueError, "amm core: amounts must be non-negative ints");
        return -1;
    }
    if (_PyLong_NumBits(obj) > 127) { *out = ((u128)1) << 127; return 0; }
    return to_u128(obj, out);
}

/* (kind, gas, pool, zfo, in_slot, out_slot, exact_in, amount, limit, tip) at offset */
static int parse_swap(PyObject *t, Py_ssize_t at, SwapP *s) {
    s->pool = (int)item_long(t, at);
    s->zfo = (int)item_long(t, at + 1);
    s->in_slot = (int)item_long(t, at + 2);
    s->out_slot = (int)item_long(t, at + 3);
    s->exact_in = (int)item_long(t, at + 4);
    if (PyErr_Occurred()) return -1;
    s->amount_obj = PyTuple_GET_ITEM(t, at + 5);
    s->limit_obj = PyTuple_GET_ITEM(t, at + 6);
    s->tip = PyTuple_GET_ITEM(t, at + 7);
    Py_INCREF(s->amount_obj); Py_INCREF(s->limit_obj); Py_INCREF(s->tip);
    if (saturated(s->amount_obj, &s->amount) || saturated(s->limit_obj, &s->limit)) return -1;
    return 0;
}

/* (n, pool0, zfo0, ..., profit_slot, share_bps) at offset; returns the next offset */
static Py_ssize_t parse_arb(PyObject *t, Py_ssize_t at, ArbP *a) {
    a->n = (int)item_long(t, at);
    if (a->n < 1 || a->n > 3) { PyErr_SetString(PyExc_ValueError, "amm core: 1-3 hops"); return -1; }
    for (int k = 0; k < a->n; k++) {
        a->pool[k] = (int)item_long(t, at + 1 + 2 * k);
        a->zfo[k] = (int)item_long(t, at + 2 + 2 * k);
    }
    /* distinct pools, or one pool there and back (whose optimal input is always 0):
     * the proof that an input above 2^112 reverts needs it */
    for (int i = 0; i < a->n; i++)
        for (int j = i + 1; j < a->n; j++)
            if (a->pool[i] == a->pool[j] && !(a->n == 2 && a->zfo[0] != a->zfo[1])) {
                PyErr_SetString(PyExc_ValueError, "amm core: a cycle visits a pool twice");
                return -1;
            }
    at += 1 + 2 * a->n;
    a->profit_slot = (int)item_long(t, at);
    long share = item_long(t, at + 1);
    if (!PyErr_Occurred() && (share < 0 || share > BPS)) PyErr_SetString(PyExc_ValueError, "amm core: share_bps");
    a->share = (u128)share;
    return PyErr_Occurred() ? -1 : at + 2;
}

/* Every pool and balance slot a program names is inside the state (never trusted). */
static int indices_ok(const CoreObject *core, const Program *p) {
    Py_ssize_t nkeys = core->nstate - 2 * core->npools;
#define POOL_OK(x) ((x) >= 0 && (x) < core->npools)
#define SLOT_OK(x) ((x) >= 0 && (x) < nkeys)
    int ok = 1;
    if (p->kind == SWAP || p->kind == BACKRUN || p->kind == SANDWICH)
        ok = POOL_OK(p->swap.pool) && SLOT_OK(p->swap.in_slot) && SLOT_OK(p->swap.out_slot);
    if (p->kind == ARBITRAGE || p->kind == BACKRUN) {
        ok = ok && SLOT_OK(p->arb.profit_slot);
        for (int k = 0; k < p->arb.n; k++) ok = ok && POOL_OK(p->arb.pool[k]);
    }
    if (p->kind == TRANSFER) ok = SLOT_OK(p->from_slot) && SLOT_OK(p->to_slot);
    if (p->kind == SANDWICH) ok = ok && SLOT_OK(p->capital_slot);
#undef POOL_OK
#undef SLOT_OK
    if (!ok) PyErr_SetString(PyExc_ValueError, "amm core: a pool or balance index outside the state");
    return ok;
}

static PyObject *Core_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *names[] = {"initial", "npools", "keys", "programs", "index", "outcome",
                            "optimal", "get_amount_out", "get_amount_in", NULL};
    PyObject *initial, *keys, *programs, *index, *outcome_, *optimal, *get_out, *get_in;
    Py_ssize_t npools;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!nO!O!O!OOOO", names, &PyList_Type, &initial, &npools,
                                     &PyList_Type, &keys, &PyList_Type, &programs, &PyDict_Type, &index,
                                     &outcome_, &optimal, &get_out, &get_in))
        return NULL;
    if (!PyType_Check(outcome_) || !PyType_IsSubtype((PyTypeObject *)outcome_, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "amm core: outcome must be a tuple subclass");
        return NULL;
    }
    Py_ssize_t nstate = PyList_GET_SIZE(initial);
    if (nstate != 2 * npools + PyList_GET_SIZE(keys)) {
        PyErr_SetString(PyExc_ValueError, "amm core: state is 2 reserves per pool, then one value per key");
        return NULL;
    }
    CoreObject *core = (CoreObject *)type->tp_alloc(type, 0);
    if (!core) return NULL;
    core->nstate = nstate;
    core->npools = npools;
    Py_INCREF(index); core->index = index;
    Py_INCREF(keys); core->keys = keys;
    Py_INCREF(outcome_); core->outcome = outcome_;
    Py_INCREF(optimal); core->optimal = optimal;
    Py_INCREF(get_out); core->get_out = get_out;
    Py_INCREF(get_in); core->get_in = get_in;
    core->initial = PyMem_Calloc(nstate ? nstate : 1, sizeof(u128));
    Py_ssize_t n = PyList_GET_SIZE(programs);
    core->programs = PyMem_Calloc(n ? n : 1, sizeof(Program));
    if (!core->initial || !core->programs) { Py_DECREF(core); return PyErr_NoMemory(); }
    core->nprograms = n;
    for (Py_ssize_t i = 0; i < nstate; i++)
        if (to_u128(PyList_GET_ITEM(initial, i), &core->initial[i])) { Py_DECREF(core); return NULL; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(programs, i);
        Program *p = &core->programs[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2) {
            PyErr_SetString(PyExc_TypeError, "amm core: a program is a tuple");
            Py_DECREF(core);
            return NULL;
        }
        p->kind = (int)item_long(t, 0);
        /* items each kind's tuple must have (an arbitrage's hops are counted below) */
        static const Py_ssize_t sizes[] = {10, 6, 5, 13, 13};
        Py_ssize_t size = PyTuple_GET_SIZE(t), hops = 0;
        if (p->kind == ARBITRAGE || p->kind == BACKRUN) {
            Py_ssize_t at = p->kind == ARBITRAGE ? 2 : 10;
            hops = size > at ? item_long(t, at) : 0;
        }
        if (p->kind < SWAP || p->kind > SANDWICH || hops < 0 || hops > 3 || size != sizes[p->kind] + 2 * hops) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "amm core: a program tuple of the wrong shape");
            Py_DECREF(core);
            return NULL;
        }
        p->gas = PyTuple_GET_ITEM(t, 1);
        Py_INCREF(p->gas);
        int bad = 0;
        switch (p->kind) {
        case SWAP:
            bad = parse_swap(t, 2, &p->swap);
            break;
        case TRANSFER:
            p->from_slot = (int)item_long(t, 2);
            p->to_slot = (int)item_long(t, 3);
            p->tip = PyTuple_GET_ITEM(t, 5);
            Py_INCREF(p->tip);
            bad = PyErr_Occurred() || saturated(PyTuple_GET_ITEM(t, 4), &p->amount);
            break;
        case ARBITRAGE:
            bad = parse_arb(t, 2, &p->arb) < 0;
            break;
        case BACKRUN:
            bad = parse_swap(t, 2, &p->swap) || parse_arb(t, 10, &p->arb) < 0;
            break;
        case SANDWICH:
            bad = parse_swap(t, 2, &p->swap);
            if (!bad) {
                p->capital_slot = (int)item_long(t, 10);
                long share = item_long(t, 12);
                p->share = (u128)share;
                bad = PyErr_Occurred() || share < 0 || share > BPS || saturated(PyTuple_GET_ITEM(t, 11), &p->amount);
                if (bad && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "amm core: share_bps");
            }
            break;
        default:
            PyErr_SetString(PyExc_ValueError, "amm core: unknown program kind");
            bad = 1;
        }
        if (bad || !indices_ok(core, p)) { Py_DECREF(core); return NULL; }
    }
    return (PyObject *)core;
}

static PyObject *Core_cursor(CoreObject *core, PyObject *Py_UNUSED(ignored)) {
    CursorObject *c = PyObject_New(CursorObject, &CursorType);
    if (!c) return NULL;
    c->core = core;
    Py_INCREF(core);
    c->log = NULL; c->nlog = c->caplog = 0;
    c->marks = NULL; c->nmarks = c->capmarks = 0;
    c->detail = NULL;
    c->state = PyMem_Malloc((core->nstate ? core->nstate : 1) * sizeof(u128));
    if (!c->state) { Py_DECREF(c); return PyErr_NoMemory(); }
    memcpy(c->state, core->initial, core->nstate * sizeof(u128));
    return (PyObject *)c;
}

static PyMethodDef Core_methods[] = {
    {"cursor", (PyCFunction)Core_cursor, METH_NOARGS, "A fresh, empty block on the parent state."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mevauction.worlds.amm._core.Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An amm world's programs and parent state, compiled (see compiled.py).",
    .tp_methods = Core_methods,
    .tp_new = Core_new,
};

/* --- module: the pair arithmetic, exposed so the tests can compare it directly ---- */

static PyObject *mod_amount_out(PyObject *m, PyObject *args) {
    PyObject *a, *b, *c;
    u128 x, y, z, out;
    if (!PyArg_ParseTuple(args, "OOO", &a, &b, &c)) return NULL;
    if (to_u128(a, &x) || to_u128(b, &y) || to_u128(c, &z)) return NULL;
    int rc = amount_out(x, y, z, &out);
    if (rc < 0) return NULL;
    if (rc) { PyErr_SetString(PyExc_ValueError, MESSAGES[rc]); return NULL; }
    return from_u128(out);
}

static PyObject *mod_amount_in(PyObject *m, PyObject *args) {
    PyObject *a, *b, *c;
    u128 x, y, z, in = 0;
    int big;
    if (!PyArg_ParseTuple(args, "OOO", &a, &b, &c)) return NULL;
    if (to_u128(a, &x) || to_u128(b, &y) || to_u128(c, &z)) return NULL;
    int rc = amount_in(x, y, z, &in, &big);
    if (rc < 0) return NULL;
    if (rc) { PyErr_SetString(PyExc_ValueError, MESSAGES[rc]); return NULL; }
    if (big) Py_RETURN_NONE;
    return from_u128(in);
}

static PyMethodDef module_methods[] = {
    {"amount_out", mod_amount_out, METH_VARARGS, "getAmountOut natively (arguments < 2**117)."},
    {"amount_in", mod_amount_in, METH_VARARGS, "getAmountIn natively; None when >= 2**126."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mevauction.worlds.amm._core",
    "The amm world's order execution, compiled (mirror of state.py / orders.py / uniswap.py).",
    -1, module_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&CoreType) < 0 || PyType_Ready(&CursorType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CoreType);
    Py_INCREF(&CursorType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0 ||
        PyModule_AddObject(m, "Cursor", (PyObject *)&CursorType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
