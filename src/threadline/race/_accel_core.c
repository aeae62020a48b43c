/* The race detector's hot path in C, the core: Core, the twin of
 * Detector.access, .acquire, .release, .clock_of, .stored, .tick and
 * .fetched in _detector.py, with Location and ThreadInfo, the twins of
 * _Location and ThreadInfo there.  (The hooks are in _accel_hooks.c; what
 * the files share, in _accel.h.)
 *
 * The Python code stays the reference, and the fallback where this module
 * is not built.  This is the same algorithm on the same containers (the
 * Python detector's dicts, lent to Core), so either path reads what the
 * other wrote, but not a line-for-line copy: it caches stacks per
 * instruction offset and per call site, reads a location without its lock
 * on the same-epoch fast path, and hands the rare cases back to the
 * Python detector's methods (_thread: a thread never seen; _new_location:
 * a dead object's leftovers under a reused id, an item keyed by an object
 * that may be held weakly; _sweep, _drain_dead, _report).  Like the Python
 * path, it keeps no program object alive (see "Lifetimes" in
 * _detector.py): its stack cache holds codes and instruction offsets,
 * never a frame, and a location's description holds names, not a type.  tests/race/test_accel_model.py runs random schedules through
 * both and requires the same races with the same stacks.
 *
 * Locking.  A thread's vector clock is read and written by that thread
 * only.  Locations, sync clocks and hand-off entries are guarded by stripe
 * locks of this module's own (PyThread locks, picked by id >> 4 as
 * _detector.py picks its RLocks; a detector runs one path or the other,
 * never both).  A thread that finds one taken waits with the GIL released.
 * A stripe lock is a leaf, and no Python code runs while it is held (code
 * that ran there could lose the GIL, and another thread would block on the
 * lock and then wait a whole switch interval for the GIL; a finalizer that
 * ran there could block on a program lock whose holder waits for this
 * stripe):
 *   - every dict used under it is keyed by ints (ids, slots), so no
 *     program's __hash__ or __eq__ runs;
 *   - the garbage collector is off while it is held (lock() disables it,
 *     unlock() turns it back on if it was on: 3.11 collects on allocation);
 *   - the epochs and read sets a check replaces are freed after the lock is
 *     released (check_locked): the last reference to an epoch can be the
 *     last to a ThreadInfo, whose fields can run a finalizer; what
 *     else is dropped under it is ints and this thread's own epochs.
 * The shadow (keyed by (id, the program's key)) is looked up and filled
 * without a stripe lock (dict.setdefault), and the calls back into the
 * Python detector are made with none held.
 *
 * Re-entry.  Program code that runs inside a Core call, outside a stripe
 * lock (a finalizer run by a collection, a key's __hash__), calls Core
 * again like any program code: its accesses and sync operations count, as
 * on the Python path.  ``inside`` (set while this thread holds a stripe
 * lock) makes Core ignore calls that would come from under a stripe lock,
 * a guard against deadlock for code that the rules above keep out.
 *
 * The same-epoch fast path of access() reads a location without its
 * stripe lock: once the shadow lookup has returned (it can run the key's
 * __hash__/__eq__), it runs no Python code and only reads and takes
 * references, and under the GIL such a sequence of C calls is atomic.
 * That is why the module refuses to load on a free-threaded build (see
 * _accel_module.c).
 */
#include "_accel.h"

#define STACK_DEPTH 16

/* ---- ThreadInfo: a (logical) thread's clock and caches (see _detector.py) -- */

enum {
    TI_SLOT, TI_NAME, TI_CREATED_AT, TI_VC, TI_CACHED_STACK, TI_LAST_READ, TI_LAST_WRITE,
    TI_FIELDS
};

typedef struct {
    PyObject_HEAD
    PyObject *f[TI_FIELDS];
} ThreadInfoObject;

static PyTypeObject ThreadInfoType;
static PyObject **ti_names[TI_FIELDS] = {
    &s_slot, &s_name, &s_created_at, &s_vc, &s_cached_stack, &s_last_read, &s_last_write,
};

/* Field *i* of a ThreadInfo (this module's, or the Python dataclass). */
static PyObject *
ti_get(PyObject *me, int i)
{
    if (Py_IS_TYPE(me, &ThreadInfoType)) {
        PyObject *v = ((ThreadInfoObject *)me)->f[i];
        return Py_NewRef(v != NULL ? v : Py_None);
    }
    return PyObject_GetAttr(me, *ti_names[i]);
}

static int
ti_set(PyObject *me, int i, PyObject *value)
{
    if (Py_IS_TYPE(me, &ThreadInfoType)) {
        Py_XSETREF(((ThreadInfoObject *)me)->f[i], Py_NewRef(value));
        return 0;
    }
    return PyObject_SetAttr(me, *ti_names[i], value);
}

