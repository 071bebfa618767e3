/* The amm core's programs and their execution: the mirror of state.py (reserves and
 * balances in one array, one undo log) and of orders.py (one function per kind).
 * Included once by _core.c. */

/* --- compiled programs ---------------------------------------------------------- */

typedef struct {
    int pool, zfo, in_slot, out_slot, exact_in;
    u128 amount;      /* amount_in (exact input) or amount_out, saturated at 2^127 */
    u128 limit;       /* min_out or max_in, saturated at 2^127 */
    PyObject *limit_obj, *amount_obj, *tip;
} SwapP;

typedef struct {
    int n, pool[3], zfo[3], profit_slot;
    u128 share;
} ArbP;

typedef struct {
    int kind;
    PyObject *gas;
    SwapP swap;          /* SWAP, and the victim of BACKRUN / SANDWICH */
    ArbP arb;            /* ARBITRAGE, BACKRUN */
    int from_slot, to_slot;  /* TRANSFER */
    u128 amount;         /* TRANSFER amount, SANDWICH front-run amount (saturated) */
    PyObject *tip;       /* TRANSFER tip */
    int capital_slot;    /* SANDWICH */
    u128 share;          /* SANDWICH */
} Program;

typedef struct {
    PyObject_HEAD
    Py_ssize_t nstate, npools;
    u128 *initial;
    Program *programs;
    Py_ssize_t nprograms;
    PyObject *index;       /* order id -> program number */
    PyObject *keys;        /* balance keys, for "insufficient balance <key>" */
    PyObject *outcome;     /* worlds.base.Outcome */
    PyObject *optimal;     /* uniswap.optimal_cycle_input */
    PyObject *get_out;     /* uniswap.get_amount_out */
    PyObject *get_in;      /* uniswap.get_amount_in */
} CoreObject;

typedef struct { u128 old; Py_ssize_t slot; } LogEntry;

typedef struct {
    PyObject_HEAD
    CoreObject *core;
    u128 *state;
    LogEntry *log;
    Py_ssize_t nlog, caplog;
    Py_ssize_t *marks;
    Py_ssize_t nmarks, capmarks;
    PyObject *detail;  /* the failing balance key or a Python error text of the last failure */
} CursorObject;

static PyTypeObject CoreType, CursorType;

/* --- state transitions (state.py) ------------------------------------------------ */

static inline int set_slot(CursorObject *c, Py_ssize_t slot, u128 value) {
    if (value >= GUARD) {
        PyErr_SetString(PyExc_OverflowError, "amm core: a state value left its proved range");
        return -1;
    }
    if (c->nlog == c->caplog) {
        Py_ssize_t cap = c->caplog ? 2 * c->caplog : 256;
        LogEntry *grown = PyMem_Realloc(c->log, cap * sizeof(LogEntry));
        if (!grown) { PyErr_NoMemory(); return -1; }
        c->log = grown;
        c->caplog = cap;
    }
    c->log[c->nlog].old = c->state[slot];
    c->log[c->nlog].slot = slot;
    c->nlog++;
    c->state[slot] = value;
    return 0;
}

static void undo(CursorObject *c, Py_ssize_t mark) {
    while (c->nlog > mark) {
        c->nlog--;
        c->state[c->log[c->nlog].slot] = c->log[c->nlog].old;
    }
}

static inline Py_ssize_t in_slot(int pool, int zfo) { return zfo ? 2 * pool : 2 * pool + 1; }
static inline Py_ssize_t out_slot(int pool, int zfo) { return zfo ? 2 * pool + 1 : 2 * pool; }

/* Return codes of the steps below: OK, an error code (the order reverts), or -1
 * (a Python exception is set: the push raises). */
#define TRY(expr) do { int rc_ = (expr); if (rc_) return rc_; } while (0)

static int debit(CursorObject *c, int slot, u128 amount) {
    Py_ssize_t s = c->core->npools * 2 + slot;
    if (c->state[s] < amount) {
        Py_XSETREF(c->detail, PyList_GET_ITEM(c->core->keys, slot));
        Py_INCREF(c->detail);
        return E_BALANCE;
    }
    return set_slot(c, s, c->state[s] - amount);
}

