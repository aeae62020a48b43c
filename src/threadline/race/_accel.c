/* The race detector's hot path in C: Detector.access, .acquire, .release,
 * .stored, .tick, .fetched (hand-offs through builtin containers).
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
#include <structmember.h>
#include <stddef.h>

/* Construction runs the type's init from tp_new, and there is no
 * __init__: no object is ever seen half made (Type.__new__(Type)) or made
 * twice (a second __init__ under a thread that is using it). */
#define NEW_FROM_INIT(Name, Struct)                                              \
    static PyObject *Name##_new(PyTypeObject *type, PyObject *args, PyObject *kwds) \
    {                                                                            \
        PyObject *self = type->tp_alloc(type, 0);                                \
        if (self != NULL && Name##_init((Struct *)self, args, kwds) < 0) {       \
            Py_CLEAR(self);                                                      \
        }                                                                        \
        return self;                                                             \
    }

#define STACK_DEPTH 16

static PyObject *s_held, *s_slot, *s_name, *s_created_at, *s_vc, *s_cached_frame, *s_cached_callers, *s_cached_raws, *s_items, *s_acquire, *s_enter, *s_exit, *s_last_read,
    *s_last_write, *s_cached_code, *s_cached_parent, *s_cached_parent_lasti, *s_oid, *s_dunder_name, *s_thread, *s_drain_dead, *s_new_location, *s_report;

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

/* ---- ThreadInfo: a (logical) thread's clock and caches (see _detector.py) -- */

enum {
    TI_SLOT, TI_NAME, TI_CREATED_AT, TI_VC, TI_CACHED_FRAME, TI_CACHED_CALLERS,
    TI_CACHED_RAWS, TI_LAST_READ, TI_LAST_WRITE, TI_CACHED_CODE, TI_CACHED_PARENT,
    TI_CACHED_PARENT_LASTI, TI_FIELDS
};

typedef struct {
    PyObject_HEAD
    PyObject *f[TI_FIELDS];
} ThreadInfoObject;

static PyTypeObject ThreadInfoType;
static PyObject **ti_names[TI_FIELDS] = {
    &s_slot, &s_name, &s_created_at, &s_vc, &s_cached_frame, &s_cached_callers,
    &s_cached_raws, &s_last_read, &s_last_write, &s_cached_code, &s_cached_parent,
    &s_cached_parent_lasti,
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
        vc != NULL ? Py_NewRef(vc) : PyDict_New(), Py_NewRef(Py_None), PyTuple_New(0),
        PyDict_New(), Py_NewRef(Py_None), Py_NewRef(Py_None), Py_NewRef(Py_None),
        Py_NewRef(Py_None), Py_NewRef(Py_None),
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
    TI_MEMBER("cached_frame", TI_CACHED_FRAME),
    TI_MEMBER("cached_callers", TI_CACHED_CALLERS),
    TI_MEMBER("cached_raws", TI_CACHED_RAWS),
    TI_MEMBER("last_read", TI_LAST_READ),
    TI_MEMBER("last_write", TI_LAST_WRITE),
    TI_MEMBER("cached_code", TI_CACHED_CODE),
    TI_MEMBER("cached_parent", TI_CACHED_PARENT),
    TI_MEMBER("cached_parent_lasti", TI_CACHED_PARENT_LASTI),
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
    PyObject *objects;    /* id -> [watch, location keys...] */
    PyObject *kept;       /* id -> object kept alive */
    PyObject *watch_type; /* _detector._Watch */
    PyObject *died;       /* dead.append: a watch's callback */
    PyObject *handoff;    /* id -> (hand-off clock, fetches): see Detector.stored */
    Py_ssize_t sweep_every, new_objects;
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
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!OO!O!UnO!O!O!nO!:Core", kwlist, &detector,
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

/* A thread inside the detector (holding a stripe lock, or calling back
 * into Python from it) ignores its own accesses and sync operations: code
 * that runs there (a key's __hash__, a finalizer, the garbage collector)
 * is the detector's doing, not the program's, and taking a stripe lock
 * again would deadlock. */
static _Thread_local int inside;
/* Whether the collector was on when this thread took its stripe lock: none
 * runs under one (3.11 collects on allocation), since a finalizer it ran
 * could block on a lock held by a thread that waits for this stripe.
 * (Nothing under a stripe lock releases the GIL, so no other thread sees
 * the switch.) */
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

/* The frame's parent and the parent's instruction offset (None, -1 at the
 * bottom of the stack): a new reference. */
static PyObject *
parent_of(PyFrameObject *frame, long *lasti)
{
    PyFrameObject *parent = PyFrame_GetBack(frame);
    *lasti = parent != NULL ? PyFrame_GetLasti(parent) : -1;
    return parent != NULL ? (PyObject *)parent : Py_NewRef(Py_None);
}

/* Do the cached callers and stacks hold for *frame*?  They do for the
 * cached frame, and for another run of its code called from the same
 * place: the same parent frame, at the same instruction. */
static int
same_context(PyObject *me, PyFrameObject *frame)
{
    PyObject *cached = ti_get(me, TI_CACHED_FRAME);
    if (cached == NULL) {
        return -1;
    }
    Py_DECREF(cached);
    if (cached == (PyObject *)frame) {
        return 1;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *cached_code = ti_get(me, TI_CACHED_CODE);
    long lasti;
    PyObject *parent = parent_of(frame, &lasti);
    PyObject *cached_parent = ti_get(me, TI_CACHED_PARENT);
    PyObject *cached_lasti = ti_get(me, TI_CACHED_PARENT_LASTI);
    int same = -1;
    if (cached_code != NULL && cached_parent != NULL && cached_lasti != NULL) {
        same = cached_code == (PyObject *)code && cached_parent == parent &&
               PyLong_Check(cached_lasti) && PyLong_AsLong(cached_lasti) == lasti;
        if (same && ti_set(me, TI_CACHED_FRAME, (PyObject *)frame) < 0) {
            same = -1;
        }
    }
    Py_DECREF(code);
    Py_DECREF(parent);
    Py_XDECREF(cached_code);
    Py_XDECREF(cached_parent);
    Py_XDECREF(cached_lasti);
    return same;
}

static int
remember_context(PyObject *me, PyFrameObject *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame);
    long lasti;
    PyObject *parent = parent_of(frame, &lasti);
    PyObject *lasti_obj = PyLong_FromLong(lasti);
    int r = lasti_obj == NULL || ti_set(me, TI_CACHED_FRAME, (PyObject *)frame) < 0 ||
                    ti_set(me, TI_CACHED_CODE, (PyObject *)code) < 0 ||
                    ti_set(me, TI_CACHED_PARENT, parent) < 0 ||
                    ti_set(me, TI_CACHED_PARENT_LASTI, lasti_obj) < 0
                ? -1
                : 0;
    Py_DECREF(code);
    Py_DECREF(parent);
    Py_XDECREF(lasti_obj);
    return r;
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
    /* Stacks are cached by instruction offset (finding a line number
       walks the line table) for as long as the same frame accesses, or
       calls of the same code from the same place (a function called in a
       loop). */
    PyObject *callers = NULL, *raws = NULL, *raw = NULL, *lasti = NULL, *cached = NULL;
    int same = same_context(me, frame);
    if (same < 0 || (lasti = PyLong_FromLong(PyFrame_GetLasti(frame))) == NULL) {
        goto done;
    }
    if (same) {
        raws = ti_get(me, TI_CACHED_RAWS);
        if (raws != NULL && !PyDict_Check(raws)) {
            PyErr_SetString(PyExc_TypeError, "cached_raws must be a dict");
            Py_CLEAR(raws);
        }
        if (raws == NULL || dict_get(raws, lasti, &raw) != 0) {
            goto done;  /* seen this instruction of this frame: the same stack */
        }
        callers = ti_get(me, TI_CACHED_CALLERS);
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
            ((raws = PyDict_New()) == NULL || remember_context(me, frame) < 0 ||
             ti_set(me, TI_CACHED_CALLERS, callers) < 0 || ti_set(me, TI_CACHED_RAWS, raws) < 0)) {
            Py_CLEAR(callers);
        }
    }
    if (callers == NULL) {
        goto done;
    }
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
    Py_XDECREF(cached);
    Py_XDECREF(callers);
    Py_XDECREF(raws);
    Py_XDECREF(lasti);
    Py_DECREF(frame);
    return raw;
}