static int
ThreadInfo_init(ThreadInfoObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"slot", "name", "created_at", "vc", NULL};
    PyObject *slot, *name, *created_at, *vc = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO|O!:ThreadInfo", kwlist, &PyLong_Type,
                                     &slot, &name, &created_at, &PyDict_Type, &vc)) {
        return -1;
    }
    PyObject *values[TI_FIELDS] = {
        Py_NewRef(slot), Py_NewRef(name), Py_NewRef(created_at),
        vc != NULL ? Py_NewRef(vc) : PyDict_New(), Py_NewRef(Py_None), Py_NewRef(Py_None),
        Py_NewRef(Py_None),
    };
    int ok = 1;
    for (int i = 0; i < TI_FIELDS; i++) {
        ok = ok && values[i] != NULL;
    }
    for (int i = 0; i < TI_FIELDS; i++) {
        if (ok) {
            Py_XSETREF(self->f[i], values[i]);
        }
        else {
            Py_XDECREF(values[i]);
        }
    }
    return ok ? 0 : -1;
}

static int
ThreadInfo_traverse(ThreadInfoObject *self, visitproc visit, void *arg)
{
    for (int i = 0; i < TI_FIELDS; i++) {
        Py_VISIT(self->f[i]);
    }
    return 0;
}

static int
ThreadInfo_clear(ThreadInfoObject *self)
{
    for (int i = 0; i < TI_FIELDS; i++) {
        Py_CLEAR(self->f[i]);
    }
    return 0;
}

static void
ThreadInfo_dealloc(ThreadInfoObject *self)
{
    PyObject_GC_UnTrack(self);
    ThreadInfo_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
ThreadInfo_repr(ThreadInfoObject *self)
{
    return PyUnicode_FromFormat("ThreadInfo(slot=%R, name=%R)", self->f[TI_SLOT],
                                self->f[TI_NAME]);
}

#define TI_MEMBER(name, i) \
    {name, T_OBJECT, offsetof(ThreadInfoObject, f) + (i) * sizeof(PyObject *), 0, NULL}

static PyMemberDef ThreadInfo_members[] = {
    TI_MEMBER("slot", TI_SLOT),
    TI_MEMBER("name", TI_NAME),
    TI_MEMBER("created_at", TI_CREATED_AT),
    TI_MEMBER("vc", TI_VC),
    TI_MEMBER("cached_stack", TI_CACHED_STACK),
    TI_MEMBER("last_read", TI_LAST_READ),
    TI_MEMBER("last_write", TI_LAST_WRITE),
    {NULL},
};

NEW_FROM_INIT(ThreadInfo, ThreadInfoObject)

static PyTypeObject ThreadInfoType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.ThreadInfo",
    .tp_basicsize = sizeof(ThreadInfoObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A thread's (or task's) slot, vector clock and stack caches.",
    .tp_new = ThreadInfo_new,
    .tp_traverse = (traverseproc)ThreadInfo_traverse,
    .tp_clear = (inquiry)ThreadInfo_clear,
    .tp_dealloc = (destructor)ThreadInfo_dealloc,
    .tp_repr = (reprfunc)ThreadInfo_repr,
    .tp_members = ThreadInfo_members,
};

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

/* An epoch as the checks read it: a tuple of *size* items, the first two
 * ints (slot, time: a write's) or the first an int (time: a read's). */
static int
is_epoch(PyObject *epoch, Py_ssize_t size)
{
    return PyTuple_CheckExact(epoch) && PyTuple_GET_SIZE(epoch) == size &&
           PyLong_Check(PyTuple_GET_ITEM(epoch, 0)) &&
           (size == 3 || PyLong_Check(PyTuple_GET_ITEM(epoch, 1)));
}

/* kind: 0 anything, 1 a write epoch or None, 2 a dict of read epochs */
static int
Location_set(PyObject **field, PyObject *value, const char *name, int kind)
{
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "cannot delete Location.%s", name);
        return -1;
    }
    int ok = 1;
    if (kind == 1) {
        ok = value == Py_None || is_epoch(value, 5);
    }
    else if (kind == 2) {
        ok = PyDict_CheckExact(value);
        Py_ssize_t pos = 0;
        PyObject *slot, *epoch;
        while (ok && PyDict_Next(value, &pos, &slot, &epoch)) {
            ok = PyLong_Check(slot) && is_epoch(epoch, 3);
        }
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError,
                     kind == 1 ? "Location.write must be None or (slot, time, atomic, thread, "
                                 "stack), not %R"
                               : "Location.reads must be a dict of slot -> (time, thread, "
                                 "stack), not %R",
                     value);
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
Location_set_write(Location *self, PyObject *v, void *c) { return Location_set(&self->write, v, "write", 1); }
static int
Location_set_reads(Location *self, PyObject *v, void *c) { return Location_set(&self->reads, v, "reads", 2); }

static PyGetSetDef Location_getset[] = {
    {"what", (getter)Location_get_what, (setter)Location_set_what, NULL, NULL},
    {"write", (getter)Location_get_write, (setter)Location_set_write, NULL, NULL},
    {"reads", (getter)Location_get_reads, (setter)Location_set_reads, NULL, NULL},
    {"owner", (getter)Location_get_owner, NULL, NULL, NULL},
    {NULL},
};

NEW_FROM_INIT(Location, Location)