static int credit(CursorObject *c, int slot, u128 amount) {
    Py_ssize_t s = c->core->npools * 2 + slot;
    return set_slot(c, s, c->state[s] + amount);
}

static int swap_exact_in(CursorObject *c, int pool, int zfo, u128 amount, u128 *out) {
    Py_ssize_t i = in_slot(pool, zfo), o = out_slot(pool, zfo);
    u128 rin = c->state[i], rout = c->state[o];
    TRY(amount_out(amount, rin, rout, out));
    if (*out == 0) return E_OUTPUT;
    TRY(set_slot(c, i, rin + amount));
    return set_slot(c, o, rout - *out);
}

/* A failure found by the Python function itself: its exception's text is the error. */
static int python_failure(CursorObject *c) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
    if (!text) return -1;
    Py_XSETREF(c->detail, text);
    return E_PYTHON;
}

/* orders.Swap.run */
static int run_swap(CursorObject *c, const SwapP *p) {
    if (p->exact_in) {
        u128 out;
        TRY(debit(c, p->in_slot, p->amount));
        TRY(swap_exact_in(c, p->pool, p->zfo, p->amount, &out));
        if (out < p->limit) return E_OUTPUT_LIMIT;
        return credit(c, p->out_slot, out);
    }
    Py_ssize_t i = in_slot(p->pool, p->zfo), o = out_slot(p->pool, p->zfo);
    u128 rin = c->state[i], rout = c->state[o], spent = 0;
    int big;
    TRY(amount_in(p->amount, rin, rout, &spent, &big));
    if (big) {
        /* >= 2^126 > any balance: never debited; whether it exceeds max_in decides the
         * error, asked of the Python function (a number this large is rare). */
        PyObject *a = from_u128(p->amount), *r0 = from_u128(rin), *r1 = from_u128(rout);
        PyObject *got = (a && r0 && r1) ? PyObject_CallFunctionObjArgs(c->core->get_in, a, r0, r1, NULL) : NULL;
        Py_XDECREF(a); Py_XDECREF(r0); Py_XDECREF(r1);
        if (!got) return -1;
        int over = PyObject_RichCompareBool(got, p->limit_obj, Py_GT);
        Py_DECREF(got);
        if (over < 0) return -1;
        if (over) return E_EXCESSIVE;
        Py_XSETREF(c->detail, PyList_GET_ITEM(c->core->keys, p->in_slot));
        Py_INCREF(c->detail);
        return E_BALANCE;
    }
    /* state.py writes the reserves before these checks; a failure undoes them, so
     * checking first gives the same outcome without storing an out-of-range value */
    if (spent > p->limit) return E_EXCESSIVE;
    TRY(debit(c, p->in_slot, spent));
    TRY(set_slot(c, i, rin + spent));
    TRY(set_slot(c, o, rout - p->amount));
    return credit(c, p->out_slot, p->amount);
}