/* ---- first accesses (see _new_location in _detector.py) ------------------- */

/* What a report needs besides the type: a class's or module's name. */
static PyObject *
label_of(PyObject *obj)
{
    if (PyType_Check(obj)) {
        return PyObject_GetAttrString(obj, "__qualname__");
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

/* The common cases of Detector._new_location, which takes the others (a
 * dead object's leftovers under the same id). */
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
    if (mine <= 0) {
        Py_XDECREF(owner);
        Py_DECREF(entry);
        return mine < 0 ? NULL
                        : PyObject_CallMethodObjArgs(self->detector, s_new_location, obj, key,
                                                     lkey, describe, NULL);
    }
    PyObject *label = label_of(obj), *what = NULL, *fresh = NULL, *loc = NULL;
    if (label != NULL) {
        what = PyTuple_Pack(4, describe, (PyObject *)Py_TYPE(obj), label, key);
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
 * can free a ThreadInfo and the frame it caches, and run a finalizer. */
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
static int
stored(Core *self, PyObject *value)
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
    int r = stored(self, value);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static int
tick(Core *self)
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
    if (tick(self) < 0) {
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
static PyObject *
fetched(Core *self, PyObject *value, PyObject *holder, int taken)
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
    return fetched(self, args[0], nargs > 1 ? args[1] : NULL, taken);
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

static PyTypeObject CoreType = {
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

/* ---- Hooks: what instrumented code calls (see _hooks.py) ------------------- */

/* The C twins of the hottest Hooks methods; the Python ``Hooks`` object
 * puts them in its instance dict on the C path.  Each does exactly what
 * its Python namesake does; the rare shapes (slices) go to the Python
 * method. */
typedef struct {
    PyObject_HEAD
    Core *core;
    PyObject *py;          /* the Python Hooks object */
    PyObject *describe;    /* _hooks._describe */
    PyObject *local_type;  /* threading.local */
    PyObject *deque_type;  /* collections.deque */
    PyObject *containers;  /* (list, dict, set, deque) */
    PyObject *lock_types;  /* what ``with`` treats as a lock */
    PyObject *plain_locks; /* Lock and RLock types: acquire politely */
    PyObject *tables;      /* _hooks._TABLES: type -> method table or None */
    PyObject *table_for;   /* _hooks._table_for */
    PyObject *politely;    /* _core._convoy.acquire_politely */
    PyObject *py_ri, *py_wi; /* Hooks.ri, Hooks.wi: the Python functions */
    PyObject *stack;       /* threading.local: the aug-assign targets */
    PyObject *readers;     /* _hooks._WHOLE_READERS: builtins that read a whole container */
    PyObject *py_call;     /* Hooks.call: the Python function, for the other builtins */
    PyObject *len;         /* this object's _len, made on first use */
    PyObject *len_builtin; /* builtins.len */
    PyObject *shape, *all, *moved, *item, *global;
    PyObject *rname;       /* "__tl_race__": what instrumented code refers to */
    PyObject *getitem, *setitem, *mapping;
} Hooks;

static PyTypeObject HeldType;
static PyObject *zero;

static PyObject *
core_access(Core *core, PyObject *obj, PyObject *key, int write, PyObject *describe, int atomic)
{
    PyObject *args[5] = {obj, key, write ? Py_True : Py_False, describe,
                         atomic ? Py_True : Py_False};
    return Core_access(core, args, 5);
}

static int
rec(Hooks *h, PyObject *obj, PyObject *key, int write, int atomic)
{
    PyObject *r = core_access(h->core, obj, key, write, h->describe, atomic);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* A read that returned a value whose hand-off clock is *seen* (or NULL). */
static int
rec_seen(Hooks *h, PyObject *obj, PyObject *key, PyObject *seen)
{
    if (seen == NULL) {
        return rec(h, obj, key, 0, 0);
    }
    PyObject *args[6] = {obj, key, Py_False, h->describe, Py_False, seen};
    PyObject *r = Core_access(h->core, args, 6);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Is type(obj).<dunder> instrumented code, which records what it does
 * itself (see _records_itself in _hooks.py)?  Only classes made by Python
 * code (heap types) can be. */
static int
records_itself(Hooks *h, PyObject *obj, PyObject *dunder)
{
    if (!PyType_HasFeature(Py_TYPE(obj), Py_TPFLAGS_HEAPTYPE)) {
        return 0;
    }
    PyObject *fn = PyObject_GetAttr((PyObject *)Py_TYPE(obj), dunder);
    if (fn == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    PyObject *code = PyObject_GetAttrString(fn, "__code__");
    Py_DECREF(fn);
    if (code == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    int r = PyCode_Check(code) ? PySequence_Contains(((PyCodeObject *)code)->co_names, h->rname) : 0;
    Py_DECREF(code);
    return r;
}

/* A value read from *holder*: see Detector.fetched.  *seen* (when not
 * NULL) gets a new reference to the value's hand-off clock, or NULL. */
static int
hand_fetched(Hooks *h, PyObject *value, PyObject *holder, int taken, PyObject **seen)
{
    if (seen != NULL) {
        *seen = NULL;
    }
    if (PyDict_GET_SIZE(h->core->handoff) == 0) {
        return 0;
    }
    PyObject *r = fetched(h->core, value, holder, taken);
    if (r == NULL) {
        return -1;
    }
    if (seen != NULL && r != Py_None) {
        *seen = r;
    }
    else {
        Py_DECREF(r);
    }
    return 0;
}

static int
rec_pair(Hooks *h, PyObject *obj, PyObject *tag, PyObject *key, int write)
{
    PyObject *pair = PyTuple_Pack(2, tag, key);
    if (pair == NULL) {
        return -1;
    }
    int r = rec(h, obj, pair, write, 0);
    Py_DECREF(pair);
    return r;
}

/* An access to obj.name: a module's attributes are its globals; a
 * threading.local's are per thread. */
static int
attr_access(Hooks *h, PyObject *obj, PyObject *name, int write)
{
    if (Py_IS_TYPE(obj, &PyModule_Type)) {
        PyObject *ns = PyModule_GetDict(obj);
        return ns == NULL ? -1 : rec_pair(h, ns, h->global, name, write);
    }
    int local = PyObject_IsInstance(obj, h->local_type);
    if (local != 0) {
        return local < 0 ? -1 : 0;
    }
    return rec(h, obj, name, write, 0);
}

static PyObject *
read_attr(Hooks *h, PyObject *obj, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            /* still a read: of the attribute's absence */
            PyObject *type, *exc, *tb;
            PyErr_Fetch(&type, &exc, &tb);
            if (attr_access(h, obj, name, 0) < 0) {
                Py_XDECREF(type);
                Py_XDECREF(exc);
                Py_XDECREF(tb);
                return NULL;
            }
            PyErr_Restore(type, exc, tb);
        }
        return NULL;
    }
    int r = 0;
    if (Py_IS_TYPE(obj, &PyModule_Type)) {
        PyObject *ns = PyModule_GetDict(obj);
        r = ns == NULL ? -1 : rec_pair(h, ns, h->global, name, 0);
    }
    else if (!PyCallable_Check(value)) {
        r = PyObject_IsInstance(obj, h->local_type);
        if (r == 0) {
            r = rec(h, obj, name, 0, 0);
            /* reached through a handed object: handed over with it */
            if (r == 0) {
                r = hand_fetched(h, value, obj, 0, NULL);
            }
        }
    }
    if (r < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

static PyObject *
write_attr(Hooks *h, PyObject *obj, PyObject *name, PyObject *value)
{
    if (PyObject_SetAttr(obj, name, value) < 0 || attr_access(h, obj, name, 1) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
nargs_is(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments, got %zd", name, want, nargs);
        return 0;
    }
    return 1;
}

/* -- the aug-assign target stack -- */

static int
push(Hooks *h, PyObject *obj, PyObject *key)
{
    PyObject *items = PyObject_GetAttr(h->stack, s_items);
    if (items == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear();
        if ((items = PyList_New(0)) == NULL ||
            PyObject_SetAttr(h->stack, s_items, items) < 0) {
            Py_XDECREF(items);
            return -1;
        }
    }
    if (!PyList_Check(items)) {
        PyErr_Format(PyExc_TypeError, "the target stack must be a list, not %.100s",
                     Py_TYPE(items)->tp_name);
        Py_DECREF(items);
        return -1;
    }
    PyObject *entry = PyTuple_Pack(2, obj, key);
    int r = entry == NULL ? -1 : PyList_Append(items, entry);
    Py_XDECREF(entry);
    Py_DECREF(items);
    return r;
}

/* The top entry, popped: a new reference to a 2-tuple. */
static PyObject *
pop(Hooks *h)
{
    PyObject *items = PyObject_GetAttr(h->stack, s_items);
    if (items == NULL) {
        return NULL;
    }
    PyObject *entry = NULL;
    Py_ssize_t n = PyList_Check(items) ? PyList_GET_SIZE(items) : 0;
    if (n == 0) {
        PyErr_SetString(PyExc_RuntimeError, "augmented assignment stack is empty");
    }
    else {
        entry = Py_NewRef(PyList_GET_ITEM(items, n - 1));
        if (PyList_SetSlice(items, n - 1, n, NULL) < 0) {
            Py_CLEAR(entry);
        }
    }
    Py_DECREF(items);
    return entry;
}

/* -- items -- */

static int
is_sequence(Hooks *h, PyObject *obj)
{
    if (PyList_Check(obj)) {
        return 1;
    }
    /* by type, as for lists (see _SEQUENCES in _hooks.py) */
    return PyType_Check(h->deque_type) && PyType_IsSubtype(Py_TYPE(obj), (PyTypeObject *)h->deque_type);
}

/* ("<item>", key), negative indexes of a list or deque counted from its end. */
static PyObject *
item_key(Hooks *h, PyObject *obj, PyObject *key)
{
    int seq = is_sequence(h, obj);
    if (seq < 0) {
        return NULL;
    }
    if (seq && PyLong_Check(key)) {
        int negative = PyObject_RichCompareBool(key, zero, Py_LT);
        if (negative < 0) {
            return NULL;
        }
        if (negative) {
            Py_ssize_t size = PyObject_Length(obj);
            PyObject *len = size < 0 ? NULL : PyLong_FromSsize_t(size);
            PyObject *index = len == NULL ? NULL : PyNumber_Add(key, len);
            Py_XDECREF(len);
            if (index == NULL) {
                return NULL;
            }
            PyObject *pair = PyTuple_Pack(2, h->item, index);
            Py_DECREF(index);
            return pair;
        }
    }
    return PyTuple_Pack(2, h->item, key);
}

/* 1: the key names an item location as it is; 0: the Python hook takes
 * the access (a slice, or a key that cannot be hashed: see _keyable in
 * _hooks.py); -1: an error. */
static int
plain_key(PyObject *key)
{
    if (PyLong_CheckExact(key) || PyUnicode_CheckExact(key)) {
        return 1;
    }
    if (PySlice_Check(key)) {
        return 0;
    }
    if (PyObject_Hash(key) != -1) {
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
        return -1;
    }
    PyErr_Clear();
    return 0;
}

static PyObject *
read_item(Hooks *h, PyObject *obj, PyObject *key)
{
    int plain = plain_key(key);
    if (plain < 0) {
        return NULL;
    }
    if (!plain) {
        return PyObject_CallFunctionObjArgs(h->py_ri, h->py, obj, key, NULL);
    }
    PyObject *value = PyObject_GetItem(obj, key);
    if (value == NULL) {
        return NULL;
    }
    int r = records_itself(h, obj, h->getitem);
    if (r != 0) {
        if (r < 0) {
            Py_DECREF(value);
            return NULL;
        }
        return value;
    }
    int container = PyObject_IsInstance(obj, h->containers);
    PyObject *seen = NULL;
    r = container < 0 ? -1 : hand_fetched(h, value, obj, container, &seen);
    PyObject *k = r < 0 ? NULL : item_key(h, obj, key);
    r = k == NULL ? -1 : rec_seen(h, obj, k, seen);
    Py_XDECREF(k);
    Py_XDECREF(seen);
    if (r == 0 && container > 0) {
        r = rec(h, obj, h->moved, 0, 0);
    }
    if (r < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

static PyObject *
write_item(Hooks *h, PyObject *obj, PyObject *key, PyObject *value)
{
    int plain = plain_key(key);
    if (plain < 0) {
        return NULL;
    }
    if (!plain) {
        return PyObject_CallFunctionObjArgs(h->py_wi, h->py, obj, key, value, NULL);
    }
    int own = records_itself(h, obj, h->setitem);
    if (own != 0) {
        if (own < 0 || PyObject_SetItem(obj, key, value) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    int container = PyObject_IsInstance(obj, h->containers);
    if (container < 0) {
        return NULL;
    }
    PyObject *k = item_key(h, obj, key);
    if (k == NULL) {
        return NULL;
    }
    int new_key = 0;
    if (PyDict_Check(obj)) {
        int has = PySequence_Contains(obj, key);
        if (has < 0) {
            Py_DECREF(k);
            return NULL;
        }
        new_key = !has;
    }
    int handed = container ? stored(h->core, value) : 0;
    if (handed < 0) {
        Py_DECREF(k);
        return NULL;
    }
    int r = PyObject_SetItem(obj, key, value);
    if (r == 0) {
        r = rec(h, obj, k, 1, 0);
    }
    Py_DECREF(k);
    if (r == 0 && container) {  /* inserting or removing a key is atomic in itself */
        r = rec(h, obj, h->all, 1, 1);
        if (r == 0 && new_key) {
            r = rec(h, obj, h->shape, 1, 1);
        }
    }
    if (handed) {  /* (also after an error, as the Python hook's finally) */
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        if (tick(h->core) < 0) {
            r = -1;
            Py_XDECREF(type);
            Py_XDECREF(exc);
            Py_XDECREF(tb);
        }
        else {
            PyErr_Restore(type, exc, tb);
        }
    }
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* -- whole containers -- */

static int
whole(Hooks *h, PyObject *obj)
{
    int r = PyObject_IsInstance(obj, h->containers);
    if (r <= 0) {
        return r;
    }
    if (rec(h, obj, h->shape, 0, 0) < 0) {
        return -1;
    }
    return rec(h, obj, h->all, 0, 0);
}

/* -- the methods ------------------------------------------------------------ */

static PyObject *
Hooks_ra(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return nargs_is("ra", nargs, 2) ? read_attr(h, args[0], args[1]) : NULL;
}

static PyObject *
Hooks_wa(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return nargs_is("wa", nargs, 3) ? write_attr(h, args[0], args[1], args[2]) : NULL;
}

static PyObject *
Hooks_sa(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return nargs_is("sa", nargs, 3) ? write_attr(h, args[1], args[2], args[0]) : NULL;
}

static PyObject *
Hooks_ra_push(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_is("ra_push", nargs, 2) || push(h, args[0], args[1]) < 0) {
        return NULL;
    }
    return read_attr(h, args[0], args[1]);
}

static PyObject *
Hooks_wa_top(Hooks *h, PyObject *value)
{
    PyObject *entry = pop(h);
    if (entry == NULL) {
        return NULL;
    }
    PyObject *r = write_attr(h, PyTuple_GET_ITEM(entry, 0), PyTuple_GET_ITEM(entry, 1), value);
    Py_DECREF(entry);
    return r;
}

static PyObject *
Hooks_ri(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return nargs_is("ri", nargs, 2) ? read_item(h, args[0], args[1]) : NULL;
}

static PyObject *
Hooks_wi(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return nargs_is("wi", nargs, 3) ? write_item(h, args[0], args[1], args[2]) : NULL;
}

static PyObject *
Hooks_si(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return nargs_is("si", nargs, 3) ? write_item(h, args[1], args[2], args[0]) : NULL;
}

static PyObject *
Hooks_ri_push(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_is("ri_push", nargs, 2) || push(h, args[0], args[1]) < 0) {
        return NULL;
    }
    return read_item(h, args[0], args[1]);
}

static PyObject *
Hooks_wi_top(Hooks *h, PyObject *value)
{
    PyObject *entry = pop(h);
    if (entry == NULL) {
        return NULL;
    }
    PyObject *r = write_item(h, PyTuple_GET_ITEM(entry, 0), PyTuple_GET_ITEM(entry, 1), value);
    Py_DECREF(entry);
    return r;
}

static PyObject *
global_access(Hooks *h, PyObject *const *args, Py_ssize_t nargs, const char *name,
              Py_ssize_t want, int write)
{
    if (!nargs_is(name, nargs, want) || rec_pair(h, args[0], h->global, args[1], write) < 0) {
        return NULL;
    }
    return Py_NewRef(want == 3 ? args[2] : Py_None);
}

static PyObject *
Hooks_rgv(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return global_access(h, args, nargs, "rgv", 3, 0);
}

static PyObject *
Hooks_wgv(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return global_access(h, args, nargs, "wgv", 3, 1);
}

static PyObject *
Hooks_rg(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return global_access(h, args, nargs, "rg", 2, 0);
}

static PyObject *
Hooks_wg(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    return global_access(h, args, nargs, "wg", 2, 1);
}

/* Iterating a container that was itself handed over (or reached through a
 * handed object) fetches what it holds (see Hooks._fetch_all). */
static int
fetch_all(Hooks *h, PyObject *obj)
{
    PyObject *holder, *values;
    int items = Py_IS_TYPE(obj, &PyDictItems_Type);
    int r = PyList_Check(obj) || PyAnySet_Check(obj);
    if (r == 0) {
        r = PyObject_IsInstance(obj, h->deque_type);
    }
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        holder = Py_NewRef(obj);
    }
    else if (items || Py_IS_TYPE(obj, &PyDictValues_Type)) {
        if ((holder = PyObject_GetAttr(obj, h->mapping)) == NULL) {
            return -1;
        }
    }
    else {
        return 0;
    }
    PyObject *hid = PyLong_FromVoidPtr(holder);
    r = hid == NULL ? -1 : PyDict_Contains(h->core->handoff, hid);
    Py_XDECREF(hid);
    if (r <= 0) {
        Py_DECREF(holder);
        return r;
    }
    values = PySequence_Tuple(obj);
    if (values != NULL && items) {  /* (key, value) pairs: the values */
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(values); i++) {
            PyObject *pair = PyTuple_GET_ITEM(values, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                PyErr_SetString(PyExc_TypeError, "dict items must be pairs");
                Py_CLEAR(values);
                break;
            }
            PyObject *v = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
            PyTuple_SET_ITEM(values, i, v);
            Py_DECREF(pair);
        }
    }
    r = values == NULL ? -1 : hand_fetched(h, values, holder, 1, NULL);
    Py_XDECREF(values);
    Py_DECREF(holder);
    return r;
}

static PyObject *
Hooks_it(Hooks *h, PyObject *obj)
{
    if (whole(h, obj) < 0 ||
        (PyDict_GET_SIZE(h->core->handoff) > 0 && fetch_all(h, obj) < 0)) {
        return NULL;
    }
    return Py_NewRef(obj);
}

static PyObject *
Hooks_whole(Hooks *h, PyObject *obj)
{
    if (whole(h, obj) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Hooks_isin(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_is("isin", nargs, 2)) {
        return NULL;
    }
    PyObject *item = args[0], *container = args[1];
    /* membership of a dict or set reads its key set */
    int r = PyDict_Check(container) || PySet_Check(container)
                ? rec(h, container, h->shape, 0, 0)
                : whole(h, container);
    if (r < 0) {
        return NULL;
    }
    r = PySequence_Contains(container, item);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *
Hooks_m(Hooks *h, PyObject *const *args, Py_ssize_t nargs)
{
    if (!nargs_is("m", nargs, 2)) {
        return NULL;
    }
    PyObject *obj = args[0], *name = args[1];
    PyObject *method = PyObject_GetAttr(obj, name);
    if (method == NULL) {
        return NULL;
    }
    /* a reference of our own: table_for runs Python code, and another
       thread could set obj.__class__ meanwhile */
    PyObject *cls = Py_NewRef((PyObject *)Py_TYPE(obj)), *table;
    int found = dict_get(h->tables, cls, &table);
    if (found == 0) {
        table = PyObject_CallOneArg(h->table_for, cls);
        if (table != NULL && PyDict_SetItem(h->tables, cls, table) < 0) {
            Py_CLEAR(table);
        }
    }
    Py_DECREF(cls);
    if (found < 0 || table == NULL) {
        Py_DECREF(method);
        return NULL;
    }
    PyObject *wrap = NULL;
    if (table != Py_None) {
        found = PyDict_Check(table) ? dict_get(table, name, &wrap) : -1;
        if (found < 0 && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a method table must be a dict");
        }
        if (found < 0) {
            Py_DECREF(table);
            Py_DECREF(method);
            return NULL;
        }
    }
    Py_DECREF(table);
    if (wrap == NULL) {
        return method;
    }
    PyObject *wrapped = PyObject_CallFunctionObjArgs(wrap, h->py, obj, method, NULL);
    Py_DECREF(wrap);
    Py_DECREF(method);
    return wrapped;
}

/* -- builtins that read what instrumented code would have (see Hooks.call) -- */

static PyObject *
Hooks_len(Hooks *h, PyObject *obj)
{
    int r = PyObject_IsInstance(obj, h->containers);
    if (r < 0 || (r > 0 && rec(h, obj, h->shape, 0, 0) < 0)) {
        return NULL;
    }
    Py_ssize_t n = PyObject_Length(obj);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

/* sum(x), sorted(x)...: a read of the whole first argument, then the call. */
typedef struct {
    PyObject_HEAD
    Hooks *hooks;
    PyObject *fn;
    vectorcallfunc vectorcall;
} Reading;

static PyTypeObject ReadingType;

static PyObject *
Reading_vectorcall(Reading *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) > 0 && whole(self->hooks, args[0]) < 0) {
        return NULL;
    }
    return PyObject_Vectorcall(self->fn, args, nargsf, kwnames);
}

static int
Reading_traverse(Reading *self, visitproc visit, void *arg)
{
    Py_VISIT(self->hooks);
    Py_VISIT(self->fn);
    return 0;
}

static int
Reading_clear(Reading *self)
{
    Py_CLEAR(self->hooks);
    Py_CLEAR(self->fn);
    return 0;
}

static void
Reading_dealloc(Reading *self)
{
    PyObject_GC_UnTrack(self);
    Reading_clear(self);
    PyObject_GC_Del(self);
}

static PyTypeObject ReadingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Reading",
    .tp_basicsize = sizeof(Reading),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A builtin that reads its whole first argument.",
    .tp_vectorcall_offset = offsetof(Reading, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = (traverseproc)Reading_traverse,
    .tp_clear = (inquiry)Reading_clear,
    .tp_dealloc = (destructor)Reading_dealloc,
};

static PyObject *
Hooks_call(Hooks *h, PyObject *fn)
{
    if (fn == h->len_builtin) {
        if (h->len == NULL) {
            h->len = PyObject_GetAttrString((PyObject *)h, "_len");
        }
        return Py_XNewRef(h->len);
    }
    int reader = PySet_Contains(h->readers, fn);
    if (reader < 0) {
        PyErr_Clear();  /* unhashable: not one of them */
        reader = 0;
    }
    if (!reader) {
        return PyObject_CallFunctionObjArgs(h->py_call, h->py, fn, NULL);
    }
    Reading *r = PyObject_GC_New(Reading, &ReadingType);
    if (r == NULL) {
        return NULL;
    }
    r->hooks = (Hooks *)Py_NewRef(h);
    r->fn = Py_NewRef(fn);
    r->vectorcall = (vectorcallfunc)Reading_vectorcall;
    PyObject_GC_Track(r);
    return (PyObject *)r;
}

/* -- with: lock-like objects get happens-before edges around enter/exit -- */

typedef struct {
    PyObject_HEAD
    Hooks *hooks;
    PyObject *obj;
} Held;

static PyObject *
Hooks_cm(Hooks *h, PyObject *obj)
{
    int plain = PySet_Contains(h->plain_locks, (PyObject *)Py_TYPE(obj));
    if (plain < 0) {
        return NULL;
    }
    if (!plain) {
        int lock = PyObject_IsInstance(obj, h->lock_types);
        if (lock <= 0) {
            return lock < 0 ? NULL : Py_NewRef(obj);
        }
        /* conditions (on their lock's clock), semaphores: Python's _Held */
        return PyObject_CallMethodOneArg(h->py, s_held, obj);
    }
    Held *held = PyObject_GC_New(Held, &HeldType);
    if (held == NULL) {
        return NULL;
    }
    held->hooks = (Hooks *)Py_NewRef(h);
    held->obj = Py_NewRef(obj);
    PyObject_GC_Track(held);
    return (PyObject *)held;
}

static PyObject *
Held_enter(Held *self, PyObject *unused)
{
    Hooks *h = self->hooks;
    PyObject *obj = self->obj, *value;
    int plain = PySet_Contains(h->plain_locks, (PyObject *)Py_TYPE(obj));
    if (plain < 0) {
        return NULL;
    }
    if (plain) {
        /* what obj.__enter__() does, minus the convoys that instrumented
           (long) critical sections would otherwise start */
        PyObject *no[2] = {obj, Py_False};
        PyObject *got = PyObject_VectorcallMethod(s_acquire, no, 2, NULL);
        int ok = got == NULL ? -1 : PyObject_IsTrue(got);
        Py_XDECREF(got);
        if (ok < 0) {
            return NULL;
        }
        if (!ok) {
            PyObject *r = PyObject_CallOneArg(h->politely, obj);
            if (r == NULL) {
                return NULL;
            }
            Py_DECREF(r);
        }
        value = Py_NewRef(Py_True);
    }
    else if ((value = PyObject_CallMethodNoArgs(obj, s_enter)) == NULL) {
        return NULL;
    }
    PyObject *r = Core_acquire(h->core, obj);
    if (r == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    Py_DECREF(r);
    return value;
}

static PyObject *
Held_exit(Held *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *r = Core_release(self->hooks->core, self->obj);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    PyObject *exit = PyObject_GetAttr(self->obj, s_exit);
    if (exit == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(exit, args, nargs, NULL);
    Py_DECREF(exit);
    return result;
}

static int
Held_traverse(Held *self, visitproc visit, void *arg)
{
    Py_VISIT(self->hooks);
    Py_VISIT(self->obj);
    return 0;
}

static int
Held_clear(Held *self)
{
    Py_CLEAR(self->hooks);
    Py_CLEAR(self->obj);
    return 0;
}

static void
Held_dealloc(Held *self)
{
    PyObject_GC_UnTrack(self);
    Held_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef Held_methods[] = {
    {"__enter__", (PyCFunction)Held_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))Held_exit, METH_FASTCALL, NULL},
    {NULL},
};

static PyTypeObject HeldType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Held",
    .tp_basicsize = sizeof(Held),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A lock-like object in ``with``: happens-before edges around enter and exit.",
    .tp_traverse = (traverseproc)Held_traverse,
    .tp_clear = (inquiry)Held_clear,
    .tp_dealloc = (destructor)Held_dealloc,
    .tp_methods = Held_methods,
};

/* -- the type -- */

static int
Hooks_traverse(Hooks *h, visitproc visit, void *arg)
{
    Py_VISIT(h->core);
    Py_VISIT(h->py);
    Py_VISIT(h->describe);
    Py_VISIT(h->local_type);
    Py_VISIT(h->deque_type);
    Py_VISIT(h->containers);
    Py_VISIT(h->lock_types);
    Py_VISIT(h->plain_locks);
    Py_VISIT(h->tables);
    Py_VISIT(h->table_for);
    Py_VISIT(h->politely);
    Py_VISIT(h->py_ri);
    Py_VISIT(h->py_wi);
    Py_VISIT(h->stack);
    Py_VISIT(h->readers);
    Py_VISIT(h->py_call);
    Py_VISIT(h->len);
    return 0;
}

static int
Hooks_clear(Hooks *h)
{
    Py_CLEAR(h->core);
    Py_CLEAR(h->py);
    Py_CLEAR(h->describe);
    Py_CLEAR(h->local_type);
    Py_CLEAR(h->deque_type);
    Py_CLEAR(h->containers);
    Py_CLEAR(h->lock_types);
    Py_CLEAR(h->plain_locks);
    Py_CLEAR(h->tables);
    Py_CLEAR(h->table_for);
    Py_CLEAR(h->politely);
    Py_CLEAR(h->py_ri);
    Py_CLEAR(h->py_wi);
    Py_CLEAR(h->stack);
    Py_CLEAR(h->readers);
    Py_CLEAR(h->py_call);
    Py_CLEAR(h->len);
    Py_CLEAR(h->len_builtin);
    Py_CLEAR(h->shape);
    Py_CLEAR(h->all);
    Py_CLEAR(h->moved);
    Py_CLEAR(h->item);
    Py_CLEAR(h->global);
    Py_CLEAR(h->rname);
    Py_CLEAR(h->getitem);
    Py_CLEAR(h->setitem);
    Py_CLEAR(h->mapping);
    return 0;
}

static void
Hooks_dealloc(Hooks *h)
{
    PyObject_GC_UnTrack(h);
    Hooks_clear(h);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static int
Hooks_init(Hooks *h, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"core", "py", "describe", "local_type", "deque_type",
                             "containers", "lock_types", "plain_locks", "tables", "table_for",
                             "politely", "py_ri", "py_wi", "stack", "shape", "all", "moved",
                             "readers", "py_call", "rname", NULL};
    PyObject *core, *py, *describe, *local_type, *deque_type, *containers, *lock_types,
        *plain_locks, *tables, *table_for, *politely, *py_ri, *py_wi, *stack, *shape, *all,
        *moved, *readers, *py_call, *rname;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "O!OOOOO!O!O!O!OOOOOUUUO!OU:Hooks", kwlist, &CoreType, &core, &py,
            &describe, &local_type, &deque_type, &PyTuple_Type, &containers, &PyTuple_Type,
            &lock_types, &PyFrozenSet_Type, &plain_locks, &PyDict_Type, &tables, &table_for,
            &politely, &py_ri, &py_wi, &stack, &shape, &all, &moved, &PyFrozenSet_Type,
            &readers, &py_call, &rname)) {
        return -1;
    }
    Hooks_clear(h);
    h->core = (Core *)Py_NewRef(core);
    h->py = Py_NewRef(py);
    h->describe = Py_NewRef(describe);
    h->local_type = Py_NewRef(local_type);
    h->deque_type = Py_NewRef(deque_type);
    h->containers = Py_NewRef(containers);
    h->lock_types = Py_NewRef(lock_types);
    h->plain_locks = Py_NewRef(plain_locks);
    h->tables = Py_NewRef(tables);
    h->table_for = Py_NewRef(table_for);
    h->politely = Py_NewRef(politely);
    h->py_ri = Py_NewRef(py_ri);
    h->py_wi = Py_NewRef(py_wi);
    h->stack = Py_NewRef(stack);
    h->shape = Py_NewRef(shape);
    h->all = Py_NewRef(all);
    h->moved = Py_NewRef(moved);
    h->readers = Py_NewRef(readers);
    h->len_builtin = PyDict_GetItemString(PyEval_GetBuiltins(), "len");
    if (h->len_builtin == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "builtins.len is missing");
        return -1;
    }
    Py_INCREF(h->len_builtin);
    h->py_call = Py_NewRef(py_call);
    h->item = PyUnicode_InternFromString("<item>");
    h->global = PyUnicode_InternFromString("<global>");
    h->rname = Py_NewRef(rname);
    h->getitem = PyUnicode_InternFromString("__getitem__");
    h->setitem = PyUnicode_InternFromString("__setitem__");
    h->mapping = PyUnicode_InternFromString("mapping");
    return h->item == NULL || h->global == NULL || h->getitem == NULL || h->setitem == NULL ||
                   h->mapping == NULL
               ? -1
               : 0;
}

#define FAST(name, doc) \
    {#name, (PyCFunction)(void (*)(void))Hooks_##name, METH_FASTCALL, doc}

static PyMethodDef Hooks_methods[] = {
    FAST(ra, "ra(obj, name): obj.name"),
    FAST(wa, "wa(obj, name, value): obj.name = value"),
    FAST(sa, "sa(value, obj, name): obj.name = value"),
    FAST(ra_push, "ra_push(obj, name): obj.name, the target of an augmented assignment"),
    {"wa_top", (PyCFunction)Hooks_wa_top, METH_O, "wa_top(value): store it in that target"},
    FAST(ri, "ri(obj, key): obj[key]"),
    FAST(wi, "wi(obj, key, value): obj[key] = value"),
    FAST(si, "si(value, obj, key): obj[key] = value"),
    FAST(ri_push, "ri_push(obj, key): obj[key], the target of an augmented assignment"),
    {"wi_top", (PyCFunction)Hooks_wi_top, METH_O, "wi_top(value): store it in that target"},
    FAST(rgv, "rgv(namespace, name, value): a global's value, read"),
    FAST(wgv, "wgv(namespace, name, value): a global's value, written"),
    FAST(rg, "rg(namespace, name): a global read"),
    FAST(wg, "wg(namespace, name): a global written"),
    {"it", (PyCFunction)Hooks_it, METH_O, "it(obj): iterating reads the container"},
    {"whole", (PyCFunction)Hooks_whole, METH_O, "whole(obj): a read of every item"},
    FAST(isin, "isin(item, container): item in container"),
    FAST(m, "m(obj, name): obj.name(...), wrapped where it synchronises"),
    {"cm", (PyCFunction)Hooks_cm, METH_O, "cm(obj): with obj"},
    {"call", (PyCFunction)Hooks_call, METH_O, "call(fn): a builtin that reads containers"},
    {"_len", (PyCFunction)Hooks_len, METH_O, "len(obj), a read of its length"},
    {NULL},
};

NEW_FROM_INIT(Hooks, Hooks)

static PyTypeObject HooksType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline.race._accel.Hooks",
    .tp_basicsize = sizeof(Hooks),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The hottest hooks of instrumented code, in C.",
    .tp_new = Hooks_new,
    .tp_traverse = (traverseproc)Hooks_traverse,
    .tp_clear = (inquiry)Hooks_clear,
    .tp_dealloc = (destructor)Hooks_dealloc,
    .tp_methods = Hooks_methods,
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
        {&s_name, "name"},
        {&s_created_at, "created_at"},
        {&s_vc, "vc"},
        {&s_cached_frame, "cached_frame"},
        {&s_cached_callers, "cached_callers"},
        {&s_cached_raws, "cached_raws"},
        {&s_items, "items"},
        {&s_acquire, "acquire"},
        {&s_held, "_held"},
        {&s_enter, "__enter__"},
        {&s_exit, "__exit__"},
        {&s_last_read, "last_read"},
        {&s_last_write, "last_write"},
        {&s_thread, "_thread"},
        {&s_drain_dead, "_drain_dead"},
        {&s_new_location, "_new_location"},
        {&s_oid, "oid"},
        {&s_cached_code, "cached_code"},
        {&s_cached_parent, "cached_parent"},
        {&s_cached_parent_lasti, "cached_parent_lasti"},
        {&s_dunder_name, "__name__"},
        {&s_report, "_report"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
    if (PyType_Ready(&LocationType) < 0 || PyType_Ready(&CoreType) < 0 ||
        PyType_Ready(&ThreadInfoType) < 0 ||
        PyType_Ready(&HooksType) < 0 || PyType_Ready(&HeldType) < 0 ||
        PyType_Ready(&ReadingType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&accel_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Location", (PyObject *)&LocationType) < 0 ||
        PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0 ||
        PyModule_AddObjectRef(m, "Hooks", (PyObject *)&HooksType) < 0 ||
        PyModule_AddObjectRef(m, "ThreadInfo", (PyObject *)&ThreadInfoType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