static PyTypeObject LocationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Location",
    .tp_basicsize = sizeof(Location),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The shadow of one location: what it is, its last write, its unordered reads.",
    .tp_new = Location_new,
    .tp_traverse = (traverseproc)Location_traverse,
    .tp_clear = (inquiry)Location_clear,
    .tp_dealloc = (destructor)Location_dealloc,
    .tp_getset = Location_getset,
};


static int
Core_traverse(Core *self, visitproc visit, void *arg)
{
    Py_VISIT(self->detector);
    Py_VISIT(self->threads);
    Py_VISIT(self->shadow);
    Py_VISIT(self->dead);
    Py_VISIT(self->sync);
    Py_VISIT(self->sync_keep);
    Py_VISIT(self->objects);
    Py_VISIT(self->kept);
    Py_VISIT(self->watch_type);
    Py_VISIT(self->died);
    Py_VISIT(self->handoff);
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
    Py_CLEAR(self->objects);
    Py_CLEAR(self->kept);
    Py_CLEAR(self->watch_type);
    Py_CLEAR(self->died);
    Py_CLEAR(self->handoff);
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
    PyObject *detector, *threads, *shadow, *dead, *sync, *sync_keep, *own_prefix, *objects,
        *kept, *watch_type, *handoff;
    Py_ssize_t n, sweep_every;
    static char *kwlist[] = {"detector", "threads", "shadow", "dead", "sync", "sync_keep",
                             "own_prefix", "stripes", "objects", "kept", "watch_type",
                             "sweep_every", "handoff", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "$OO!O!OO!O!UnO!O!O!nO!:Core", kwlist, &detector,
                                     &PyDict_Type, &threads, &PyDict_Type, &shadow, &dead,
                                     &PyDict_Type, &sync, &PyDict_Type, &sync_keep, &own_prefix,
                                     &n, &PyDict_Type, &objects, &PyDict_Type, &kept,
                                     &PyType_Type, &watch_type, &sweep_every, &PyDict_Type,
                                     &handoff)) {
        return -1;
    }
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "stripes must be at least 1, got %zd", n);
        return -1;
    }
    PyObject *died = PyObject_GetAttrString(dead, "append");
    if (died == NULL) {
        return -1;
    }
    Core_clear(self);
    free_locks(self);
    self->died = died;
    self->objects = Py_NewRef(objects);
    self->kept = Py_NewRef(kept);
    self->watch_type = Py_NewRef(watch_type);
    self->handoff = Py_NewRef(handoff);
    self->sweep_every = sweep_every;
    self->new_objects = 0;
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

/* How many stripe locks this thread holds (0 or 1): Core ignores the
 * calls made meanwhile, which would take a stripe lock again and deadlock
 * (none are made: no Python code runs under a stripe lock, see the top). */
static _Thread_local int inside;
/* Whether the collector was on when this thread took its stripe lock: it
 * is off while one is held (see the top).  Nothing under a stripe lock
 * releases the GIL, so no other thread sees the switch. */
static _Thread_local int collecting;

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
    collecting = PyGC_Disable();
}

