/* Cursor.sequence_blocks: the loop of building.sequences.SequenceRunner.blocks (the
 * specification, which runs it with try_push on any world's cursor), on the compiled
 * cursor without a Python call per order. Included once by _core.c.
 *
 * The sequences come sorted so that neighbours share prefixes; a sequence keeps the
 * prefix it shares with the one before on the cursor (popped back only to where they
 * differ). An order whose shared exclusive keys meet those of an order already in
 * the block is left out; otherwise it is executed (try_push), and included when it
 * succeeds. Per sequence: (value, included orders, their bids). The cursor is left
 * as it was found. */

typedef struct {
    PyObject **bids;  /* per position of the current sequence: its bid (a reference), NULL if left out */
    Py_ssize_t n, cap;
} Frames;

static int frames_push(Frames *f, PyObject *bid) {
    if (f->n == f->cap) {
        Py_ssize_t cap = f->cap ? 2 * f->cap : 64;
        PyObject **grown = PyMem_Realloc(f->bids, cap * sizeof(PyObject *));
        if (!grown) { PyErr_NoMemory(); return -1; }
        f->bids = grown;
        f->cap = cap;
    }
    f->bids[f->n++] = bid;
    return 0;
}

/* Does any key of ``txs`` (a set or frozenset) lie in ``seen``? -1 on error. */
static int meets(PyObject *txs, PyObject *seen) {
    Py_ssize_t pos = 0;
    PyObject *key;
    Py_hash_t hash;
    while (_PySet_NextEntry(txs, &pos, &key, &hash)) {
        int in = PySet_Contains(seen, key);
        if (in) return in;
    }
    return 0;
}

static int update_seen(PyObject *txs, PyObject *seen, int add) {
    Py_ssize_t pos = 0;
    PyObject *key;
    Py_hash_t hash;
    while (_PySet_NextEntry(txs, &pos, &key, &hash))
        if ((add ? PySet_Add(seen, key) : PySet_Discard(seen, key)) < 0) return -1;
    return 0;
}

/* try_push without the method call: 1 with *bid set, 0 when the order fails, -1 on error */
static int try_run(CursorObject *c, PyObject *oid, PyObject **bid) {
    const Program *p;
    if (find(c, oid, &p)) return -1;
    Py_ssize_t mark = c->nlog;
    int rc = run(c, p, bid);
    if (rc == OK) {
        if (push_mark(c, mark)) { Py_DECREF(*bid); undo(c, mark); return -1; }
        return 1;
    }
    undo(c, mark);
    return rc < 0 ? -1 : 0;
}

static PyObject *Cursor_sequence_blocks(CursorObject *c, PyObject *args) {
    PyObject *sequences, *shared;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &sequences, &PyDict_Type, &shared)) return NULL;
    Py_ssize_t base = c->nmarks, n = PyList_GET_SIZE(sequences);
    Frames frames = {NULL, 0, 0};
    PyObject *out = PyList_New(n), *included = PyList_New(0), *bids = PyDict_New(), *seen = PySet_New(NULL);
    PyObject *value = PyLong_FromLong(0), *current = NULL;
    if (!out || !included || !bids || !seen || !value) goto fail;
    for (Py_ssize_t s = 0; s < n; s++) {
        PyObject *seq = PyList_GET_ITEM(sequences, s);
        if (!PyList_Check(seq)) { PyErr_SetString(PyExc_TypeError, "sequence_blocks: lists of order ids"); goto fail; }
        Py_ssize_t len = PyList_GET_SIZE(seq), common = 0;
        Py_ssize_t limit = current ? Py_MIN(len, PyList_GET_SIZE(current)) : 0;
        while (common < limit) {
            int eq = PyObject_RichCompareBool(PyList_GET_ITEM(seq, common), PyList_GET_ITEM(current, common), Py_EQ);
            if (eq < 0) goto fail;
            if (!eq) break;
            common++;
        }
        while (frames.n > common) {
            PyObject *bid = frames.bids[--frames.n];
            if (!bid) continue;
            Py_ssize_t last = PyList_GET_SIZE(included) - 1;
            PyObject *oid = PyList_GET_ITEM(included, last);
            Py_INCREF(oid);
            undo(c, c->marks[--c->nmarks]);
            PyObject *less = PyNumber_Subtract(value, bid);
            Py_DECREF(bid);
            PyObject *txs = PyDict_GetItemWithError(shared, oid);
            int bad = !less || PyList_SetSlice(included, last, last + 1, NULL) < 0 || PyDict_DelItem(bids, oid) < 0
                      || (!txs && PyErr_Occurred()) || (txs && update_seen(txs, seen, 0) < 0);
            Py_DECREF(oid);
            Py_XSETREF(value, less);
            if (bad) goto fail;
        }
        for (Py_ssize_t i = common; i < len; i++) {
            PyObject *oid = PyList_GET_ITEM(seq, i), *bid = NULL;
            PyObject *txs = PyDict_GetItemWithError(shared, oid);
            if (!txs && PyErr_Occurred()) goto fail;
            if (txs && !PyAnySet_Check(txs)) { PyErr_SetString(PyExc_TypeError, "sequence_blocks: keys as sets"); goto fail; }
            int skip = txs ? meets(txs, seen) : 0;
            if (skip < 0) goto fail;
            int got = skip ? 0 : try_run(c, oid, &bid);
            if (got < 0 || frames_push(&frames, got ? bid : NULL) < 0) { if (got > 0) Py_DECREF(bid); goto fail; }
            if (!got) continue;
            PyObject *more = PyNumber_Add(value, bid);
            Py_XSETREF(value, more);
            if (!more || PyList_Append(included, oid) < 0 || PyDict_SetItem(bids, oid, bid) < 0
                || (txs && update_seen(txs, seen, 1) < 0))
                goto fail;
        }
        current = seq;
        PyObject *block = PyList_AsTuple(included), *copy = PyDict_Copy(bids);
        PyObject *row = (block && copy) ? PyTuple_Pack(3, value, block, copy) : NULL;
        Py_XDECREF(block); Py_XDECREF(copy);
        if (!row) goto fail;
        PyList_SET_ITEM(out, s, row);
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    while (frames.n > 0) Py_XDECREF(frames.bids[--frames.n]);
    PyMem_Free(frames.bids);
    while (c->nmarks > base) undo(c, c->marks[--c->nmarks]);
    Py_XDECREF(included); Py_XDECREF(bids); Py_XDECREF(seen); Py_XDECREF(value);
    return out;
}
