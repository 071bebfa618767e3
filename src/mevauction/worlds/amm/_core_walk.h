/* Cursor.exhaustive_walk: the depth-first walk of building.search.exhaustive (the
 * specification, which runs it in Python on any world's cursor), on the compiled
 * cursor without a Python call per block. Included once by _core.c.
 *
 * The caller passes what the walk needs, all made from structure and bid bounds:
 * per member the bitmasks of members it excludes (shared exclusive keys) and of the
 * lower members it commutes with, the bid bounds, the mask of members that have one
 * and the subset-sum table of the bounds. The walk visits the same blocks in the same
 * order, skips the same subtrees and updates a maximum only on a strict improvement,
 * so it returns the same o*, counterfactual values and blocks (tests/amm/test_amm_core.py).
 * Values are sums of bids of one block: each bid is at most G < 2^112 (the core's
 * range, _core.c) — a bid of 2^120 or more stops the walk (WALK_BEYOND) — so a sum
 * of at most 63 of them, and with bounds below 2^120 every bound sum, fits 128 bits. */

#define WALK_MAX 63
/* A bid of 2^120 or more (a tip beyond anything the state holds, on a made-up world):
 * the walk stops and says so (None), and the caller walks in Python. */
#define WALK_BEYOND (-2)

typedef struct {
    CursorObject *c;
    PyObject *members;              /* list of order ids */
    int n, cf;
    uint64_t everyone, known;
    const uint64_t *exclude, *skip_after;
    const u128 *ub, *sums;          /* sums: NULL unless known */
    u128 best, floor;
    int path[WALK_MAX], depth;
    u128 bid_of[WALK_MAX];
    int best_path[WALK_MAX], best_len;
    u128 best_bids[WALK_MAX];
    u128 without[WALK_MAX];
    int without_path[WALK_MAX][WALK_MAX], without_len[WALK_MAX];
} Walk;

/* No block of the subtree under idx can strictly improve any maximum. */
static int walk_hopeless(const Walk *w, u128 top, int idx, uint64_t avail) {
    if (top > w->best) return 0;
    if (!w->cf || top <= w->floor) return 1;
    for (int j = 0; j < w->n; j++) {
        u128 cap = (j == idx || (avail >> j & 1)) ? top - w->ub[j] : top - w->bid_of[j];
        if (cap > w->without[j]) return 0;
    }
    return 1;
}

static int walk_visit(Walk *w, uint64_t taken, uint64_t skip, u128 total) {
    uint64_t free_ = w->everyone & ~(taken | skip);
    while (free_) {
        uint64_t bit = free_ & (~free_ + 1);
        free_ ^= bit;
        int idx = __builtin_ctzll(bit);
        if (w->known) {
            uint64_t avail = w->everyone & ~(taken | bit | w->exclude[idx]);
            if ((bit & w->known) && !(avail & ~w->known)
                && walk_hopeless(w, total + w->ub[idx] + w->sums[avail], idx, avail))
                continue;
        }
        PyObject *bid_obj = NULL;
        int got = try_run(w->c, PyList_GET_ITEM(w->members, idx), &bid_obj);
        if (got < 0) return -1;
        if (!got) continue;  /* failed: nothing was pushed */
        u128 bid = 0;
        int big = !PyLong_Check(bid_obj) || _PyLong_Sign(bid_obj) < 0 || _PyLong_NumBits(bid_obj) > 120
                  || to_u128(bid_obj, &bid);
        Py_DECREF(bid_obj);
        if (big) { undo(w->c, w->c->marks[--w->c->nmarks]); return WALK_BEYOND; }
        w->path[w->depth++] = idx;
        w->bid_of[idx] = bid;
        u128 value = total + bid;
        if (value > w->best) {
            w->best = value;
            w->best_len = w->depth;
            for (int k = 0; k < w->depth; k++) {
                w->best_path[k] = w->path[k];
                w->best_bids[k] = w->bid_of[w->path[k]];
            }
        }
        if (w->cf && value > w->floor) {
            u128 low = 0;
            for (int j = 0; j < w->n; j++) {
                u128 v = value - w->bid_of[j];
                if (v > w->without[j]) {
                    w->without[j] = v;
                    memcpy(w->without_path[j], w->path, w->depth * sizeof(int));
                    w->without_len[j] = w->depth;
                }
                if (j == 0 || w->without[j] < low) low = w->without[j];
            }
            w->floor = low;
        }
        int rc = walk_visit(w, taken | bit | w->exclude[idx], w->skip_after[idx], value);
        w->depth--;
        w->bid_of[idx] = 0;
        undo(w->c, w->c->marks[--w->c->nmarks]);
        if (rc < 0) return rc;
    }
    return 0;
}