static void
unlock(PyThread_type_lock lk)
{
    if (collecting) {
        PyGC_Enable();
    }
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

/* Are *frame*'s callers at the (code, instruction offset)s of *chain*, the
 * walk ending after them where program_stack's does (at the bottom, at
 * threadline's first frame, or after STACK_DEPTH - 1 callers)?  1, 0, or
 * -1 with an exception set.  Borrows nothing beyond the call: codes are
 * compared with the ones *chain* holds, frames by what they run. */
static int
same_chain(Core *self, PyFrameObject *frame, PyObject *chain)
{
    Py_ssize_t n = PyTuple_GET_SIZE(chain);
    PyFrameObject *up = PyFrame_GetBack(frame);
    int same = 1;
    for (Py_ssize_t i = 0; i < n && same; i++) {
        PyObject *pair = PyTuple_GET_ITEM(chain, i);
        if (up == NULL || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            same = 0;
            break;
        }
        PyCodeObject *code = PyFrame_GetCode(up);
        same = (PyObject *)code == PyTuple_GET_ITEM(pair, 0) &&
               PyLong_CheckExact(PyTuple_GET_ITEM(pair, 1)) &&
               PyLong_AsLong(PyTuple_GET_ITEM(pair, 1)) == PyFrame_GetLasti(up);
        Py_DECREF(code);
        PyFrameObject *next = PyFrame_GetBack(up);
        Py_DECREF(up);
        up = next;
    }
    if (same && up != NULL && n < STACK_DEPTH - 1) {
        PyCodeObject *code = PyFrame_GetCode(up);
        same = is_own(self, code);
        Py_DECREF(code);
    }
    Py_XDECREF(up);
    return same;
}

/* A new cache for *frame* (see program_stack in _detector.py): (its code,
 * its callers as (code, line), the same as (code, offset), {}). */
static PyObject *
new_stack_cache(Core *self, PyFrameObject *frame)
{
    PyObject *callers = PyList_New(0), *chain = PyList_New(0), *cache = NULL;
    PyFrameObject *up = callers && chain ? PyFrame_GetBack(frame) : NULL;
    int ok = callers != NULL && chain != NULL;
    while (ok && up != NULL && PyList_GET_SIZE(callers) < STACK_DEPTH - 1) {
        PyCodeObject *code = PyFrame_GetCode(up);
        int own = is_own(self, code);
        PyObject *lasti = own ? NULL : PyLong_FromLong(PyFrame_GetLasti(up));
        PyObject *pair = lasti ? PyTuple_Pack(2, (PyObject *)code, lasti) : NULL;
        Py_XDECREF(lasti);
        Py_DECREF(code);
        if (own) {
            ok = own > 0;
            break;
        }
        PyObject *here = pair ? code_line(up) : NULL;
        ok = here != NULL && PyList_Append(callers, here) == 0 && PyList_Append(chain, pair) == 0;
        Py_XDECREF(here);
        Py_XDECREF(pair);
        PyFrameObject *next = PyFrame_GetBack(up);
        Py_DECREF(up);
        up = next;
    }
    Py_XDECREF(up);
    if (ok) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *callers_t = PyList_AsTuple(callers), *chain_t = PyList_AsTuple(chain);
        PyObject *raws = PyDict_New();
        if (callers_t && chain_t && raws) {
            cache = PyTuple_Pack(4, (PyObject *)code, callers_t, chain_t, raws);
        }
        Py_DECREF(code);
        Py_XDECREF(callers_t);
        Py_XDECREF(chain_t);
        Py_XDECREF(raws);
    }
    Py_XDECREF(callers);
    Py_XDECREF(chain);
    return cache;
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
    /* The cache holds no frame (see program_stack in _detector.py): it hits
       when the frame runs the cached code and its callers are at the
       cached offsets.  Its stacks are by the frame's instruction offset
       (finding a line number walks the line table). */
    PyObject *cache = ti_get(me, TI_CACHED_STACK), *raw = NULL, *lasti = NULL;
    if (cache == NULL) {
        goto done;
    }
    int same = 0;
    if (PyTuple_Check(cache) && PyTuple_GET_SIZE(cache) == 4 &&
        PyTuple_Check(PyTuple_GET_ITEM(cache, 1)) && PyTuple_Check(PyTuple_GET_ITEM(cache, 2)) &&
        PyDict_Check(PyTuple_GET_ITEM(cache, 3))) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        same = (PyObject *)code == PyTuple_GET_ITEM(cache, 0);
        Py_DECREF(code);
        if (same) {
            same = same_chain(self, frame, PyTuple_GET_ITEM(cache, 2));
        }
    }
    if (same <= 0) {
        Py_CLEAR(cache);
        /* one store: a finalizer that accesses meanwhile finds either cache whole */
        if (same < 0 || (cache = new_stack_cache(self, frame)) == NULL ||
            ti_set(me, TI_CACHED_STACK, cache) < 0) {
            goto done;
        }
    }
    PyObject *raws = PyTuple_GET_ITEM(cache, 3);
    if ((lasti = PyLong_FromLong(PyFrame_GetLasti(frame))) == NULL ||
        dict_get(raws, lasti, &raw) != 0) {
        goto done;  /* seen this instruction of this code here: the same stack */
    }
    PyObject *callers = PyTuple_GET_ITEM(cache, 1);
    Py_ssize_t n = PyTuple_GET_SIZE(callers);
    PyObject *here = code_line(frame);
    if (here == NULL || (raw = PyTuple_New(n + 1)) == NULL) {
        Py_XDECREF(here);
        goto done;
    }
    PyTuple_SET_ITEM(raw, 0, here);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(raw, i + 1, Py_NewRef(PyTuple_GET_ITEM(callers, i)));
    }
    if (PyDict_SetItem(raws, lasti, raw) < 0) {
        Py_CLEAR(raw);
    }
done:
    Py_XDECREF(cache);
    Py_XDECREF(lasti);
    Py_DECREF(frame);
    return raw;
}

/* ---- first accesses (see _new_location in _detector.py) ------------------- */

/* What a report needs besides the type's name: a class's name as
 * (CLASS, qualname), or a module's name (see label_of in _detector.py). */
