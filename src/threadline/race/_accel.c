/* The race detector's hot path in C: Detector.access, .acquire, .release.
 *
 * A line-for-line twin of the pure-Python methods in _detector.py (which
 * stay the reference, and the fallback where this module is not built);
 * both work on the same Python containers, so either can run at any time
 * and the tests run the suite against each.
 *
 * Locking: as in _detector.py, with stripe locks of this module's own
 * (PyThread locks; a thread that finds one taken waits with the GIL
 * released).  A stripe lock is a leaf, held across C code only: Python
 * code can lose the GIL, and another thread would then block on the lock
 * and wait a whole switch interval for the GIL once it is free.  (Only a
 * key's own __eq__/__hash__, or the garbage collector, can still run
 * Python code there.)  A thread's vector clock is
 * touched only by that thread.  The
 * same-epoch fast path of access() reads a location without its stripe
 * lock: under the GIL a sequence of C calls that runs no Python code is
 * atomic, and the fast path only reads and takes references.  That is why
 * this module refuses to load on a free-threaded build (the Python path
 * takes over there) until it has its own per-location locking.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define STACK_DEPTH 16

static PyObject *s_slot, *s_vc, *s_cached_frame, *s_cached_callers, *s_cached_raws, *s_last_read,
    *s_last_write, *s_thread, *s_drain_dead, *s_new_location, *s_report;

/* d[k] as a new reference: 1 found, 0 missing, -1 error. */
static int
dict_get(PyObject *d, PyObject *k, PyObject **out)
{
    PyObject *v = PyDict_GetItemWithError(d, k);
    if (v != NULL) {
        *out = Py_NewRef(v);
        return 1;
    }
    *out = NULL;
    return PyErr_Occurred() ? -1 : 0;
}

/* vc.get(slot, 0) for a clock of small ints; -1 on error. */
static long long
clock_get(PyObject *clock, PyObject *slot)
{
    PyObject *v = PyDict_GetItemWithError(clock, slot);
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return PyLong_AsLongLong(v);
}

/* ---- Location: the shadow of one location (see _Location) ------------ */

typedef struct {
    PyObject_HEAD
    PyObject *what;
    PyObject *write;  /* None or (slot, time, atomic, thread, raw stack) */
    PyObject *reads;  /* dict: slot -> (time, thread, raw stack) */
    PyObject *owner;  /* its object's watch (a weak reference), or None */
} Location;

static PyTypeObject LocationType;

static int
Location_init(Location *self, PyObject *args, PyObject *kwds)
{
    PyObject *what, *owner;
    static char *kwlist[] = {"what", "owner", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Location", kwlist, &what, &owner)) {
        return -1;
    }
    if (owner != Py_None && !PyWeakref_CheckRef(owner)) {
        PyErr_Format(PyExc_TypeError, "owner must be a weak reference or None, not %R", owner);
        return -1;
    }
    PyObject *reads = PyDict_New();
    if (reads == NULL) {
        return -1;
    }
    Py_XSETREF(self->what, Py_NewRef(what));
    Py_XSETREF(self->write, Py_NewRef(Py_None));
    Py_XSETREF(self->reads, reads);
    Py_XSETREF(self->owner, Py_NewRef(owner));
    return 0;
}

static int
Location_traverse(Location *self, visitproc visit, void *arg)
{
    Py_VISIT(self->what);
    Py_VISIT(self->write);
    Py_VISIT(self->reads);
    Py_VISIT(self->owner);
    return 0;
}

static int
Location_clear(Location *self)
{
    Py_CLEAR(self->what);
    Py_CLEAR(self->write);
    Py_CLEAR(self->reads);
    Py_CLEAR(self->owner);
    return 0;
}

