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

typedef unsigned __int128 u128;
typedef uint64_t u64;

#define FEE_NUM 997
#define FEE_DEN 1000
#define BPS 10000
#define GUARD (((u128)1) << 116)
#define ARG_LIMIT (((u128)1) << 117)

enum { SWAP = 0, TRANSFER = 1, ARBITRAGE = 2, BACKRUN = 3, SANDWICH = 4 };

/* Error codes; each is the str() of the Python exception the same step raises. */
enum { OK = 0, E_INPUT, E_LIQUIDITY, E_OUTPUT, E_OUTPUT_LIMIT, E_EXCESSIVE, E_UNPROFITABLE, E_BALANCE, E_PYTHON };
static const char *MESSAGES[] = {
    "", "INSUFFICIENT_INPUT_AMOUNT", "INSUFFICIENT_LIQUIDITY", "INSUFFICIENT_OUTPUT_AMOUNT",
    "INSUFFICIENT_OUTPUT_AMOUNT", "EXCESSIVE_INPUT_AMOUNT", "unprofitable", "insufficient balance ", ""};

/* --- 256-bit products and their exact quotients --------------------------------- */

static inline void mul128(u128 a, u128 b, u128 *hi, u128 *lo) {
    u64 a0 = (u64)a, a1 = (u64)(a >> 64), b0 = (u64)b, b1 = (u64)(b >> 64);
    u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1, p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
    u128 mid = (p00 >> 64) + (u64)p01 + (u64)p10;
    *lo = (mid << 64) | (u64)p00;
    *hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

/* floor((u * 2^64 + u0) / d) for a normalised d = d1 * 2^64 + d0 (top bit of d1 set)
 * and u < d: one step of algorithm D, the quotient digit is < 2^64. */
static u64 div_step(u128 u, u64 u0, u64 d1, u64 d0, u128 *rem) {
    u128 qhat, rhat;
    if ((u64)(u >> 64) >= d1) {
        qhat = UINT64_MAX;
        rhat = u - qhat * d1;
    } else {
        qhat = u / d1;
        rhat = u % d1;
    }
    while ((rhat >> 64) == 0 && qhat * d0 > ((rhat << 64) | u0)) {
        qhat--;
        rhat += d1;
    }
    /* qhat * d as 192 bits (phi, plo); while it exceeds the numerator, one less */
    u128 t = qhat * d0;
    u64 plo = (u64)t;
    u128 phi = qhat * d1 + (t >> 64);
    while (phi > u || (phi == u && plo > u0)) {
        qhat--;
        u64 borrow = plo < d0;
        plo -= d0;
        phi -= (u128)d1 + borrow;
    }
    u64 borrow = u0 < plo;
    u64 r0 = u0 - plo;
    u128 r1 = u - phi - borrow;
    *rem = (r1 << 64) | r0;
    return (u64)qhat;
}

/* floor((hi * 2^128 + lo) / d) for d > 0 and hi < d (so the quotient is < 2^128). */
static u128 div256(u128 hi, u128 lo, u128 d) {
    if ((d >> 64) == 0) {
        u64 dd = (u64)d;
        u128 t = (hi << 64) | (u64)(lo >> 64);
        u64 q1 = (u64)(t / dd);
        t = ((t % dd) << 64) | (u64)lo;
        return ((u128)q1 << 64) | (u64)(t / dd);
    }
    int s = __builtin_clzll((u64)(d >> 64));
    if (s) {
        d <<= s;
        hi = (hi << s) | (lo >> (128 - s));
        lo <<= s;
    }
    u64 d1 = (u64)(d >> 64), d0 = (u64)d;
    u128 rem;
    u64 q1 = div_step(hi, (u64)(lo >> 64), d1, d0, &rem);
    u64 q0 = div_step(rem, (u64)lo, d1, d0, &rem);
    return ((u128)q1 << 64) | q0;
}

static int out_of_range(void) {
    PyErr_SetString(PyExc_OverflowError, "amm core: a pair argument left its proved range");
    return -1;
}

/* getAmountOut (uniswap.get_amount_out), for arguments < 2^117: the products are
 * then < 2^245 and the denominator < 2^128. */
static int amount_out(u128 amount_in, u128 reserve_in, u128 reserve_out, u128 *out) {
    if (amount_in == 0) return E_INPUT;
    if (reserve_in == 0 || reserve_out == 0) return E_LIQUIDITY;
    if (amount_in >= ARG_LIMIT || reserve_in >= ARG_LIMIT || reserve_out >= ARG_LIMIT) return out_of_range();
    u128 with_fee = amount_in * FEE_NUM, hi, lo;
    mul128(with_fee, reserve_out, &hi, &lo);
    /* with_fee < denominator, so the quotient is < reserve_out and hi < denominator */
    *out = div256(hi, lo, reserve_in * FEE_DEN + with_fee);
    return OK;
}

/* getAmountIn (uniswap.get_amount_in); *big when the result is >= 2^126 (not computed). */
static int amount_in(u128 amount_out_, u128 reserve_in, u128 reserve_out, u128 *in, int *big) {
    if (amount_out_ == 0) return E_OUTPUT;
    if (reserve_in == 0 || reserve_out <= amount_out_) return E_LIQUIDITY;
    if (reserve_in >= ARG_LIMIT || reserve_out >= ARG_LIMIT) return out_of_range();
    u128 hi, lo, den = (reserve_out - amount_out_) * FEE_NUM;
    mul128(reserve_in * FEE_DEN, amount_out_, &hi, &lo);
    *big = 0;
    if (hi >= den) { *big = 1; return OK; }
    u128 q = div256(hi, lo, den);
    if (q >> 126) { *big = 1; return OK; }
    *in = q + 1;
    return OK;
}

/* A > B in uniswap.chain_coefficients, i.e. optimal_cycle_input is not 0 (it is 0
 * exactly when A <= B): 997^n * prod(R_out) against 1000^n * prod(R_in), each factor
 * < 2^126 and n <= 3, so both fit 384 bits; schoolbook on 64-bit limbs. Three in four
 * sizings in a search find the cycle unprofitable: those need no Python call. */
#define LIMBS 6
static void limbs_mul(u64 x[LIMBS], u128 v) {
    u64 out[LIMBS] = {0}, half[2] = {(u64)v, (u64)(v >> 64)};
    for (int i = 0; i < LIMBS; i++) {
        if (!x[i]) continue;
        u128 carry = 0;
        for (int k = i; k < LIMBS; k++) {
            u128 t = (u128)out[k] + carry;
            if (k - i < 2) t += (u128)x[i] * half[k - i];
            out[k] = (u64)t;
            carry = t >> 64;
        }
    }
    memcpy(x, out, sizeof out);
}

static int cycle_profitable(const u128 *rin, const u128 *rout, int n) {
    u64 a[LIMBS] = {1}, b[LIMBS] = {1};
    for (int k = 0; k < n; k++) {
        limbs_mul(a, rout[k] * FEE_NUM);
        limbs_mul(b, rin[k] * FEE_DEN);
    }
    for (int i = LIMBS - 1; i >= 0; i--)
        if (a[i] != b[i]) return a[i] > b[i];
    return 0;
}

/* --- conversions ---------------------------------------------------------------- */

static PyObject *from_u128(u128 v) {
    if ((v >> 64) == 0) return PyLong_FromUnsignedLongLong((u64)v);
    return _PyLong_FromByteArray((const unsigned char *)&v, sizeof v, 1, 0);  /* little-endian host */
}

/* A Python int in [0, 2^128) to u128; -1 with an exception set otherwise. */
static int to_u128(PyObject *obj, u128 *out) {
    if (!PyLong_Check(obj)) { PyErr_SetString(PyExc_TypeError, "amm core: an int is needed"); return -1; }
    if (_PyLong_Sign(obj) < 0 || _PyLong_NumBits(obj) > 128) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_OverflowError, "amm core: int outside [0, 2**128)");
        return -1;
    }
    u64 lo = PyLong_AsUnsignedLongLongMask(obj);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *top = shift ? PyNumber_Rshift(obj, shift) : NULL;
    Py_XDECREF(shift);
    if (!top) return -1;
    u64 hi = PyLong_AsUnsignedLongLong(top);
    Py_DECREF(top);
    if (hi == (u64)-1 && PyErr_Occurred()) return -1;
    *out = ((u128)hi << 64) | lo;
    return 0;
}

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

/* --- the Cursor type -------------------------------------------------------------- */

static int find(CursorObject *c, PyObject *oid, const Program **out) {
    PyObject *n = PyDict_GetItemWithError(c->core->index, oid);
    if (!n) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, oid);
        return -1;
    }
    *out = &c->core->programs[PyLong_AsSsize_t(n)];
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