static PyObject *
label_of(PyObject *obj)
{
    if (PyType_Check(obj)) {
        PyObject *name = PyObject_GetAttrString(obj, "__qualname__");
        PyObject *label = name != NULL ? PyTuple_Pack(2, s_class, name) : NULL;
        Py_XDECREF(name);
        return label;
    }
    if (PyDict_Check(obj)) {
        PyObject *name = PyDict_GetItemWithError(obj, s_dunder_name);
        return name != NULL ? Py_NewRef(name) : PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    if (strcmp(Py_TYPE(obj)->tp_name, "module") == 0) {
        PyObject *name = PyObject_GetAttr(obj, s_dunder_name);
        if (name == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            name = Py_NewRef(Py_None);
        }
        return name;
    }
    return Py_NewRef(Py_None);
}

/* The object's watch, or None when it is not weakly referenceable (it is
 * kept alive instead, so its id is not reused while it is kept). */
static PyObject *
make_watch(Core *self, PyObject *obj, PyObject *oid)
{
    PyObject *watch = PyObject_CallFunctionObjArgs(self->watch_type, obj, self->died, NULL);
    if (watch == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            return NULL;
        }
        PyErr_Clear();
        return PyDict_SetItem(self->kept, oid, obj) < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (PyObject_SetAttr(watch, s_oid, oid) < 0) {
        Py_CLEAR(watch);
    }
    return watch;
}

/* Is *key* ("<item>", an object that can be weakly referenced)?  Such an
 * item's location may have to hold its key weakly: Detector._held_key
 * decides. */
static int
weak_item(PyObject *key)
{
    if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 2) {
        return 0;
    }
    PyObject *kind = PyTuple_GET_ITEM(key, 0), *item = PyTuple_GET_ITEM(key, 1);
    return PyUnicode_CheckExact(kind) && PyUnicode_CompareWithASCIIString(kind, "<item>") == 0 &&
           PyType_SUPPORTS_WEAKREFS(Py_TYPE(item));
}

/* The common cases of Detector._new_location, which takes the others (a
 * dead object's leftovers under the same id; an item keyed by an object
 * that may be held weakly). */
static PyObject *
new_location(Core *self, PyObject *obj, PyObject *oid, PyObject *key, PyObject *lkey,
             PyObject *describe)
{
    PyObject *entry;
    int r = dict_get(self->objects, oid, &entry);
    if (r < 0) {
        return NULL;
    }
    if (r == 0) {
        PyObject *watch = make_watch(self, obj, oid);
        PyObject *fresh = watch == NULL ? NULL : PyList_New(1);
        if (fresh == NULL) {
            Py_XDECREF(watch);
            return NULL;
        }
        PyList_SET_ITEM(fresh, 0, watch);
        entry = PyDict_SetDefault(self->objects, oid, fresh);
        Py_XINCREF(entry);
        Py_DECREF(fresh);
        if (entry == NULL) {
            return NULL;
        }
        if (++self->new_objects >= self->sweep_every) {
            self->new_objects = 0;
            /* returns how many new objects to see before the next sweep */
            PyObject *next = PyObject_CallMethod(self->detector, "_sweep", NULL);
            Py_ssize_t every = next == NULL ? -1 : PyLong_AsSsize_t(next);
            Py_XDECREF(next);
            if (every < 0) {
                if (!PyErr_Occurred()) {
                    PyErr_Format(PyExc_ValueError, "_sweep() returned %zd", every);
                }
                Py_DECREF(entry);
                return NULL;
            }
            self->sweep_every = every;
        }
    }
    PyObject *owner = PyList_Check(entry) && PyList_GET_SIZE(entry) > 0
                          ? Py_NewRef(PyList_GET_ITEM(entry, 0)) : NULL;
    int mine = owner == NULL ? 0 : owner == Py_None ? 1 : -2;
    if (mine == -2) {
#if PY_VERSION_HEX >= 0x030D0000
        PyObject *ref;
        mine = PyWeakref_GetRef(owner, &ref);
        if (mine >= 0) {
            mine = ref == obj;
            Py_XDECREF(ref);
        }
#else
        mine = PyWeakref_GetObject(owner) == obj;
#endif
    }
    if (mine > 0 && weak_item(key)) {
        mine = 0; /* an item keyed by an object: Detector._new_location holds it weakly */
    }
    if (mine <= 0) {
        Py_XDECREF(owner);
        Py_DECREF(entry);
        return mine < 0 ? NULL
                        : PyObject_CallMethodObjArgs(self->detector, s_new_location, obj, key,
                                                     lkey, describe, NULL);
    }
    /* names only, never the type (see Describe in _detector.py) */
    PyObject *label = label_of(obj), *kind = NULL, *what = NULL, *fresh = NULL, *loc = NULL;
    if (label != NULL && (kind = PyType_GetName(Py_TYPE(obj))) != NULL) {
        PyUnicode_InternInPlace(&kind);
        what = PyTuple_Pack(4, describe, kind, label, key);
    }
    if (what != NULL) {
        fresh = PyObject_CallFunctionObjArgs((PyObject *)&LocationType, what, owner, NULL);
    }
    if (fresh != NULL) {
        loc = PyDict_SetDefault(self->shadow, lkey, fresh);
        Py_XINCREF(loc);
        if (loc == fresh && PyList_Append(entry, key) < 0) {
            Py_CLEAR(loc);
        }
    }
    Py_XDECREF(label);
    Py_XDECREF(kind);
    Py_XDECREF(what);
    Py_XDECREF(fresh);
    Py_DECREF(owner);
    Py_DECREF(entry);
    return loc;
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
epoch_of(PyObject *me, int field, Py_ssize_t size, PyObject *slot_obj, long long now,
         PyObject *now_obj, int atomic, PyObject *raw)
{
    PyObject *last = ti_get(me, field);
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
    if (epoch != NULL && ti_set(me, field, epoch) < 0) {
        Py_CLEAR(epoch);
    }
    return epoch;
}

/* The checks and updates of access(), under the location's stripe lock;
 * *vc* is what the access is ordered after (the thread's clock, joined
 * with a hand-off clock: see hand_clock).
 * The epochs it replaces go to *old_reads and *old_write (new references,
 * or NULL), for the caller to free once the lock is released: freeing one
 * can free a ThreadInfo and what it holds, and run a finalizer. */
static int
check_locked(Location *loc, int write, int atomic, PyObject *me, PyObject *slot_obj,
             long long slot, PyObject *vc, long long now, PyObject *now_obj, PyObject *raw,
             PyObject **races, PyObject **old_reads, PyObject **old_write)
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
            *old_reads = loc->reads;
            loc->reads = fresh;
        }
        PyObject *epoch = epoch_of(me, TI_LAST_WRITE, 5, slot_obj, now, now_obj, atomic, raw);
        if (epoch == NULL) {
            return -1;
        }
        *old_write = loc->write;
        loc->write = epoch;
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
            *old_reads = loc->reads;
            loc->reads = kept;
        }
    }
    PyObject *epoch = epoch_of(me, TI_LAST_READ, 3, slot_obj, now, now_obj, atomic, raw);
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