/* orders.Arbitrage.run; *bid is the share paid */
static int run_arbitrage(CursorObject *c, const ArbP *p, u128 *bid) {
    u128 rin[3], rout[3];
    for (int k = 0; k < p->n; k++) {
        rin[k] = c->state[in_slot(p->pool[k], p->zfo[k])];
        rout[k] = c->state[out_slot(p->pool[k], p->zfo[k])];
    }
    if (!cycle_profitable(rin, rout, p->n)) return E_UNPROFITABLE;
    PyObject *hops = PyList_New(p->n);
    if (!hops) return -1;
    for (int k = 0; k < p->n; k++) {
        PyObject *r0 = from_u128(rin[k]), *r1 = from_u128(rout[k]);
        PyObject *pair = (r0 && r1) ? PyTuple_Pack(2, r0, r1) : NULL;
        Py_XDECREF(r0); Py_XDECREF(r1);
        if (!pair) { Py_DECREF(hops); return -1; }
        PyList_SET_ITEM(hops, k, pair);
    }
    PyObject *x = PyObject_CallOneArg(c->core->optimal, hops);
    Py_DECREF(hops);
    if (!x) return -1;
    if (!PyLong_Check(x)) { Py_DECREF(x); PyErr_SetString(PyExc_TypeError, "amm core: optimal input"); return -1; }
    if (_PyLong_Sign(x) <= 0) { Py_DECREF(x); return E_UNPROFITABLE; }
    if (_PyLong_NumBits(x) > 112) {
        /* x > G: had the order succeeded, the first pool's reserve would hold more than
         * G afterwards (the pools of a cycle with a positive input are distinct). So it
         * reverts; the first hop's check is the Python function's, later hops' outputs
         * are below G and are checked here in turn, and then profit < 0. */
        PyObject *r0 = from_u128(c->state[in_slot(p->pool[0], p->zfo[0])]);
        PyObject *r1 = from_u128(c->state[out_slot(p->pool[0], p->zfo[0])]);
        PyObject *got = (r0 && r1) ? PyObject_CallFunctionObjArgs(c->core->get_out, x, r0, r1, NULL) : NULL;
        Py_XDECREF(r0); Py_XDECREF(r1); Py_DECREF(x);
        if (!got) return PyErr_ExceptionMatches(PyExc_ValueError) ? python_failure(c) : -1;
        u128 amount;
        int rc = to_u128(got, &amount);
        Py_DECREF(got);
        if (rc) return -1;
        if (amount == 0) return E_OUTPUT;
        for (int k = 1; k < p->n; k++) {
            u128 out;
            TRY(amount_out(amount, c->state[in_slot(p->pool[k], p->zfo[k])],
                           c->state[out_slot(p->pool[k], p->zfo[k])], &out));
            if (out == 0) return E_OUTPUT;
            amount = out;
        }
        return E_UNPROFITABLE;
    }
    u128 start;
    int rc = to_u128(x, &start);
    Py_DECREF(x);
    if (rc) return -1;
    u128 amount = start;
    for (int k = 0; k < p->n; k++) TRY(swap_exact_in(c, p->pool[k], p->zfo[k], amount, &amount));
    if (amount <= start) return E_UNPROFITABLE;
    u128 profit = amount - start;
    *bid = profit * p->share / BPS;
    return credit(c, p->profit_slot, profit - *bid);
}

/* orders.Sandwich.run (the victim's tip is added by the caller) */
static int run_sandwich(CursorObject *c, const Program *p, u128 *bid) {
    const SwapP *v = &p->swap;
    u128 bought, back;
    TRY(debit(c, p->capital_slot, p->amount));
    TRY(swap_exact_in(c, v->pool, v->zfo, p->amount, &bought));
    TRY(run_swap(c, v));
    TRY(swap_exact_in(c, v->pool, !v->zfo, bought, &back));
    if (back <= p->amount) return E_UNPROFITABLE;
    u128 profit = back - p->amount;
    *bid = profit * p->share / BPS;
    return credit(c, p->capital_slot, back - *bid);
}

/* Runs one program; OK with *bid a new reference, an error code, or -1. */
static int run(CursorObject *c, const Program *p, PyObject **bid) {
    u128 share = 0;
    int rc;
    switch (p->kind) {
    case SWAP:
        TRY(run_swap(c, &p->swap));
        Py_INCREF(p->swap.tip);
        *bid = p->swap.tip;
        return OK;
    case TRANSFER:
        TRY(debit(c, p->from_slot, p->amount));
        TRY(credit(c, p->to_slot, p->amount));
        Py_INCREF(p->tip);
        *bid = p->tip;
        return OK;
    case ARBITRAGE:
        TRY(run_arbitrage(c, &p->arb, &share));
        *bid = from_u128(share);
        return *bid ? OK : -1;
    case BACKRUN:
        TRY(run_swap(c, &p->swap));
        rc = run_arbitrage(c, &p->arb, &share);
        break;
    default:
        rc = run_sandwich(c, p, &share);
        break;
    }
    if (rc) return rc;
    PyObject *s = from_u128(share);
    *bid = s ? PyNumber_Add(p->swap.tip, s) : NULL;
    Py_XDECREF(s);
    return *bid ? OK : -1;
}

