/* The amm core's integers: u128 values, exact 256-bit products and quotients, the
 * pair formulas of uniswap.py, the A > B test of a cycle, and int conversions.
 * Included once by _core.c (see its header for why these ranges suffice). */

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