/* ---- hand-offs (see Detector.stored/fetched in _detector.py) ------------- */

static int join_clock(PyObject *into, PyObject *from);
static PyObject *thread_clock(Core *self, PyObject **slot_out, PyObject **vc_out);

#define TUPLE_DEPTH 3

/* A value without locations: never handed over. */
static int
is_scalar(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    return v == Py_None || t == &PyLong_Type || t == &PyFloat_Type || t == &PyComplex_Type ||
           t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyBool_Type;
}

/* The entry handoff[oid] (a borrowed reference), checked; NULL if none. */
static PyObject *
handoff_entry(Core *self, PyObject *oid)
{
    PyObject *entry = PyDict_GetItemWithError(self->handoff, oid);
    if (entry != NULL &&
        !(PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2 &&
          PyDict_CheckExact(PyTuple_GET_ITEM(entry, 0)) &&
          PyDict_CheckExact(PyTuple_GET_ITEM(entry, 1)))) {
        PyErr_SetString(PyExc_TypeError, "a hand-off entry must be a tuple of two dicts");
        return NULL;
    }
    return entry;
}

/* A new entry (two new dicts) set at handoff[oid]: borrowed, or NULL. */
static PyObject *
new_handoff_entry(Core *self, PyObject *oid)
{
    PyObject *clock = PyDict_New(), *fetches = PyDict_New(), *entry = NULL;
    if (clock != NULL && fetches != NULL) {
        entry = PyTuple_Pack(2, clock, fetches);
    }
    Py_XDECREF(clock);
    Py_XDECREF(fetches);
    if (entry == NULL || PyDict_SetItem(self->handoff, oid, entry) < 0) {
        Py_XDECREF(entry);
        return NULL;
    }
    Py_DECREF(entry);  /* the dict holds it */
    return entry;
}

/* Is a thread with clock *vc* ordered after one of the entry's fetches? */
static int
entitled(PyObject *entry, PyObject *vc)
{
    Py_ssize_t pos = 0;
    PyObject *slot, *time;
    while (PyDict_Next(PyTuple_GET_ITEM(entry, 1), &pos, &slot, &time)) {
        long long have = clock_get(vc, slot);
        long long t = PyLong_AsLongLong(time);
        if ((have < 0 || t == -1) && PyErr_Occurred()) {
            return -1;
        }
        if (t <= have) {
            return 1;
        }
    }
    return 0;
}

/* What an access to object *oid* by a thread with clock *vc* is ordered
 * after, when that is more than vc: *eff = vc ⊔ the object's hand-off
 * clock (if the thread is entitled to it) ⊔ *seen*; else *eff = NULL.
 * Under the object's stripe lock. */
static int
hand_clock(Core *self, PyObject *oid, PyObject *vc, PyObject *seen, PyObject **eff)
{
    *eff = NULL;
    PyObject *entry = NULL;
    if (PyDict_GET_SIZE(self->handoff) > 0) {
        entry = handoff_entry(self, oid);
        if (entry == NULL && PyErr_Occurred()) {
            return -1;
        }
        if (entry != NULL) {
            int ok = entitled(entry, vc);
            if (ok < 0) {
                return -1;
            }
            if (!ok) {
                entry = NULL;
            }
        }
    }
    if (entry == NULL && seen == NULL) {
        return 0;
    }
    if ((*eff = PyDict_Copy(vc)) == NULL ||
        (entry != NULL && join_clock(*eff, PyTuple_GET_ITEM(entry, 0)) < 0) ||
        (seen != NULL && join_clock(*eff, seen) < 0)) {
        Py_CLEAR(*eff);
        return -1;
    }
    return 0;
}

/* Calls fn(self, obj, ctx) for each object that *value* hands over: itself,
 * or the items of a tuple (looked through TUPLE_DEPTH deep), never a
 * scalar.  Returns how many, or -1. */