static int walk_masks(PyObject *list, int n, uint64_t *out, const char *what) {
    if (!PyList_Check(list) || PyList_GET_SIZE(list) != n) {
        PyErr_Format(PyExc_ValueError, "exhaustive_walk: %s must be a list of one int per member", what);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        out[i] = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(list, i));
        if (PyErr_Occurred()) return -1;
    }
    return 0;
}

static PyObject *walk_path(PyObject *members, const int *path, int len) {
    PyObject *t = PyTuple_New(len);
    for (int k = 0; t && k < len; k++) {
        PyObject *oid = PyList_GET_ITEM(members, path[k]);
        Py_INCREF(oid);
        PyTuple_SET_ITEM(t, k, oid);
    }
    return t;
}

/* exhaustive_walk(members, exclude, skip_after, ub, known, sums, counterfactuals) ->
 * (best value, o* as order ids, o*'s bids, [best value without b_i], [its block]),
 * or None when a bid is beyond the walk's 128-bit sums */
static PyObject *Cursor_exhaustive_walk(CursorObject *c, PyObject *args) {
    PyObject *members, *exclude, *skip_after, *ub, *known_obj, *sums;
    int cf;
    if (!PyArg_ParseTuple(args, "O!OOOOOp", &PyList_Type, &members, &exclude, &skip_after, &ub, &known_obj,
                          &sums, &cf))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(members);
    if (n > WALK_MAX) { PyErr_SetString(PyExc_ValueError, "exhaustive_walk: at most 63 members"); return NULL; }
    Walk *w = PyMem_Calloc(1, sizeof(Walk));
    uint64_t *masks = PyMem_Calloc(2 * (n ? n : 1), sizeof(uint64_t));
    u128 *bounds = PyMem_Calloc(n ? n : 1, sizeof(u128)), *table = NULL;
    PyObject *out = NULL;
    Py_ssize_t base = c->nmarks;
    if (!w || !masks || !bounds) { PyErr_NoMemory(); goto done; }
    w->c = c;
    w->members = members;
    w->n = (int)n;
    w->cf = cf;
    w->everyone = n ? (~(uint64_t)0 >> (64 - n)) : 0;
    w->exclude = masks;
    w->skip_after = masks + n;
    w->ub = bounds;
    if (walk_masks(exclude, (int)n, masks, "exclude") || walk_masks(skip_after, (int)n, masks + n, "skip_after"))
        goto done;
    w->known = PyLong_AsUnsignedLongLong(known_obj);
    if (PyErr_Occurred()) goto done;
    if (w->known) {
        Py_ssize_t size = (Py_ssize_t)1 << n;
        if (!PyList_Check(ub) || PyList_GET_SIZE(ub) != n || !PyList_Check(sums) || PyList_GET_SIZE(sums) != size) {
            PyErr_SetString(PyExc_ValueError, "exhaustive_walk: ub per member and 2**n sums with known bounds");
            goto done;
        }
        table = PyMem_Calloc(size, sizeof(u128));
        if (!table) { PyErr_NoMemory(); goto done; }
        for (Py_ssize_t i = 0; i < n; i++)
            if (to_u128(PyList_GET_ITEM(ub, i), &bounds[i])) goto done;
        for (Py_ssize_t i = 0; i < size; i++)
            if (to_u128(PyList_GET_ITEM(sums, i), &table[i])) goto done;
        w->sums = table;
    }
    int rc = walk_visit(w, 0, 0, 0);
    if (rc == WALK_BEYOND) { PyErr_Clear(); Py_INCREF(Py_None); out = Py_None; goto done; }
    if (rc < 0) goto done;
    PyObject *order = walk_path(members, w->best_path, w->best_len);
    PyObject *bids = PyTuple_New(w->best_len);
    PyObject *without = PyList_New(cf ? n : 0), *paths = PyList_New(cf ? n : 0), *best = from_u128(w->best);
    int bad = !order || !bids || !without || !paths || !best;
    for (int k = 0; !bad && k < w->best_len; k++) {
        PyObject *b = from_u128(w->best_bids[k]);
        if (!b) bad = 1; else PyTuple_SET_ITEM(bids, k, b);
    }
    for (Py_ssize_t j = 0; cf && !bad && j < n; j++) {
        PyObject *v = from_u128(w->without[j]), *p = walk_path(members, w->without_path[j], w->without_len[j]);
        if (!v || !p) { Py_XDECREF(v); Py_XDECREF(p); bad = 1; break; }
        PyList_SET_ITEM(without, j, v);
        PyList_SET_ITEM(paths, j, p);
    }
    if (!bad) out = PyTuple_Pack(5, best, order, bids, without, paths);
    Py_XDECREF(order); Py_XDECREF(bids); Py_XDECREF(without); Py_XDECREF(paths); Py_XDECREF(best);
done:
    while (c->nmarks > base) undo(c, c->marks[--c->nmarks]);
    PyMem_Free(w); PyMem_Free(masks); PyMem_Free(bounds); PyMem_Free(table);
    return out;
}