static void
Location_dealloc(Location *self)
{
    PyObject_GC_UnTrack(self);
    Location_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Location_set(PyObject **field, PyObject *value, const char *name, int need_dict)
{
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "cannot delete Location.%s", name);
        return -1;
    }
    if (need_dict && !PyDict_CheckExact(value)) {
        PyErr_Format(PyExc_TypeError, "Location.%s must be a dict, not %.100s", name,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_XSETREF(*field, Py_NewRef(value));
    return 0;
}

static PyObject *
Location_get_what(Location *self, void *c) { return Py_NewRef(self->what ? self->what : Py_None); }
static PyObject *
Location_get_write(Location *self, void *c) { return Py_NewRef(self->write ? self->write : Py_None); }
static PyObject *
Location_get_reads(Location *self, void *c) { return Py_NewRef(self->reads ? self->reads : Py_None); }
static PyObject *
Location_get_owner(Location *self, void *c) { return Py_NewRef(self->owner ? self->owner : Py_None); }
static int
Location_set_what(Location *self, PyObject *v, void *c) { return Location_set(&self->what, v, "what", 0); }
static int
Location_set_write(Location *self, PyObject *v, void *c) { return Location_set(&self->write, v, "write", 0); }
static int
Location_set_reads(Location *self, PyObject *v, void *c) { return Location_set(&self->reads, v, "reads", 1); }

static PyGetSetDef Location_getset[] = {
    {"what", (getter)Location_get_what, (setter)Location_set_what, NULL, NULL},
    {"write", (getter)Location_get_write, (setter)Location_set_write, NULL, NULL},
    {"reads", (getter)Location_get_reads, (setter)Location_set_reads, NULL, NULL},
    {"owner", (getter)Location_get_owner, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject LocationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Location",
    .tp_basicsize = sizeof(Location),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The shadow of one location: what it is, its last write, its unordered reads.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Location_init,
    .tp_traverse = (traverseproc)Location_traverse,
    .tp_clear = (inquiry)Location_clear,
    .tp_dealloc = (destructor)Location_dealloc,
    .tp_getset = Location_getset,
};

/* ---- Core: one detector's state, borrowed from the Python object ------- */

typedef struct {
    PyObject_HEAD
    PyObject *detector;
    PyObject *threads;    /* ident -> ThreadInfo */
    PyObject *shadow;     /* (id, key) -> Location */
    PyObject *dead;       /* deque of ids of objects that died */
    PyObject *sync;       /* id -> clock */
    PyObject *sync_keep;  /* id -> sync object */
    PyObject *own_prefix; /* threadline's directory */
    PyThread_type_lock *locks; /* the stripe locks (C's own: see the top) */
    Py_ssize_t stripes;
} Core;

static int
Core_traverse(Core *self, visitproc visit, void *arg)
{
    Py_VISIT(self->detector);
    Py_VISIT(self->threads);
    Py_VISIT(self->shadow);
    Py_VISIT(self->dead);
    Py_VISIT(self->sync);
    Py_VISIT(self->sync_keep);
    return 0;
}

static int
Core_clear(Core *self)
{
    Py_CLEAR(self->detector);
    Py_CLEAR(self->threads);
    Py_CLEAR(self->shadow);
    Py_CLEAR(self->dead);
    Py_CLEAR(self->sync);
    Py_CLEAR(self->sync_keep);
    Py_CLEAR(self->own_prefix);
    return 0;
}

static void
free_locks(Core *self)
{
    if (self->locks != NULL) {
        for (Py_ssize_t i = 0; i < self->stripes; i++) {
            if (self->locks[i] != NULL) {
                PyThread_free_lock(self->locks[i]);
            }
        }
        PyMem_Free(self->locks);
        self->locks = NULL;
    }
    self->stripes = 0;
}

static void
Core_dealloc(Core *self)
{
    PyObject_GC_UnTrack(self);
    Core_clear(self);
    free_locks(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Core_init(Core *self, PyObject *args, PyObject *kwds)
{
    PyObject *detector, *threads, *shadow, *dead, *sync, *sync_keep, *own_prefix;
    Py_ssize_t n;
    static char *kwlist[] = {"detector", "threads", "shadow", "dead", "sync", "sync_keep",
                             "own_prefix", "stripes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!OO!O!Un:Core", kwlist, &detector,
                                     &PyDict_Type, &threads, &PyDict_Type, &shadow, &dead,
                                     &PyDict_Type, &sync, &PyDict_Type, &sync_keep, &own_prefix,
                                     &n)) {
        return -1;
    }
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "stripes must be at least 1, got %zd", n);
        return -1;
    }
    Core_clear(self);
    free_locks(self);
    self->locks = PyMem_Calloc(n, sizeof(PyThread_type_lock));
    if (self->locks == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->stripes = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((self->locks[i] = PyThread_allocate_lock()) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    self->detector = Py_NewRef(detector);
    self->threads = Py_NewRef(threads);
    self->shadow = Py_NewRef(shadow);
    self->dead = Py_NewRef(dead);
    self->sync = Py_NewRef(sync);
    self->sync_keep = Py_NewRef(sync_keep);
    self->own_prefix = Py_NewRef(own_prefix);
    return 0;
}

/* A thread inside the detector (holding a stripe lock, or calling back
 * into Python from it) ignores its own accesses and sync operations: code
 * that runs there (a key's __hash__, a finalizer, the garbage collector)
 * is the detector's doing, not the program's, and taking a stripe lock
 * again would deadlock. */
static _Thread_local int inside;

static PyThread_type_lock
stripe(Core *self, PyObject *obj)
{
    return self->locks[((size_t)(uintptr_t)obj >> 4) % (size_t)self->stripes];
}

/* Take a stripe lock; if it is held, wait with the GIL released. */
static void
lock(PyThread_type_lock lk)
{
    if (!PyThread_acquire_lock(lk, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(lk, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    inside++;
}

static void
unlock(PyThread_type_lock lk)
{
    inside--;
    PyThread_release_lock(lk);
}

/* The calling thread's ThreadInfo (registering a thread never seen). */
static PyObject *
current_thread(Core *self)
{
    PyObject *ident = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    if (ident == NULL) {
        return NULL;
    }
    PyObject *me;
    int found = dict_get(self->threads, ident, &me);
    Py_DECREF(ident);
    if (found < 0) {
        return NULL;
    }
    if (found == 0) {
        me = PyObject_CallMethodNoArgs(self->detector, s_thread);
    }
    return me;
}

/* ---- stacks (see program_stack in _detector.py) ------------------------ */

/* Is this threadline's own code?  (A prefix test on the file name: code
 * objects hash slowly, so no cache keyed by them pays off here.) */
static int
is_own(Core *self, PyCodeObject *code)
{
    Py_ssize_t own = PyUnicode_Tailmatch(code->co_filename, self->own_prefix, 0,
                                         PY_SSIZE_T_MAX, -1);
    return (int)own;
}

static PyObject *
code_line(PyFrameObject *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *line = PyLong_FromLong(PyFrame_GetLineNumber(frame));
    if (line == NULL) {
        Py_DECREF(code);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, (PyObject *)code, line);
    Py_DECREF(code);
    Py_DECREF(line);
    return pair;
}

static PyObject *
program_stack(Core *self, PyObject *me)
{
    PyFrameObject *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    while (frame != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        int own = is_own(self, code);
        Py_DECREF(code);
        if (own <= 0) {
            if (own < 0) {
                Py_DECREF(frame);
                return NULL;
            }
            break;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    if (frame == NULL) {
        return PyTuple_New(0);
    }
    PyObject *callers = NULL, *raws = NULL, *raw = NULL, *line = NULL;
    PyObject *cached = PyObject_GetAttr(me, s_cached_frame);
    if (cached == NULL || (line = PyLong_FromLong(PyFrame_GetLineNumber(frame))) == NULL) {
        goto done;
    }
    if (cached == (PyObject *)frame) {
        raws = PyObject_GetAttr(me, s_cached_raws);
        if (raws != NULL && !PyDict_Check(raws)) {
            PyErr_SetString(PyExc_TypeError, "cached_raws must be a dict");
            Py_CLEAR(raws);
        }
        if (raws == NULL || dict_get(raws, line, &raw) != 0) {
            goto done;  /* seen this line of this frame: the same stack */
        }
        callers = PyObject_GetAttr(me, s_cached_callers);
        if (callers != NULL && !PyTuple_Check(callers)) {
            PyErr_SetString(PyExc_TypeError, "cached_callers must be a tuple");
            Py_CLEAR(callers);
        }
    }
    else {
        PyObject *list = PyList_New(0);
        PyFrameObject *up = list ? PyFrame_GetBack(frame) : NULL;
        for (int i = 0; list != NULL && up != NULL && i < STACK_DEPTH - 1; i++) {
            PyObject *pair = code_line(up);
            if (pair == NULL || PyList_Append(list, pair) < 0) {
                Py_XDECREF(pair);
                Py_CLEAR(list);
                break;
            }
            Py_DECREF(pair);
            PyFrameObject *next = PyFrame_GetBack(up);
            Py_DECREF(up);
            up = next;
        }
        Py_XDECREF(up);
        if (list != NULL) {
            callers = PyList_AsTuple(list);
            Py_DECREF(list);
        }
        if (callers != NULL &&
            ((raws = PyDict_New()) == NULL ||
             PyObject_SetAttr(me, s_cached_frame, (PyObject *)frame) < 0 ||
             PyObject_SetAttr(me, s_cached_callers, callers) < 0 ||
             PyObject_SetAttr(me, s_cached_raws, raws) < 0)) {
            Py_CLEAR(callers);
        }
    }
    if (callers == NULL) {
        goto done;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(callers);
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *here = PyTuple_Pack(2, (PyObject *)code, line);
    Py_DECREF(code);
    if (here == NULL || (raw = PyTuple_New(n + 1)) == NULL) {
        Py_XDECREF(here);
        goto done;
    }
    PyTuple_SET_ITEM(raw, 0, here);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(raw, i + 1, Py_NewRef(PyTuple_GET_ITEM(callers, i)));
    }
    if (PyDict_SetItem(raws, line, raw) < 0) {
        Py_CLEAR(raw);
    }
done:
    Py_XDECREF(cached);
    Py_XDECREF(callers);
    Py_XDECREF(raws);
    Py_XDECREF(line);
    Py_DECREF(frame);
    return raw;
}

/* ---- access ------------------------------------------------------------ */

/* Is the epoch tuple's item *i* (a small int) equal to *value*? */
static int
item_is(PyObject *tuple, Py_ssize_t i, long long value)
{
    long long got = PyLong_AsLongLong(PyTuple_GET_ITEM(tuple, i));
    return got == value;
}

static int
add_race(PyObject **races, int was_write, PyObject *thread, PyObject *stack)
{
    if (*races == NULL && (*races = PyList_New(0)) == NULL) {
        return -1;
    }
    PyObject *entry = PyTuple_Pack(3, was_write ? Py_True : Py_False, thread, stack);
    if (entry == NULL) {
        return -1;
    }
    int r = PyList_Append(*races, entry);
    Py_DECREF(entry);
    return r;
}

/* The thread's epoch tuple for a write, (slot, time, atomic, thread, stack),
 * or for a read, (time, thread, stack): the one it made last, while time
 * and stack are the same (as they are for a loop over many objects). */
static PyObject *
epoch_of(PyObject *me, PyObject *attr, Py_ssize_t size, PyObject *slot_obj, long long now,
         PyObject *now_obj, int atomic, PyObject *raw)
{
    PyObject *last = PyObject_GetAttr(me, attr);
    if (last == NULL) {
        return NULL;
    }
    if (PyTuple_CheckExact(last) && PyTuple_GET_SIZE(last) == size &&
        PyTuple_GET_ITEM(last, size - 1) == raw && item_is(last, size == 3 ? 0 : 1, now) &&
        (size == 3 || (PyTuple_GET_ITEM(last, 2) == Py_True) == atomic)) {
        return last;
    }
    Py_DECREF(last);
    PyObject *epoch = size == 3 ? PyTuple_Pack(3, now_obj, me, raw)
                                : PyTuple_Pack(5, slot_obj, now_obj, atomic ? Py_True : Py_False,
                                               me, raw);
    if (epoch != NULL && PyObject_SetAttr(me, attr, epoch) < 0) {
        Py_CLEAR(epoch);
    }
    return epoch;
}

/* The checks and updates of access(), under the location's stripe lock. */
static int
check_locked(Location *loc, int write, int atomic, PyObject *me, PyObject *slot_obj,
             long long slot, PyObject *vc, long long now, PyObject *now_obj, PyObject *raw,
             PyObject **races)
{
    int r;
    PyObject *last = loc->write;
    if (last != Py_None) {
        long long last_slot = PyLong_AsLongLong(PyTuple_GET_ITEM(last, 0));
        long long last_time = PyLong_AsLongLong(PyTuple_GET_ITEM(last, 1));
        long long seen = clock_get(vc, PyTuple_GET_ITEM(last, 0));
        if (seen < 0 && PyErr_Occurred()) {
            return -1;
        }
        int last_atomic = PyTuple_GET_ITEM(last, 2) == Py_True;
        if (last_slot != slot && last_time > seen && !(write && atomic && last_atomic) &&
            add_race(races, 1, PyTuple_GET_ITEM(last, 3), PyTuple_GET_ITEM(last, 4)) < 0) {
            return -1;
        }
    }
    PyObject *reads = loc->reads;
    if (write) {
        if (PyDict_GET_SIZE(reads) > 0) {
            Py_ssize_t pos = 0;
            PyObject *other, *epoch;
            while (PyDict_Next(reads, &pos, &other, &epoch)) {
                if (PyLong_AsLongLong(other) == slot) {
                    continue;
                }
                long long seen = clock_get(vc, other);
                if (seen < 0 && PyErr_Occurred()) {
                    return -1;
                }
                if (PyLong_AsLongLong(PyTuple_GET_ITEM(epoch, 0)) > seen &&
                    add_race(races, 0, PyTuple_GET_ITEM(epoch, 1), PyTuple_GET_ITEM(epoch, 2)) <
                        0) {
                    return -1;
                }
            }
            PyObject *fresh = PyDict_New();
            if (fresh == NULL) {
                return -1;
            }
            Py_SETREF(loc->reads, fresh);
        }
        PyObject *epoch = epoch_of(me, s_last_write, 5, slot_obj, now, now_obj, atomic, raw);
        if (epoch == NULL) {
            return -1;
        }
        Py_SETREF(loc->write, epoch);
        return 0;
    }
    Py_ssize_t size = PyDict_GET_SIZE(reads);
    if (size > 0) {
        int mine = PyDict_Contains(reads, slot_obj);
        if (mine < 0) {
            return -1;
        }
        if (size > 1 || !mine) {
            /* reads ordered before this one are covered by it */
            PyObject *kept = PyDict_New();
            if (kept == NULL) {
                return -1;
            }
            Py_ssize_t pos = 0;
            PyObject *other, *epoch;
            while (PyDict_Next(reads, &pos, &other, &epoch)) {
                if (PyLong_AsLongLong(other) == slot) {
                    continue;
                }
                long long seen = clock_get(vc, other);
                if ((seen < 0 && PyErr_Occurred()) ||
                    (PyLong_AsLongLong(PyTuple_GET_ITEM(epoch, 0)) > seen &&
                     PyDict_SetItem(kept, other, epoch) < 0)) {
                    Py_DECREF(kept);
                    return -1;
                }
            }
            Py_SETREF(loc->reads, kept);
        }
    }
    PyObject *epoch = epoch_of(me, s_last_read, 3, slot_obj, now, now_obj, atomic, raw);
    if (epoch == NULL) {
        return -1;
    }
    r = PyDict_SetItem(loc->reads, slot_obj, epoch);
    Py_DECREF(epoch);
    return r;
}

/* Is the location *obj*'s, not a dead object's under the same id?  (See
 * _owns in _detector.py.) */
static int
owned(Location *loc, PyObject *obj)
{
    if (loc->owner == NULL || loc->owner == Py_None) {
        return 1;
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *ref;
    if (PyWeakref_GetRef(loc->owner, &ref) < 0) {
        return -1;
    }
    Py_XDECREF(ref);
    return ref == obj;
#else
    return PyWeakref_GetObject(loc->owner) == obj;
#endif
}

/* Is this access in the epoch of the location's last one (nothing to do)? */
static int
same_epoch(Core *self, PyObject *obj, PyObject *lkey, int write, int atomic, PyObject *slot_obj,
           long long slot, long long now)
{
    PyObject *found = PyDict_GetItemWithError(self->shadow, lkey);
    if (found == NULL || !PyObject_TypeCheck(found, &LocationType)) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Location *loc = (Location *)found;
    int mine = owned(loc, obj);
    if (mine <= 0) {
        return mine;
    }
    if (write) {
        PyObject *last = loc->write;
        return last != Py_None && item_is(last, 0, slot) && item_is(last, 1, now) &&
               (PyTuple_GET_ITEM(last, 2) == Py_True) == atomic && PyDict_GET_SIZE(loc->reads) == 0;
    }
    PyObject *seen = PyDict_GetItemWithError(loc->reads, slot_obj);
    if (seen == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return item_is(seen, 0, now);
}

static PyObject *
Core_access(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 4 || nargs > 5) {
        PyErr_Format(PyExc_TypeError,
                     "access(obj, key, write, describe, atomic=False) takes 4 or 5 arguments, "
                     "got %zd", nargs);
        return NULL;
    }
    if (inside) {
        Py_RETURN_NONE;
    }
    PyObject *obj = args[0], *key = args[1], *describe = args[3];
    int write = PyObject_IsTrue(args[2]);
    int atomic = nargs > 4 ? PyObject_IsTrue(args[4]) : 0;
    if (write < 0 || atomic < 0) {
        return NULL;
    }
    PyObject *me = NULL, *slot_obj = NULL, *vc = NULL, *now_obj = NULL, *oid = NULL,
             *lkey = NULL, *raw = NULL, *races = NULL, *result = NULL;
    Location *loc = NULL;
    if ((me = current_thread(self)) == NULL || (slot_obj = PyObject_GetAttr(me, s_slot)) == NULL ||
        (vc = PyObject_GetAttr(me, s_vc)) == NULL) {
        goto done;
    }
    if (!PyDict_Check(vc)) {
        PyErr_SetString(PyExc_TypeError, "a thread's vc must be a dict");
        goto done;
    }
    if (dict_get(vc, slot_obj, &now_obj) <= 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_KeyError, "a thread's own slot is missing from its clock");
        }
        goto done;
    }
    long long slot = PyLong_AsLongLong(slot_obj);
    long long now = PyLong_AsLongLong(now_obj);
    if ((slot == -1 || now == -1) && PyErr_Occurred()) {
        goto done;
    }
    if ((oid = PyLong_FromVoidPtr(obj)) == NULL || (lkey = PyTuple_Pack(2, oid, key)) == NULL) {
        goto done;
    }
    int same = same_epoch(self, obj, lkey, write, atomic, slot_obj, slot, now);
    if (same != 0) {
        if (same > 0) {
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    Py_ssize_t dead = PyObject_Length(self->dead);
    if (dead < 0) {
        goto done;
    }
    if (dead > 0) {
        PyObject *r = PyObject_CallMethodNoArgs(self->detector, s_drain_dead);
        if (r == NULL) {
            goto done;
        }
        Py_DECREF(r);
    }
    if ((raw = program_stack(self, me)) == NULL) {
        goto done;
    }
    PyObject *found;
    int r = dict_get(self->shadow, lkey, &found);
    if (r > 0 && PyObject_TypeCheck(found, &LocationType)) {
        r = owned((Location *)found, obj);
        if (r == 0) {  /* a dead object's */
            Py_CLEAR(found);
        }
    }
    if (r == 0) {
        found = PyObject_CallMethodObjArgs(self->detector, s_new_location, obj, key, lkey,
                                           describe, NULL);
    }
    if (r < 0 || found == NULL) {
        Py_XDECREF(found);
        goto done;
    }
    loc = (Location *)found;
    if (!PyObject_TypeCheck(found, &LocationType)) {
        PyErr_Format(PyExc_TypeError, "shadow location is a %.100s", Py_TYPE(found)->tp_name);
        goto done;
    }
    PyThread_type_lock lk = stripe(self, obj);
    lock(lk);
    r = check_locked(loc, write, atomic, me, slot_obj, slot, vc, now, now_obj, raw, &races);
    unlock(lk);
    if (r < 0) {
        goto done;
    }
    if (races != NULL) {
        PyObject *report = PyObject_CallMethodObjArgs(self->detector, s_report, write ? Py_True : Py_False,
                                                      (PyObject *)loc, me, raw, races, NULL);
        if (report == NULL) {
            goto done;
        }
        Py_DECREF(report);
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(me);
    Py_XDECREF(slot_obj);
    Py_XDECREF(vc);
    Py_XDECREF(now_obj);
    Py_XDECREF(oid);
    Py_XDECREF(lkey);
    Py_XDECREF(raw);
    Py_XDECREF(races);
    Py_XDECREF((PyObject *)loc);
    return result;
}

/* ---- synchronisation ----------------------------------------------------- */

/* The thread's slot and clock, as new references. */
static PyObject *
thread_clock(Core *self, PyObject **slot_out, PyObject **vc_out)
{
    PyObject *me = current_thread(self);
    if (me == NULL) {
        return NULL;
    }
    *slot_out = PyObject_GetAttr(me, s_slot);
    *vc_out = *slot_out ? PyObject_GetAttr(me, s_vc) : NULL;
    if (*vc_out != NULL && !PyDict_Check(*vc_out)) {
        PyErr_SetString(PyExc_TypeError, "a thread's vc must be a dict");
        Py_CLEAR(*vc_out);
    }
    if (*vc_out == NULL) {
        Py_CLEAR(*slot_out);
        Py_DECREF(me);
        return NULL;
    }
    return me;
}

/* into[slot] = max(into.get(slot, 0), time) for every entry of *from*. */
static int
join_clock(PyObject *into, PyObject *from)
{
    Py_ssize_t pos = 0;
    PyObject *slot, *time;
    while (PyDict_Next(from, &pos, &slot, &time)) {
        long long have = clock_get(into, slot);
        if (have < 0 && PyErr_Occurred()) {
            return -1;
        }
        long long t = PyLong_AsLongLong(time);
        if (t == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (have < t && PyDict_SetItem(into, slot, time) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
Core_release(Core *self, PyObject *obj)
{
    if (inside) {
        Py_RETURN_NONE;
    }
    PyObject *slot, *vc, *key = NULL, *clock = NULL, *result = NULL;
    PyObject *me = thread_clock(self, &slot, &vc);
    if (me == NULL) {
        return NULL;
    }
    PyThread_type_lock lk = stripe(self, obj);
    if ((key = PyLong_FromVoidPtr(obj)) == NULL) {
        goto done;
    }
    lock(lk);
    int r = dict_get(self->sync, key, &clock);
    if (r == 0) {
        r = -1;
        if ((clock = PyDict_New()) != NULL && PyDict_SetItem(self->sync, key, clock) == 0 &&
            PyDict_SetItem(self->sync_keep, key, obj) == 0) {
            r = 0;
        }
    }
    if (r >= 0) {
        r = PyDict_Check(clock) ? join_clock(clock, vc) : -1;
        if (r < 0 && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a sync clock must be a dict");
        }
    }
    unlock(lk);
    if (r < 0) {
        goto done;
    }
    long long now = clock_get(vc, slot);
    if (now < 0 && PyErr_Occurred()) {
        goto done;
    }
    PyObject *next = PyLong_FromLongLong(now + 1);
    if (next == NULL) {
        goto done;
    }
    r = PyDict_SetItem(vc, slot, next);
    Py_DECREF(next);
    if (r == 0) {
        result = Py_NewRef(Py_None);
    }
done:
    Py_XDECREF(key);
    Py_XDECREF(clock);
    Py_DECREF(slot);
    Py_DECREF(vc);
    Py_DECREF(me);
    return result;
}

static PyObject *
Core_acquire(Core *self, PyObject *obj)
{
    if (inside) {
        Py_RETURN_NONE;
    }
    PyObject *slot, *vc, *key = NULL, *clock = NULL, *result = NULL;
    PyObject *me = thread_clock(self, &slot, &vc);
    if (me == NULL) {
        return NULL;
    }
    PyThread_type_lock lk = stripe(self, obj);
    if ((key = PyLong_FromVoidPtr(obj)) == NULL) {
        goto done;
    }
    lock(lk);
    int r = dict_get(self->sync, key, &clock);
    if (r > 0) {
        r = PyDict_Check(clock) ? join_clock(vc, clock) : -1;
        if (r < 0 && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a sync clock must be a dict");
        }
    }
    unlock(lk);
    if (r >= 0) {
        result = Py_NewRef(Py_None);
    }
done:
    Py_XDECREF(key);
    Py_XDECREF(clock);
    Py_DECREF(slot);
    Py_DECREF(vc);
    Py_DECREF(me);
    return result;
}

static PyObject *
Core_clock_of(Core *self, PyObject *obj)
{
    PyObject *key = PyLong_FromVoidPtr(obj), *clock = NULL, *copy = NULL;
    if (key == NULL) {
        return NULL;
    }
    PyThread_type_lock lk = stripe(self, obj);
    lock(lk);
    int r = dict_get(self->sync, key, &clock);
    copy = r > 0 ? PyDict_Copy(clock) : r == 0 ? PyDict_New() : NULL;
    unlock(lk);
    Py_DECREF(key);
    Py_XDECREF(clock);
    return copy;
}

static PyMethodDef Core_methods[] = {
    {"clock_of", (PyCFunction)Core_clock_of, METH_O,
     "clock_of(obj): a copy of the clock that releases of obj left."},
    {"access", (PyCFunction)(void (*)(void))Core_access, METH_FASTCALL,
     "access(obj, key, write, describe, atomic=False): record an access, report races."},
    {"acquire", (PyCFunction)Core_acquire, METH_O, "acquire(obj): the thread acquired obj."},
    {"release", (PyCFunction)Core_release, METH_O, "release(obj): the thread releases obj."},
    {NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A detector's access/acquire/release, in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_traverse = (traverseproc)Core_traverse,
    .tp_clear = (inquiry)Core_clear,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

/* ---- module ---------------------------------------------------------------- */

static struct PyModuleDef accel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "threadline.race._accel",
    .m_doc = "The race detector's hot path in C (optional; see _detector.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
#ifdef Py_GIL_DISABLED
    PyErr_SetString(PyExc_ImportError,
                    "threadline.race._accel relies on the GIL; free-threaded builds use the "
                    "Python path");
    return NULL;
#endif
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_slot, "slot"},
        {&s_vc, "vc"},
        {&s_cached_frame, "cached_frame"},
        {&s_cached_callers, "cached_callers"},
        {&s_cached_raws, "cached_raws"},
        {&s_last_read, "last_read"},
        {&s_last_write, "last_write"},
        {&s_thread, "_thread"},
        {&s_drain_dead, "_drain_dead"},
        {&s_new_location, "_new_location"},
        {&s_report, "_report"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&LocationType) < 0 || PyType_Ready(&CoreType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&accel_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Location", (PyObject *)&LocationType) < 0 ||
        PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