typedef int (*handed_fn)(Core *self, PyObject *obj, void *ctx);

static Py_ssize_t
each_handed(Core *self, PyObject *value, int depth, handed_fn fn, void *ctx)
{
    if (is_scalar(value)) {
        return 0;
    }
    if (PyTuple_CheckExact(value) && depth < TUPLE_DEPTH) {
        Py_ssize_t count = 0;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); i++) {
            Py_ssize_t n = each_handed(self, PyTuple_GET_ITEM(value, i), depth + 1, fn, ctx);
            if (n < 0) {
                return -1;
            }
            count += n;
        }
        return count;
    }
    return fn(self, value, ctx) < 0 ? -1 : 1;
}

static int
store_one(Core *self, PyObject *obj, void *vc)
{
    PyObject *oid = PyLong_FromVoidPtr(obj);
    if (oid == NULL) {
        return -1;
    }
    PyThread_type_lock lk = stripe(self, obj);
    lock(lk);
    PyObject *entry = handoff_entry(self, oid);
    if (entry == NULL && !PyErr_Occurred()) {
        entry = new_handoff_entry(self, oid);
    }
    int r = entry == NULL ? -1 : join_clock(PyTuple_GET_ITEM(entry, 0), (PyObject *)vc);
    unlock(lk);
    Py_DECREF(oid);
    return r;
}

/* Detector.stored: 1 when something was handed over, 0 if not, -1. */
int
core_stored(Core *self, PyObject *value)
{
    if (inside || is_scalar(value)) {
        return 0;
    }
    PyObject *slot, *vc;
    PyObject *me = thread_clock(self, &slot, &vc);
    if (me == NULL) {
        return -1;
    }
    Py_ssize_t n = each_handed(self, value, 0, store_one, vc);
    Py_DECREF(slot);
    Py_DECREF(vc);
    Py_DECREF(me);
    return n < 0 ? -1 : n > 0;
}

static PyObject *
Core_stored(Core *self, PyObject *value)
{
    int r = core_stored(self, value);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

int
core_tick(Core *self)
{
    if (inside) {
        return 0;
    }
    PyObject *slot, *vc;
    PyObject *me = thread_clock(self, &slot, &vc);
    if (me == NULL) {
        return -1;
    }
    long long now = clock_get(vc, slot);
    PyObject *next = now < 0 && PyErr_Occurred() ? NULL : PyLong_FromLongLong(now + 1);
    int r = next == NULL ? -1 : PyDict_SetItem(vc, slot, next);
    Py_XDECREF(next);
    Py_DECREF(slot);
    Py_DECREF(vc);
    Py_DECREF(me);
    return r;
}

static PyObject *
Core_tick(Core *self, PyObject *unused)
{
    if (core_tick(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

typedef struct {
    PyObject *inherited; /* the holder's clock, or NULL */
    int taken;
    PyObject *slot, *now;
    PyObject *seen;      /* with taken: the joined clocks, made on first use */
} FetchCtx;

static int
fetch_one(Core *self, PyObject *obj, void *arg)
{
    FetchCtx *ctx = arg;
    PyObject *oid = PyLong_FromVoidPtr(obj);
    if (oid == NULL) {
        return -1;
    }
    PyThread_type_lock lk = stripe(self, obj);
    lock(lk);
    int r = 0;
    PyObject *entry = handoff_entry(self, oid);
    if (entry == NULL && PyErr_Occurred()) {
        r = -1;
    }
    else if (entry == NULL && ctx->inherited != NULL) {
        entry = new_handoff_entry(self, oid);
        r = entry == NULL ? -1 : 0;
    }
    if (entry != NULL) {
        PyObject *clock = PyTuple_GET_ITEM(entry, 0);
        if (ctx->inherited != NULL) {
            r = join_clock(clock, ctx->inherited);
        }
        if (r == 0 && PyDict_SetDefault(PyTuple_GET_ITEM(entry, 1), ctx->slot, ctx->now) == NULL) {
            r = -1;
        }
        if (r == 0 && ctx->taken) {
            if (ctx->seen == NULL && (ctx->seen = PyDict_New()) == NULL) {
                r = -1;
            }
            else {
                r = join_clock(ctx->seen, clock);
            }
        }
    }
    unlock(lk);
    Py_DECREF(oid);
    return r;
}

/* Detector.fetched: a new reference to the clock of what *value* hands
 * over (with *taken*), or to None. */
PyObject *
core_fetched(Core *self, PyObject *value, PyObject *holder, int taken)
{
    if (inside || PyDict_GET_SIZE(self->handoff) == 0 || is_scalar(value)) {
        Py_RETURN_NONE;
    }
    PyObject *slot, *vc, *result = NULL;
    PyObject *me = thread_clock(self, &slot, &vc);
    if (me == NULL) {
        return NULL;
    }
    FetchCtx ctx = {NULL, taken, slot, NULL, NULL};
    if (holder != NULL && holder != Py_None) {
        PyObject *hid = PyLong_FromVoidPtr(holder);
        if (hid == NULL) {
            goto done;
        }
        PyThread_type_lock lk = stripe(self, holder);
        lock(lk);
        PyObject *entry = handoff_entry(self, hid);
        int ok = entry == NULL ? (PyErr_Occurred() ? -1 : 0) : entitled(entry, vc);
        if (ok > 0 && (ctx.inherited = PyDict_Copy(PyTuple_GET_ITEM(entry, 0))) == NULL) {
            ok = -1;
        }
        unlock(lk);
        Py_DECREF(hid);
        if (ok < 0) {
            goto done;
        }
    }
    if (ctx.inherited == NULL && !taken) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (dict_get(vc, slot, &ctx.now) <= 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_KeyError, "a thread's own slot is missing from its clock");
        }
        goto done;
    }
    if (each_handed(self, value, 0, fetch_one, &ctx) < 0) {
        goto done;
    }
    result = ctx.seen != NULL ? Py_NewRef(ctx.seen) : Py_NewRef(Py_None);
done:
    Py_XDECREF(ctx.inherited);
    Py_XDECREF(ctx.now);
    Py_XDECREF(ctx.seen);
    Py_DECREF(slot);
    Py_DECREF(vc);
    Py_DECREF(me);
    return result;
}

static PyObject *
Core_fetched(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "fetched(value, holder=None, taken=False) takes 1 to 3 arguments, got %zd",
                     nargs);
        return NULL;
    }
    int taken = nargs > 2 ? PyObject_IsTrue(args[2]) : 0;
    if (taken < 0) {
        return NULL;
    }
    return core_fetched(self, args[0], nargs > 1 ? args[1] : NULL, taken);
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

int
core_access(Core *self, PyObject *obj, PyObject *key, int write, PyObject *describe, int atomic,
            PyObject *seen)
{
    if (inside) {
        return 0;
    }
    int result = -1;
    PyObject *me = NULL, *slot_obj = NULL, *vc = NULL, *now_obj = NULL, *oid = NULL,
             *lkey = NULL, *raw = NULL, *races = NULL;
    Location *loc = NULL;
    if ((me = current_thread(self)) == NULL || (slot_obj = ti_get(me, TI_SLOT)) == NULL ||
        (vc = ti_get(me, TI_VC)) == NULL) {
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
            result = 0;
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
        found = new_location(self, obj, oid, key, lkey, describe);
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
    PyObject *old_reads = NULL, *old_write = NULL, *eff = NULL;
    lock(lk);
    r = hand_clock(self, oid, vc, seen, &eff);
    if (r == 0) {
        r = check_locked(loc, write, atomic, me, slot_obj, slot, eff ? eff : vc, now, now_obj,
                         raw, &races, &old_reads, &old_write);
    }
    unlock(lk);
    Py_XDECREF(eff);
    Py_XDECREF(old_reads);
    Py_XDECREF(old_write);
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
    result = 0;
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

static PyObject *
Core_access(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 4 || nargs > 6) {
        PyErr_Format(PyExc_TypeError,
                     "access(obj, key, write, describe, atomic=False, seen=None) takes 4 to 6 "
                     "arguments, got %zd", nargs);
        return NULL;
    }
    PyObject *seen = nargs > 5 && args[5] != Py_None ? args[5] : NULL;
    if (seen != NULL && !PyDict_Check(seen)) {
        PyErr_Format(PyExc_TypeError, "access(): seen must be a dict or None, not %.100s",
                     Py_TYPE(seen)->tp_name);
        return NULL;
    }
    int write = PyObject_IsTrue(args[2]);
    int atomic = nargs > 4 ? PyObject_IsTrue(args[4]) : 0;
    if (write < 0 || atomic < 0 ||
        core_access(self, args[0], args[1], write, args[3], atomic, seen) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
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
    *slot_out = ti_get(me, TI_SLOT);
    *vc_out = *slot_out ? ti_get(me, TI_VC) : NULL;
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

PyObject *
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

PyObject *
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
    if (inside) {
        return PyDict_New();
    }
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
    {"stored", (PyCFunction)Core_stored, METH_O,
     "stored(value): value is about to be stored in a builtin container."},
    {"tick", (PyCFunction)Core_tick, METH_NOARGS, "tick(): end the thread's epoch."},
    {"fetched", (PyCFunction)(void (*)(void))Core_fetched, METH_FASTCALL,
     "fetched(value, holder=None, taken=False): value was read from holder."},
    {NULL},
};

NEW_FROM_INIT(Core, Core)

PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A detector's access/acquire/release, in C.",
    .tp_new = Core_new,
    .tp_traverse = (traverseproc)Core_traverse,
    .tp_clear = (inquiry)Core_clear,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

int
accel_core_types(PyObject *m)
{
    if (PyType_Ready(&ThreadInfoType) < 0 || PyType_Ready(&LocationType) < 0 ||
        PyType_Ready(&CoreType) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "ThreadInfo", (PyObject *)&ThreadInfoType) < 0 ||
        PyModule_AddObjectRef(m, "Location", (PyObject *)&LocationType) < 0 ||
        PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0) {
        return -1;
    }
    return 0;
}
