/* threadline._chancore: a channel's hot state and the operations that
 * complete without parking, in C (optional; _channel.py's PyChannel is the
 * reference and the fallback, and THREADLINE_PURE=1 selects it).
 *
 * What is here: the buffer (a ring of object pointers), the closed flag,
 * the capacity, and send / recv / try_send / try_recv / __next__ / close /
 * len, arecv / __anext__ up to parking, select's fast path, plus
 * _send_locked / _recv_locked / _unrecv, which the Python slow paths
 * (parking, timeouts, cancellation, asend, select) call under the
 * channel's lock exactly as they call PyChannel's.  The wait
 * queues stay Python deques of _channel._Entry, and a hand-over to a
 * parked partner calls its waiter's Python ``fire``: parking is rare on the
 * paths this module speeds up, and keeping one waiter machinery keeps one
 * set of cancellation rules.
 *
 * Locking (the same rules as _channel.py's header):
 *   * A channel's ``_lock`` guards its ring, ``closed`` (which the
 *     ``_closed`` getter reads unlocked: an atomic on a free-threaded
 *     build), and both queues (replaced only by tests: Chan_set_queue).
 *     It is normally this module's ``Lock``, re-entrant, taken inline by
 *     the fast paths: with the GIL, its owner and count are plain fields
 *     kept under the GIL, so a free lock costs no system call and a waiter
 *     sleeps with the GIL released (see LockObject); on a free-threaded
 *     build it is a
 *     PyThread lock (PyMutex: one atomic operation when free) with an
 *     atomic owner field.  Any other object assigned to ``_lock`` (tests
 *     inject interrupting locks) is taken through its Python
 *     ``acquire``/``release``, guarded as _core._locks describes: an error
 *     after the acquire gives the lock back (a release by a non-owner
 *     raises RuntimeError, ignored).
 *   * The ``_lock`` pointer itself is read and replaced in a critical
 *     section on the channel (chan_lock_ref): a no-op with the GIL.
 *   * A waiter's lock (inside ``fire``) is taken under a channel lock,
 *     never the other way round; select takes several channel locks in
 *     id() order, from Python.
 *   * Ctrl-C: signal handlers run only when Python code runs.  With the
 *     inline lock, the only Python code run while it is held is a waiter's
 *     ``fire``; if that raises, the operation puts back any value it had
 *     taken, and the partner's entry if its waiter did not fire, or, if
 *     the fire took effect, keeps the partner's operation done, a
 *     sender's value going into the ring (settle_cut_fire), and releases
 *     the lock before the error propagates; close wakes every parked owner
 *     through _channel._wake_closed.
 *   * ``len`` and the ``_buf`` getter and setter (a deque snapshot; the
 *     race detector replaces the contents under ``_lock``) take the lock
 *     too (it is re-entrant).
 *   * Module state: the globals set by _setup()/_setup_select() are
 *     written once at import; select's generator is one atomic counter
 *     (splitmix64); the asyncio probe is set once, first writer wins.
 *
 * Free-threading: no state relies on the GIL (above), and the module
 * declares that it runs without it (Py_MOD_GIL_NOT_USED, 3.13t+).  See
 * docs/design.md for what was run on a free-threaded build.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h> /* offsetof */

#ifndef Py_BEGIN_CRITICAL_SECTION /* before 3.13: the GIL is the critical section */
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif

/* A pointer that is set once (first writer wins) and read by any thread. */
static inline PyObject *
load_ptr(PyObject **slot)
{
#ifdef Py_GIL_DISABLED
    return (PyObject *)_Py_atomic_load_ptr(slot);
#else
    return *slot;
#endif
}

static inline int
set_ptr_once(PyObject **slot, PyObject *value)
{
#ifdef Py_GIL_DISABLED
    void *expected = NULL;
    return _Py_atomic_compare_exchange_ptr(slot, &expected, value);
#else
    if (*slot != NULL) {
        return 0;
    }
    *slot = value;
    return 1;
#endif
}

/* Set once by _setup() from _channel.py. */
static PyObject *g_current;        /* _scope._current (ContextVar) */
static PyObject *g_checkpoint;     /* _scope.checkpoint */
static PyObject *g_check_timeout;  /* _validate.check_timeout */
static PyObject *g_check_capacity; /* _channel._check_capacity */
static PyObject *g_closed_exc;     /* ChannelClosed */
static PyObject *g_empty;          /* _channel._EMPTY */
static PyObject *g_closed;         /* _channel._CLOSED */
static PyObject *g_lock_type;      /* the Lock subclass channels get */
static PyObject *g_deque;          /* collections.deque */
static PyObject *g_wake_closed;    /* _channel._wake_closed */

static PyObject *s_acquire, *s_release, *s_popleft, *s_waiter, *s_case, *s_value, *s_fire,
    *s_send_wait, *s_recv_wait, *s_next_wait, *s_unrecv, *s_timeout, *s_recv_what,
    *s_recv_instead, *s_clear, *s_arecv, *s_throw, *s_close, *s_fired, *s_appendleft, *s_ok;

/* ------------------------------------------------------------------------ */
/* Lock                                                                     */

#ifndef Py_GIL_DISABLED

/* The lock's state (count, owner, waiters, token) is read and written only
 * with the GIL held, so taking a free lock costs no system call.  A thread
 * that finds it taken waits on ``wake`` (a PyThread lock used as a
 * semaphore, starting acquired) with the GIL released; a release that
 * leaves the lock free posts one token there when somebody waits and none
 * is posted yet.  A woken waiter takes the GIL back and looks again (the
 * running thread may have taken the lock meanwhile: no hand-off, no
 * convoy). */
typedef struct {
    PyObject_HEAD
    PyThread_type_lock wake;
    unsigned long owner; /* the holder's ident, 0 while count is 0 */
    unsigned long count;
    Py_ssize_t waiters; /* threads waiting on wake */
    int token;          /* wake was released and its waiter has not yet looked */
} LockObject;

static PyTypeObject LockType;

/* Wait (GIL released) for a token on wake, for up to us microseconds (-1:
 * no limit).  PY_LOCK_ACQUIRED: woken (look again); PY_LOCK_FAILURE: timed
 * out; PY_LOCK_INTR: a signal (only when intr). */
static PyLockStatus
lock_wait(LockObject *self, PY_TIMEOUT_T us, int intr)
{
    PyLockStatus r;
    self->waiters++;
    Py_BEGIN_ALLOW_THREADS
    r = PyThread_acquire_lock_timed(self->wake, us, intr);
    Py_END_ALLOW_THREADS
    self->waiters--;
    if (r == PY_LOCK_ACQUIRED) {
        self->token = 0;
    }
    return r;
}

static inline unsigned long
lock_owner(LockObject *self)
{
    return self->owner;
}

static inline void
lock_set_owner(LockObject *self, unsigned long ident)
{
    self->owner = ident;
}

/* Wait until the lock is free, the GIL released, not interrupted. */
static inline void
lock_wait_free(LockObject *self)
{
    while (self->count > 0) {
        (void)lock_wait(self, -1, 0);
    }
}

/* The count fell to 0: wake a waiter, if one waits and none is woken. */
static inline void
lock_let_go(LockObject *self)
{
    if (self->waiters > 0 && !self->token) {
        self->token = 1;
        PyThread_release_lock(self->wake);
    }
}

/* Wait for the lock (not held by this thread) for up to us microseconds
 * (-1: no limit; 0: no wait), the GIL released; a signal runs the handlers
 * and goes on waiting.  1 free, 0 timed out, -1 error (a handler raised). */
static int
lock_wait_free_timed(LockObject *self, PY_TIMEOUT_T us)
{
    while (self->count > 0) {
        if (us == 0) {
            return 0;
        }
        /* (A finite timeout starts over after each wake-up or signal: a
         * channel lock is held for a few steps at a time.) */
        PyLockStatus r = lock_wait(self, us, 1);
        if (r == PY_LOCK_FAILURE) {
            return 0;
        }
        if (r == PY_LOCK_INTR && Py_MakePendingCalls() < 0) {
            return -1; /* Ctrl-C while waiting: the lock was not taken */
        }
    }
    return 1;
}

#else /* Py_GIL_DISABLED */

/* Free-threaded build: ``mutex`` (a PyThread lock, built on PyMutex: a
 * free one is taken with one atomic operation) is held while count > 0;
 * ``owner`` is the holder's ident (0 when free), written by the holder and
 * read, relaxed, by any thread: a thread only ever finds its own ident there
 * while it holds the lock.  ``count`` is the holder's alone.  A thread that
 * must wait detaches from the interpreter (Py_BEGIN_ALLOW_THREADS), so a
 * stop-the-world pause never waits for it. */
typedef struct {
    PyObject_HEAD
    PyThread_type_lock mutex;
    uintptr_t owner;
    unsigned long count;
} LockObject;

static PyTypeObject LockType;

static inline unsigned long
lock_owner(LockObject *self)
{
    return (unsigned long)_Py_atomic_load_uintptr_relaxed(&self->owner);
}

static inline void
lock_set_owner(LockObject *self, unsigned long ident)
{
    _Py_atomic_store_uintptr_relaxed(&self->owner, (uintptr_t)ident);
}

/* Wait until the lock is free and take the mutex, detached, not
 * interrupted. */
static inline void
lock_wait_free(LockObject *self)
{
    if (PyThread_acquire_lock_timed(self->mutex, 0, 0) != PY_LOCK_ACQUIRED) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->mutex, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

/* The count fell to 0. */
static inline void
lock_let_go(LockObject *self)
{
    PyThread_release_lock(self->mutex);
}

/* Wait for the lock (not held by this thread) for up to us microseconds
 * (-1: no limit; 0: no wait), detached; a signal runs the handlers and goes
 * on waiting.  1 free (the mutex taken), 0 timed out, -1 error (a handler
 * raised). */
static int
lock_wait_free_timed(LockObject *self, PY_TIMEOUT_T us)
{
    PyLockStatus r = PyThread_acquire_lock_timed(self->mutex, 0, 0);
    while (r != PY_LOCK_ACQUIRED) {
        if (us == 0) {
            return 0;
        }
        Py_BEGIN_ALLOW_THREADS
        r = PyThread_acquire_lock_timed(self->mutex, us, 1);
        Py_END_ALLOW_THREADS
        if (r == PY_LOCK_FAILURE) {
            return 0;
        }
        if (r == PY_LOCK_INTR && Py_MakePendingCalls() < 0) {
            return -1; /* Ctrl-C while waiting: the lock was not taken */
        }
    }
    return 1;
}

#endif /* Py_GIL_DISABLED */

static inline int
lock_held_by_me(LockObject *self)
{
    return lock_owner(self) == PyThread_get_thread_ident();
}

static inline int
lock_held(LockObject *self)
{
    return lock_owner(self) != 0;
}

/* Take the lock (re-entrant); a wait is not interrupted.  For the channel
 * operations, which hold it for a few steps at a time. */
static void
lock_take(LockObject *self)
{
    unsigned long me = PyThread_get_thread_ident();
    if (lock_owner(self) == me) {
        self->count++;
        return;
    }
    lock_wait_free(self);
    lock_set_owner(self, me);
    self->count = 1;
}

/* Take the lock (not held by this thread), waiting up to us microseconds
 * (see lock_wait_free_timed): 1 taken, 0 timed out, -1 error. */
static int
lock_take_timed(LockObject *self, PY_TIMEOUT_T us)
{
    int r = lock_wait_free_timed(self, us);
    if (r == 1) {
        lock_set_owner(self, PyThread_get_thread_ident());
        self->count = 1;
    }
    return r;
}

/* 0 released, -1 not held by this thread (RuntimeError set). */
static int
lock_give(LockObject *self)
{
    if (!lock_held_by_me(self)) {
        PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
        return -1;
    }
    if (--self->count == 0) {
        lock_set_owner(self, 0);
        lock_let_go(self);
    }
    return 0;
}

/* Both variants: the lock's system lock is ``wake`` (GIL: a semaphore
 * that starts taken) or ``mutex`` (free-threaded: the lock itself). */
#ifndef Py_GIL_DISABLED
#define SYS_LOCK(self) ((self)->wake)
#else
#define SYS_LOCK(self) ((self)->mutex)
#endif

static PyObject *
Lock_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((args != NULL && PyTuple_GET_SIZE(args) != 0) || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Lock() takes no arguments");
        return NULL;
    }
    LockObject *self = (LockObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    SYS_LOCK(self) = PyThread_allocate_lock();
    if (SYS_LOCK(self) == NULL) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_MemoryError, "cannot allocate a lock");
        return NULL;
    }
#ifndef Py_GIL_DISABLED
    PyThread_acquire_lock(self->wake, WAIT_LOCK); /* no token */
#endif
    return (PyObject *)self;
}

static void
Lock_dealloc(LockObject *self)
{
    if (SYS_LOCK(self) != NULL) {
#ifndef Py_GIL_DISABLED
        if (!self->token) {
            PyThread_release_lock(self->wake);
        }
#endif
        PyThread_free_lock(SYS_LOCK(self));
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Lock_acquire(LockObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"blocking", "timeout", NULL};
    int blocking = 1;
    double timeout = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|pd:acquire", kwlist, &blocking, &timeout)) {
        return NULL;
    }
    if (!blocking && timeout != -1) {
        PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
        return NULL;
    }
    if (timeout < 0 && timeout != -1) {
        PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
        return NULL;
    }
    if (timeout >= 0 && timeout * 1e6 > (double)PY_TIMEOUT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return NULL;
    }
    if (lock_held_by_me(self)) {
        self->count++;
        Py_RETURN_TRUE;
    }
    PY_TIMEOUT_T us = !blocking ? 0 : timeout < 0 ? -1 : (PY_TIMEOUT_T)(timeout * 1e6);
    int r = lock_take_timed(self, us);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
Lock_release(LockObject *self, PyObject *Py_UNUSED(ignored))
{
    if (lock_give(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Lock_exit(LockObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t Py_UNUSED(nargs))
{
    if (lock_give(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Lock_locked(LockObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(lock_held(self));
}

static PyObject *
Lock_is_owned(LockObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(lock_held_by_me(self));
}

static PyObject *
Lock_repr(LockObject *self)
{
    return PyUnicode_FromFormat("<%s %s>", Py_TYPE(self)->tp_name, lock_held(self) ? "locked" : "unlocked");
}

static PyMethodDef Lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))Lock_acquire, METH_VARARGS | METH_KEYWORDS,
     "acquire($self, /, blocking=True, timeout=-1)\n--\n\nTake the lock (re-entrant)."},
    {"release", (PyCFunction)Lock_release, METH_NOARGS,
     "release($self, /)\n--\n\nGive the lock back; RuntimeError if this thread does not hold it."},
    {"__enter__", (PyCFunction)(void (*)(void))Lock_acquire, METH_VARARGS | METH_KEYWORDS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))Lock_exit, METH_FASTCALL, NULL},
    {"locked", (PyCFunction)Lock_locked, METH_NOARGS,
     "locked($self, /)\n--\n\nTrue if some thread holds the lock (a snapshot)."},
    {"_is_owned", (PyCFunction)Lock_is_owned, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline._chancore.Lock",
    .tp_basicsize = sizeof(LockObject),
    .tp_dealloc = (destructor)Lock_dealloc,
    .tp_repr = (reprfunc)Lock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A channel's lock: re-entrant, released only by its owner.",
    .tp_methods = Lock_methods,
    .tp_new = Lock_new,
};

/* ------------------------------------------------------------------------ */
/* Taking a channel's lock: inline for our Lock, through Python otherwise.  */

static int
lock_is_inline(PyObject *lock)
{
    PyTypeObject *t = Py_TYPE(lock);
    return t == &LockType || t == (PyTypeObject *)g_lock_type;
}

/* Give *lock* back after an error, if this thread holds it; the pending
 * error stays, unless the release raised something other than
 * RuntimeError (then that one propagates, as in Python). */
static void
lock_give_after_error(PyObject *lock)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (lock_is_inline(lock)) {
        LockObject *l = (LockObject *)lock;
        if (lock_held_by_me(l)) {
            (void)lock_give(l);
        }
        PyErr_Restore(type, value, tb);
        return;
    }
    PyObject *r = PyObject_CallMethodNoArgs(lock, s_release);
    if (r != NULL) {
        Py_DECREF(r);
        PyErr_Restore(type, value, tb);
    }
    else if (PyErr_ExceptionMatches(PyExc_RuntimeError)) {
        PyErr_Clear(); /* not held: already released, or never taken */
        PyErr_Restore(type, value, tb);
    }
    else {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
}

/* 0 taken; -1 error (the lock is not held then). */
static int
chan_lock(PyObject *lock)
{
    if (lock_is_inline(lock)) {
        lock_take((LockObject *)lock);
        return 0;
    }
    PyObject *r = PyObject_CallMethodNoArgs(lock, s_acquire);
    if (r == NULL) {
        lock_give_after_error(lock);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* 0 released; -1 error (the lock is not held then). */
static int
chan_unlock(PyObject *lock)
{
    if (lock_is_inline(lock)) {
        return lock_give((LockObject *)lock);
    }
    PyObject *r = PyObject_CallMethodNoArgs(lock, s_release);
    if (r == NULL) {
        lock_give_after_error(lock);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Channel core                                                             */

typedef struct {
    PyObject_HEAD
    PyObject *lock;
    PyObject *sendq;
    PyObject *recvq;
    PyObject *capacity; /* as given: an int or math.inf */
    Py_ssize_t cap;     /* PY_SSIZE_T_MAX when unbounded */
    PyObject **ring;
    Py_ssize_t alloc; /* a power of two, or 0 */
    Py_ssize_t head;
    Py_ssize_t len;
    int closed; /* written under the lock; read unlocked only by the _closed getter */
    int initialised; /* __init__ ran: set once, before the channel is shared */
} ChanObject;

static PyTypeObject ChanType;

/* A new reference to the channel's lock.  (``_lock`` can be replaced: on a
 * free-threaded build the pointer is read and written in a critical
 * section on the channel, so a reader never increfs a freed lock.) */
static inline PyObject *
chan_lock_ref(ChanObject *self)
{
    PyObject *lock;
    Py_BEGIN_CRITICAL_SECTION(self);
    lock = Py_NewRef(self->lock);
    Py_END_CRITICAL_SECTION();
    return lock;
}

#define RING_AT(self, i) ((self)->ring[((self)->head + (i)) & ((self)->alloc - 1)])

static int
ring_resize(ChanObject *self, Py_ssize_t alloc)
{
    if (alloc > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(PyObject *)) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject **ring = PyMem_Malloc((size_t)alloc * sizeof(PyObject *));
    if (ring == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->len; i++) {
        ring[i] = RING_AT(self, i);
    }
    PyMem_Free(self->ring);
    self->ring = ring;
    self->alloc = alloc;
    self->head = 0;
    return 0;
}

static inline int
ring_room(ChanObject *self)
{
    if (self->len < self->alloc) {
        return 0;
    }
    return ring_resize(self, self->alloc ? self->alloc * 2 : 8);
}

/* Append *v* (a new reference is taken). */
static int
ring_push(ChanObject *self, PyObject *v)
{
    if (ring_room(self) < 0) {
        return -1;
    }
    RING_AT(self, self->len) = Py_NewRef(v);
    self->len++;
    return 0;
}

/* Put *v* at the head (a new reference is taken). */
static int
ring_push_left(ChanObject *self, PyObject *v)
{
    if (ring_room(self) < 0) {
        return -1;
    }
    self->head = (self->head - 1) & (self->alloc - 1);
    self->ring[self->head] = Py_NewRef(v);
    self->len++;
    return 0;
}

/* Take the head (the reference passes to the caller).  len > 0. */
static PyObject *
ring_pop(ChanObject *self)
{
    PyObject *v = self->ring[self->head];
    self->ring[self->head] = NULL;
    self->head = (self->head + 1) & (self->alloc - 1);
    self->len--;
    /* An unbounded channel that drained after a burst gives memory back. */
    if (self->len == 0) {
        self->head = 0;
        if (self->alloc > 1024) {
            PyMem_Free(self->ring);
            self->ring = NULL;
            self->alloc = 0;
        }
    }
    return v;
}

/* len() of a wait queue: a deque's size is its ob_size; tests may inject
 * other queue types. */
static inline Py_ssize_t
qlen(PyObject *q)
{
    return (PyObject *)Py_TYPE(q) == g_deque ? Py_SIZE(q) : PyObject_Length(q);
}

/* entry.waiter.fire(entry.case, value, ok): 1 won, 0 lost, -1 error. */
static int
fire_entry(PyObject *entry, PyObject *value, int ok)
{
    PyObject *waiter = PyObject_GetAttr(entry, s_waiter);
    if (waiter == NULL) {
        return -1;
    }
    PyObject *c = PyObject_GetAttr(entry, s_case);
    if (c == NULL) {
        Py_DECREF(waiter);
        return -1;
    }
    PyObject *r = PyObject_CallMethodObjArgs(waiter, s_fire, c, value, ok ? Py_True : Py_False, NULL);
    Py_DECREF(c);
    Py_DECREF(waiter);
    if (r == NULL) {
        return -1;
    }
    int won = PyObject_IsTrue(r);
    Py_DECREF(r);
    return won;
}

/* Did *entry*'s case complete (its waiter fired with that case, ok)?
 * 1 yes, 0 no, -1 error.  Under the channel lock that case can only have
 * been completed by the partner that popped the entry. */
static int
took_effect(PyObject *waiter, PyObject *entry)
{
    PyObject *fired_case = PyObject_GetAttr(waiter, s_case);
    PyObject *own_case = fired_case == NULL ? NULL : PyObject_GetAttr(entry, s_case);
    PyObject *ok = own_case == NULL ? NULL : PyObject_GetAttr(waiter, s_ok);
    int same = ok == NULL ? -1 : PyObject_RichCompareBool(fired_case, own_case, Py_EQ);
    int result = same <= 0 ? same : PyObject_IsTrue(ok);
    Py_XDECREF(ok);
    Py_XDECREF(own_case);
    Py_XDECREF(fired_case);
    return result;
}

/* The pending error came from an entry's fire.  If the waiter did not
 * fire, the entry goes back at the head of *queue*, so that its owner
 * stays reachable (by a partner, or close).  If the fire took effect
 * before the error (an interrupt after the partner was woken), the
 * partner's operation stands: with *into* (a receive, which must not
 * lose it), the partner's value goes into that ring, at its head if
 * *at_head*.  The pending error is kept. */
static void
settle_cut_fire(PyObject *queue, PyObject *entry, ChanObject *into, int at_head)
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyObject *waiter = PyObject_GetAttr(entry, s_waiter);
    PyObject *fired = waiter == NULL ? NULL : PyObject_GetAttr(waiter, s_fired);
    int done = fired == NULL ? -1 : PyObject_IsTrue(fired);
    if (done == 0) {
        PyObject *r = PyObject_CallMethodOneArg(queue, s_appendleft, entry);
        Py_XDECREF(r);
    }
    else if (done == 1 && into != NULL && took_effect(waiter, entry) == 1) {
        PyObject *moved = PyObject_GetAttr(entry, s_value);
        if (moved != NULL) {
            (void)(at_head ? ring_push_left(into, moved) : ring_push(into, moved));
            Py_DECREF(moved);
        }
    }
    Py_XDECREF(fired);
    Py_XDECREF(waiter);
    PyErr_Clear(); /* the first error is the one to report */
    PyErr_Restore(type, exc, tb);
}

/* Pop entries off *queue* until one's waiter takes *value* (its case
 * completes): that entry (a new reference); NULL with no error if none was
 * live; NULL with the error if a fire was cut short (settle_cut_fire,
 * with *into* and *at_head*).  Lock held. */
static PyObject *
pop_fired(PyObject *queue, PyObject *value, ChanObject *into, int at_head)
{
    while (qlen(queue) > 0) {
        PyObject *entry = PyObject_CallMethodNoArgs(queue, s_popleft);
        if (entry == NULL) {
            return NULL;
        }
        int won = fire_entry(entry, value, 1);
        if (won > 0) {
            return entry;
        }
        if (won < 0) {
            settle_cut_fire(queue, entry, into, at_head);
            Py_DECREF(entry);
            return NULL;
        }
        Py_DECREF(entry);
    }
    return NULL;
}

/* Deliver *value* now if possible: 1 delivered, 0 would block, -1 error.
 * Lock held. */
static int
send_locked(ChanObject *self, PyObject *value)
{
    if (self->closed) {
        PyErr_SetString(g_closed_exc, "send on a closed channel");
        return -1;
    }
    if (qlen(self->recvq) > 0) {
        PyObject *entry = pop_fired(self->recvq, value, NULL, 0);
        if (entry != NULL) {
            Py_DECREF(entry);
            return 1;
        }
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    if (self->len < self->cap) {
        return ring_push(self, value) < 0 ? -1 : 1;
    }
    return 0;
}

/* Take a value now if possible (a new reference), else g_empty or
 * g_closed (new references); NULL on error, with nothing taken.  Lock
 * held. */
static PyObject *
recv_locked(ChanObject *self)
{
    if (self->len > 0) {
        PyObject *value = ring_pop(self);
        /* Room made: move the first live sender in.  (The ring can hold
         * more than the capacity after _unrecv; then there is no room.) */
        if (self->len < self->cap && qlen(self->sendq) > 0) {
            /* (cut short after the sender's fire took effect: its value
             * is in the ring, behind the one that goes back below) */
            PyObject *entry = pop_fired(self->sendq, Py_None, self, 0);
            int failed = entry == NULL && PyErr_Occurred();
            if (entry != NULL) {
                PyObject *moved = PyObject_GetAttr(entry, s_value);
                failed = moved == NULL || ring_push(self, moved) < 0;
                Py_XDECREF(moved);
                Py_DECREF(entry);
            }
            if (failed) { /* an interrupt in fire: the value goes back */
                PyObject *type, *exc, *tb;
                PyErr_Fetch(&type, &exc, &tb);
                if (ring_push_left(self, value) < 0) {
                    PyErr_Clear();
                }
                Py_DECREF(value);
                PyErr_Restore(type, exc, tb);
                return NULL;
            }
        }
        return value;
    }
    if (qlen(self->sendq) > 0) { /* unbuffered: take straight from a parked sender */
        /* (cut short after the sender's fire took effect: its value is
         * owed to the next receiver, at the ring's head) */
        PyObject *entry = pop_fired(self->sendq, Py_None, self, 1);
        if (entry != NULL) {
            PyObject *value = PyObject_GetAttr(entry, s_value);
            Py_DECREF(entry);
            return value;
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    return Py_NewRef(self->closed ? g_closed : g_empty);
}

/* checkpoint() if a cancel scope is current: 0 ok, -1 error. */
static int
checkpoint_if_scoped(void)
{
    PyObject *scope;
    if (PyContextVar_Get(g_current, NULL, &scope) < 0) {
        return -1;
    }
    int scoped = scope != NULL && scope != Py_None;
    Py_XDECREF(scope);
    if (!scoped) {
        return 0;
    }
    PyObject *r = PyObject_CallNoArgs(g_checkpoint);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* The value taken by a receive that an error then cut short goes back to
 * the channel (self._unrecv), so that none is lost. */
static void
give_back_value(ChanObject *self, PyObject *value)
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyObject *r = PyObject_CallMethodOneArg((PyObject *)self, s_unrecv, value);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    Py_XDECREF(r);
    PyErr_Restore(type, exc, tb);
}

/* Lock, recv_locked, unlock: a value, g_empty or g_closed (new refs), or
 * NULL on error with nothing taken. */
static PyObject *
recv_now(ChanObject *self)
{
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return NULL;
    }
    PyObject *value = recv_locked(self);
    if (value == NULL) {
        lock_give_after_error(lock);
        Py_DECREF(lock);
        return NULL;
    }
    if (chan_unlock(lock) < 0) {
        Py_DECREF(lock);
        if (value != g_empty && value != g_closed) {
            give_back_value(self, value);
        }
        Py_DECREF(value);
        return NULL;
    }
    Py_DECREF(lock);
    return value;
}

/* Lock, send_locked, unlock: 1, 0 or -1 as send_locked. */
static int
send_now(ChanObject *self, PyObject *value)
{
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return -1;
    }
    int sent = send_locked(self, value);
    if (sent < 0) {
        lock_give_after_error(lock);
        Py_DECREF(lock);
        return -1;
    }
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    return r < 0 ? -1 : sent;
}

static int
parse_timeout(const char *name, Py_ssize_t positional, PyObject *const *args, Py_ssize_t nargsf,
              PyObject *kwnames, PyObject **timeout)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    *timeout = Py_None;
    if (nargs != positional) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s but %zd were given", name,
                     positional, positional == 1 ? "" : "s", nargs);
        return -1;
    }
    if (kwnames != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, i);
            int eq = PyUnicode_Check(key) ? PyUnicode_Compare(key, s_timeout) == 0 : 0;
            if (!eq) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", name, key);
                return -1;
            }
            *timeout = args[nargs + i];
        }
    }
    return 0;
}

/* The seconds a blocking call may wait: None, or check_timeout(timeout). */
static PyObject *
seconds_of(PyObject *timeout)
{
    if (timeout == Py_None) {
        return Py_NewRef(Py_None);
    }
    return PyObject_CallOneArg(g_check_timeout, timeout);
}

static PyObject *
Chan_send(ChanObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    PyObject *timeout;
    if (parse_timeout("send", 1, args, nargsf, kwnames, &timeout) < 0) {
        return NULL;
    }
    PyObject *value = args[0];
    PyObject *seconds = seconds_of(timeout);
    if (seconds == NULL) {
        return NULL;
    }
    if (checkpoint_if_scoped() < 0) {
        goto error;
    }
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        goto error;
    }
    int sent = 0;
    if (!self->closed && (self->len < self->cap || qlen(self->recvq) > 0)) {
        sent = send_locked(self, value);
        if (sent < 0) {
            lock_give_after_error(lock);
            Py_DECREF(lock);
            goto error;
        }
    }
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    if (r < 0) {
        goto error;
    }
    if (sent) {
        Py_DECREF(seconds);
        Py_RETURN_NONE;
    }
    PyObject *res = PyObject_CallMethodObjArgs((PyObject *)self, s_send_wait, value, seconds, NULL);
    Py_DECREF(seconds);
    return res;
error:
    Py_DECREF(seconds);
    return NULL;
}

static PyObject *
Chan_try_send(ChanObject *self, PyObject *value)
{
    int sent = send_now(self, value);
    if (sent < 0) {
        return NULL;
    }
    return PyBool_FromLong(sent);
}

/* recv's and __next__'s fast path: a value, or NULL with no error when the
 * slow path must decide (nothing ready, or closed), or NULL with an error. */
static PyObject *
recv_fast(ChanObject *self)
{
    PyObject *value = recv_now(self);
    if (value == g_empty || value == g_closed) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

static PyObject *
Chan_recv(ChanObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    PyObject *timeout;
    if (parse_timeout("recv", 0, args, nargsf, kwnames, &timeout) < 0) {
        return NULL;
    }
    PyObject *seconds = seconds_of(timeout);
    if (seconds == NULL) {
        return NULL;
    }
    if (checkpoint_if_scoped() < 0) {
        Py_DECREF(seconds);
        return NULL;
    }
    PyObject *value = recv_fast(self);
    if (value != NULL || PyErr_Occurred()) {
        Py_DECREF(seconds);
        return value;
    }
    value = PyObject_CallMethodObjArgs((PyObject *)self, s_recv_wait, seconds, s_recv_what,
                                       s_recv_instead, NULL);
    Py_DECREF(seconds);
    return value;
}

static PyObject *
Chan_iternext(ChanObject *self)
{
    if (checkpoint_if_scoped() < 0) {
        return NULL;
    }
    PyObject *value = recv_fast(self);
    if (value != NULL || PyErr_Occurred()) {
        return value;
    }
    return PyObject_CallMethodNoArgs((PyObject *)self, s_next_wait);
}

static PyObject *
Chan_try_recv(ChanObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *value = recv_now(self);
    if (value == NULL) {
        return NULL;
    }
    if (value == g_empty) {
        Py_DECREF(value);
        return PyTuple_Pack(2, Py_None, Py_False);
    }
    if (value == g_closed) {
        Py_DECREF(value);
        PyErr_SetString(g_closed_exc, "receive from a closed channel");
        return NULL;
    }
    PyObject *r = PyTuple_Pack(2, value, Py_True);
    Py_DECREF(value);
    return r;
}

static PyObject *
Chan_recv_now(ChanObject *self, PyObject *Py_UNUSED(ignored))
{
    return recv_now(self);
}

static PyObject *
Chan_send_locked(ChanObject *self, PyObject *value)
{
    int sent = send_locked(self, value);
    if (sent < 0) {
        return NULL;
    }
    return PyBool_FromLong(sent);
}

static PyObject *
Chan_recv_locked(ChanObject *self, PyObject *Py_UNUSED(ignored))
{
    return recv_locked(self);
}

static PyObject *
Chan_unrecv(ChanObject *self, PyObject *value)
{
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return NULL;
    }
    if (qlen(self->recvq) > 0) {
        PyObject *entry = pop_fired(self->recvq, value, NULL, 0);
        if (entry != NULL) {
            Py_DECREF(entry);
            goto done;
        }
        if (PyErr_Occurred()) {
            lock_give_after_error(lock);
            Py_DECREF(lock);
            return NULL;
        }
    }
    if (ring_push_left(self, value) < 0) {
        lock_give_after_error(lock);
        Py_DECREF(lock);
        return NULL;
    }
done:;
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Chan_close(ChanObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return NULL;
    }
    PyObject *parked = NULL;
    if (!self->closed) {
#ifdef Py_GIL_DISABLED
        _Py_atomic_store_int_relaxed(&self->closed, 1);
#else
        self->closed = 1;
#endif
        parked = PySequence_List(self->recvq);
        PyObject *senders = parked == NULL ? NULL : PySequence_List(self->sendq);
        if (senders != NULL) {
            PyObject *both = PySequence_InPlaceConcat(parked, senders);
            Py_DECREF(senders);
            Py_XDECREF(both);
            if (both == NULL) {
                Py_CLEAR(parked);
            }
        }
        else {
            Py_CLEAR(parked);
        }
        PyObject *r1 = parked == NULL ? NULL : PyObject_CallMethodNoArgs(self->recvq, s_clear);
        PyObject *r2 = r1 == NULL ? NULL : PyObject_CallMethodNoArgs(self->sendq, s_clear);
        Py_XDECREF(r1);
        Py_XDECREF(r2);
        if (r2 == NULL) {
            Py_XDECREF(parked);
            lock_give_after_error(lock);
            Py_DECREF(lock);
            return NULL;
        }
    }
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    if (r < 0) {
        Py_XDECREF(parked);
        return NULL;
    }
    if (parked != NULL) { /* _channel._wake_closed: every owner, even if interrupted */
        PyObject *r = PyObject_CallOneArg(g_wake_closed, parked);
        Py_DECREF(parked);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
Chan_len(ChanObject *self)
{
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return -1;
    }
    Py_ssize_t n = self->len;
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    return r < 0 ? -1 : n;
}

/* -- arecv / __anext__ ---------------------------------------------------------
 * ch.arecv() and ch.__anext__() return an Await: an awaitable that receives
 * when first stepped, not when made (a task cancelled before it ran takes
 * no value).  A first step in a thread that runs an asyncio loop and finds
 * a value (or the close) finishes at once, in C; any other first step
 * starts _ChannelBase._arecv (the Python path: parking, timeouts,
 * cancellation, the errors outside a loop) and forwards every later step,
 * throw and close to it.  Only its awaiting task steps it; ``busy`` turns
 * away a second thread (ValueError, as a running coroutine does). */

static PyObject *g_get_running_loop; /* asyncio._get_running_loop, once loaded (set once, kept) */

typedef struct {
    PyObject_HEAD
    PyObject *chan;
    PyObject *seconds; /* None or the checked timeout */
    PyObject *inner;   /* the _arecv coroutine, while it runs */
    char state;        /* AWAIT_NEW, AWAIT_RUNNING, AWAIT_DONE */
    char anext;        /* for __anext__: the close ends the iteration */
    int busy;          /* a step, throw or close is under way (atomic) */
    PyObject *weakrefs;
} AwaitObject;

enum { AWAIT_NEW, AWAIT_RUNNING, AWAIT_DONE };

static PyTypeObject AwaitType;

static PyObject *
await_new(PyObject *chan, PyObject *seconds, int anext)
{
    AwaitObject *self = PyObject_GC_New(AwaitObject, &AwaitType);
    if (self == NULL) {
        return NULL;
    }
    self->chan = Py_NewRef(chan);
    self->seconds = Py_NewRef(seconds);
    self->inner = NULL;
    self->state = AWAIT_NEW;
    self->anext = (char)anext;
    self->busy = 0;
    self->weakrefs = NULL;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int
Await_traverse(AwaitObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->chan);
    Py_VISIT(self->seconds);
    Py_VISIT(self->inner);
    return 0;
}

static int
Await_clear(AwaitObject *self)
{
    Py_CLEAR(self->inner);
    Py_CLEAR(self->seconds);
    Py_CLEAR(self->chan);
    return 0;
}

static void
Await_dealloc(AwaitObject *self)
{
    /* (A running inner coroutine is closed by its own finalizer.) */
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    (void)Await_clear(self);
    PyObject_GC_Del(self);
}

/* True if this thread runs an asyncio loop (errors count as no): what
 * _core._aio.loop_running_here tells Python code, without its call, on
 * arecv's fast path. */
static int
loop_running_here(void)
{
    PyObject *probe = load_ptr(&g_get_running_loop);
    if (probe == NULL) {
        PyObject *name = PyUnicode_FromString("asyncio");
        PyObject *asyncio = name == NULL ? NULL : PyImport_GetModule(name);
        Py_XDECREF(name);
        if (asyncio != NULL) {
            probe = PyObject_GetAttrString(asyncio, "_get_running_loop");
            Py_DECREF(asyncio);
        }
        if (probe == NULL) {
            PyErr_Clear();
            return 0;
        }
        if (!set_ptr_once(&g_get_running_loop, probe)) {
            Py_DECREF(probe); /* another thread was first */
            probe = load_ptr(&g_get_running_loop);
        }
    }
    PyObject *loop = PyObject_CallNoArgs(probe);
    if (loop == NULL) {
        PyErr_Clear();
        return 0;
    }
    int running = loop != Py_None;
    Py_DECREF(loop);
    return running;
}

/* The end of a step that finished (returned or raised). */
static PySendResult
await_finish(AwaitObject *self, PySendResult r)
{
    self->state = AWAIT_DONE;
    Py_CLEAR(self->inner);
    if (r == PYGEN_ERROR && self->anext && PyErr_ExceptionMatches(g_closed_exc)) {
        PyErr_Clear();
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    return r;
}

static PySendResult
await_forward(AwaitObject *self, PyObject *arg, PyObject **result)
{
    PySendResult r = PyIter_Send(self->inner, arg, result);
    return r == PYGEN_NEXT ? r : await_finish(self, r);
}

/* Claim the object for one step, throw or close: 0, or -1 (ValueError). */
static int
await_enter(AwaitObject *self)
{
#ifdef Py_GIL_DISABLED
    int idle = 0;
    int claimed = _Py_atomic_compare_exchange_int(&self->busy, &idle, 1);
#else
    int claimed = !self->busy;
    self->busy = 1;
#endif
    if (!claimed) {
        PyErr_SetString(PyExc_ValueError, "arecv() already executing");
        return -1;
    }
    return 0;
}

static void
await_leave(AwaitObject *self)
{
#ifdef Py_GIL_DISABLED
    _Py_atomic_store_int(&self->busy, 0);
#else
    self->busy = 0;
#endif
}

static PySendResult await_step_claimed(AwaitObject *self, PyObject *arg, PyObject **result);

static PySendResult
await_step(AwaitObject *self, PyObject *arg, PyObject **result)
{
    *result = NULL;
    if (await_enter(self) < 0) {
        return PYGEN_ERROR;
    }
    PySendResult r = await_step_claimed(self, arg, result);
    await_leave(self);
    return r;
}

static PySendResult
await_step_claimed(AwaitObject *self, PyObject *arg, PyObject **result)
{
    if (self->state == AWAIT_RUNNING) {
        return await_forward(self, arg, result);
    }
    if (self->state == AWAIT_DONE) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited arecv()");
        return PYGEN_ERROR;
    }
    if (arg != Py_None) {
        PyErr_SetString(PyExc_TypeError, "can't send non-None value to a just-started coroutine");
        return PYGEN_ERROR;
    }
    if (checkpoint_if_scoped() < 0) {
        return await_finish(self, PYGEN_ERROR);
    }
    if (loop_running_here()) {
        PyObject *value = recv_now((ChanObject *)self->chan);
        if (value == NULL) {
            return await_finish(self, PYGEN_ERROR);
        }
        if (value == g_closed) {
            Py_DECREF(value);
            PyErr_SetString(g_closed_exc, "receive from a closed channel");
            return await_finish(self, PYGEN_ERROR);
        }
        if (value != g_empty) {
            *result = value;
            return await_finish(self, PYGEN_RETURN);
        }
        Py_DECREF(value);
    }
    self->inner = PyObject_CallMethodOneArg(self->chan, s_arecv, self->seconds);
    if (self->inner == NULL) {
        return await_finish(self, PYGEN_ERROR);
    }
    self->state = AWAIT_RUNNING;
    return await_forward(self, Py_None, result);
}

/* A step's outcome as a Python call's: the yielded object, or NULL with
 * StopIteration(value) (or the error) set. */
static PyObject *
await_step_call(AwaitObject *self, PyObject *arg)
{
    PyObject *result;
    PySendResult r = await_step(self, arg, &result);
    if (r != PYGEN_RETURN) {
        return result;
    }
    if (result == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
    }
    else if (PyTuple_Check(result) || PyExceptionInstance_Check(result)) {
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
    }
    else {
        PyErr_SetObject(PyExc_StopIteration, result);
    }
    Py_DECREF(result);
    return NULL;
}

static PyObject *
Await_iternext(AwaitObject *self)
{
    return await_step_call(self, Py_None);
}

static PyObject *
Await_send(AwaitObject *self, PyObject *arg)
{
    return await_step_call(self, arg);
}

static PySendResult
Await_am_send(AwaitObject *self, PyObject *arg, PyObject **result)
{
    return await_step(self, arg, result);
}

static PyObject *await_throw_claimed(AwaitObject *self, PyObject *const *args, Py_ssize_t nargs);

static PyObject *
Await_throw(AwaitObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (await_enter(self) < 0) {
        return NULL;
    }
    PyObject *r = await_throw_claimed(self, args, nargs);
    await_leave(self);
    return r;
}

static PyObject *
await_throw_claimed(AwaitObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->state == AWAIT_RUNNING) {
        PyObject *throw = PyObject_GetAttr(self->inner, s_throw);
        PyObject *r = throw == NULL ? NULL : PyObject_Vectorcall(throw, args, (size_t)nargs, NULL);
        Py_XDECREF(throw);
        if (r == NULL) {
            (void)await_finish(self, PYGEN_ERROR);
        }
        return r;
    }
    if (self->state == AWAIT_DONE) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited arecv()");
        return NULL;
    }
    /* Not started: as a coroutine, raise it here, having received nothing
     * (an unstarted _arecv coroutine throws it back for us, with a
     * coroutine's argument checks). */
    self->state = AWAIT_DONE;
    PyObject *coro = PyObject_CallMethodOneArg(self->chan, s_arecv, self->seconds);
    if (coro == NULL) {
        return NULL;
    }
    PyObject *throw = PyObject_GetAttr(coro, s_throw);
    PyObject *r = throw == NULL ? NULL : PyObject_Vectorcall(throw, args, (size_t)nargs, NULL);
    Py_XDECREF(throw);
    Py_XDECREF(r);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *closed = PyObject_CallMethodNoArgs(coro, s_close);
    Py_XDECREF(closed);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    Py_DECREF(coro);
    return NULL;
}

static PyObject *
Await_close(AwaitObject *self, PyObject *Py_UNUSED(ignored))
{
    if (await_enter(self) < 0) {
        return NULL;
    }
    PyObject *inner = self->inner;
    self->inner = NULL;
    self->state = AWAIT_DONE;
    await_leave(self);
    if (inner == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *r = PyObject_CallMethodNoArgs(inner, s_close);
    Py_DECREF(inner);
    return r;
}

/* ``await aw``: a second awaiter while the first is suspended in it is
 * refused, as a coroutine refuses it (it would share the first's wait). */
static PyObject *
Await_await(AwaitObject *self)
{
    if (self->state == AWAIT_RUNNING) {
        PyErr_SetString(PyExc_RuntimeError, "arecv() is being awaited already");
        return NULL;
    }
    return Py_NewRef(self);
}

/* One made and dropped unawaited: warned of, as a coroutine is (nothing
 * was received). */
static void
Await_finalize(AwaitObject *self)
{
    if (self->state != AWAIT_NEW) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "coroutine 'Channel.%s' was never awaited",
                         self->anext ? "__anext__" : "arecv") < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    PyErr_Restore(type, value, tb);
}

static PyObject *
Await_get_name(AwaitObject *self, void *qualified)
{
    const char *name = self->anext ? "__anext__" : "arecv";
    return qualified ? PyUnicode_FromFormat("Channel.%s", name) : PyUnicode_FromString(name);
}

static PyGetSetDef Await_getset[] = {
    {"__name__", (getter)Await_get_name, NULL, NULL, NULL},
    {"__qualname__", (getter)Await_get_name, NULL, NULL, (void *)1},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Await_methods[] = {
    {"send", (PyCFunction)Await_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))Await_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)Await_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods Await_as_async = {
    .am_await = (unaryfunc)Await_await,
    .am_send = (sendfunc)Await_am_send,
};

static PyTypeObject AwaitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline._chancore.Await",
    .tp_basicsize = sizeof(AwaitObject),
    .tp_dealloc = (destructor)Await_dealloc,
    .tp_as_async = &Await_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An await of ch.arecv() or ch.__anext__() (see _chancore.c).",
    .tp_traverse = (traverseproc)Await_traverse,
    .tp_clear = (inquiry)Await_clear,
    .tp_weaklistoffset = offsetof(AwaitObject, weakrefs),
    /* no tp_iter: not iterable, as a coroutine is not (list(aw) would
     * receive); tp_iternext is how the interpreter's SEND steps it */
    .tp_iternext = (iternextfunc)Await_iternext,
    .tp_methods = Await_methods,
    .tp_getset = Await_getset,
    .tp_finalize = (destructor)Await_finalize,
};

static PyObject *
Chan_arecv(ChanObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    PyObject *timeout;
    if (parse_timeout("arecv", 0, args, nargsf, kwnames, &timeout) < 0) {
        return NULL;
    }
    PyObject *seconds = seconds_of(timeout);
    if (seconds == NULL) {
        return NULL;
    }
    PyObject *r = await_new((PyObject *)self, seconds, 0);
    Py_DECREF(seconds);
    return r;
}

static PyObject *
Chan_anext(ChanObject *self)
{
    return await_new((PyObject *)self, Py_None, 1);
}

/* -- construction ---------------------------------------------------------- */

static PyObject *
Chan_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwds))
{
    if (g_lock_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "threadline._chancore._setup() was not called");
        return NULL;
    }
    ChanObject *self = (ChanObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->capacity = PyLong_FromLong(0);
    self->lock = PyObject_CallNoArgs(g_lock_type);
    self->sendq = PyObject_CallNoArgs(g_deque);
    self->recvq = PyObject_CallNoArgs(g_deque);
    if (self->capacity == NULL || self->lock == NULL || self->sendq == NULL || self->recvq == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
Chan_init(ChanObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"capacity", NULL};
    PyObject *capacity = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Channel", kwlist, &capacity)) {
        return -1;
    }
    PyObject *checked = capacity == NULL ? PyLong_FromLong(0) : PyObject_CallOneArg(g_check_capacity, capacity);
    if (checked == NULL) {
        return -1;
    }
    Py_ssize_t cap;
    if (PyLong_Check(checked)) {
        cap = PyLong_AsSsize_t(checked);
        if (cap == -1 && PyErr_Occurred()) { /* beyond any memory: unbounded */
            PyErr_Clear();
            cap = PY_SSIZE_T_MAX;
        }
    }
    else {
        cap = PY_SSIZE_T_MAX; /* math.inf */
    }
    /* Once only: a second __init__ would rewrite the capacity of a channel
     * other threads may be using (the fields are read under its lock). */
    int again;
    Py_BEGIN_CRITICAL_SECTION(self);
    again = self->initialised;
    if (!again) {
        self->initialised = 1;
        Py_SETREF(self->capacity, checked);
        self->cap = cap;
    }
    Py_END_CRITICAL_SECTION();
    if (again) {
        Py_DECREF(checked);
        PyErr_SetString(PyExc_RuntimeError,
                        "Channel.__init__() called again: a channel is initialised once");
        return -1;
    }
    return 0;
}

static int
Chan_traverse(ChanObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->lock);
    Py_VISIT(self->sendq);
    Py_VISIT(self->recvq);
    Py_VISIT(self->capacity);
    for (Py_ssize_t i = 0; i < self->len; i++) {
        Py_VISIT(RING_AT(self, i));
    }
    return 0;
}

/* Breaks cycles through the buffer and the queues; the object stays
 * usable (the queues are emptied, not dropped). */
static int
Chan_clear(ChanObject *self)
{
    PyObject *queues[] = {self->sendq, self->recvq};
    for (int i = 0; i < 2; i++) {
        if (queues[i] != NULL) {
            PyObject *r = PyObject_CallMethodNoArgs(queues[i], s_clear);
            if (r == NULL) {
                PyErr_WriteUnraisable(queues[i]);
            }
            Py_XDECREF(r);
        }
    }
    while (self->len > 0) {
        PyObject *v = ring_pop(self);
        Py_DECREF(v);
    }
    return 0;
}

static void
Chan_dealloc(ChanObject *self)
{
    /* (A subclass's dealloc drops the reference to its heap type.) */
    PyObject_GC_UnTrack(self);
    while (self->len > 0) {
        PyObject *v = ring_pop(self);
        Py_DECREF(v);
    }
    Py_CLEAR(self->sendq);
    Py_CLEAR(self->recvq);
    Py_CLEAR(self->lock);
    Py_CLEAR(self->capacity);
    PyMem_Free(self->ring);
    self->ring = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* -- attributes ------------------------------------------------------------ */

static PyObject *
Chan_get_buf(ChanObject *self, void *Py_UNUSED(closure))
{
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return NULL;
    }
    PyObject *items = PyList_New(self->len);
    if (items != NULL) {
        for (Py_ssize_t i = 0; i < self->len; i++) {
            PyList_SET_ITEM(items, i, Py_NewRef(RING_AT(self, i)));
        }
    }
    if (items == NULL) {
        lock_give_after_error(lock);
        Py_DECREF(lock);
        return NULL;
    }
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    if (r < 0) {
        Py_DECREF(items);
        return NULL;
    }
    PyObject *buf = PyObject_CallOneArg(g_deque, items);
    Py_DECREF(items);
    return buf;
}

static int
Chan_set_buf(ChanObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _buf");
        return -1;
    }
    PyObject *items = PySequence_List(value);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    Py_ssize_t alloc = 8;
    while (alloc < n) {
        alloc *= 2;
    }
    PyObject **ring = PyMem_Malloc((size_t)alloc * sizeof(PyObject *));
    if (ring == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        ring[i] = Py_NewRef(PyList_GET_ITEM(items, i));
    }
    Py_DECREF(items);
    /* Swap under the lock, then drop the old values (their destructors may
     * run code). */
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_DECREF(ring[i]);
        }
        PyMem_Free(ring);
        return -1;
    }
    PyObject **old = self->ring;
    Py_ssize_t old_alloc = self->alloc, old_head = self->head, old_len = self->len;
    self->ring = ring;
    self->alloc = alloc;
    self->head = 0;
    self->len = n;
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    for (Py_ssize_t i = 0; i < old_len; i++) {
        Py_DECREF(old[(old_head + i) & (old_alloc - 1)]);
    }
    PyMem_Free(old);
    return r;
}

static PyObject *
Chan_get_closed(ChanObject *self, void *Py_UNUSED(closure))
{
#ifdef Py_GIL_DISABLED
    return PyBool_FromLong(_Py_atomic_load_int_relaxed(&self->closed));
#else
    return PyBool_FromLong(self->closed);
#endif
}

static PyObject *
Chan_get_capacity(ChanObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->capacity);
}

static PyObject *
Chan_get_lock(ChanObject *self, void *Py_UNUSED(closure))
{
    return chan_lock_ref(self);
}

static int
Chan_set_lock(ChanObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _lock");
        return -1;
    }
    PyObject *old;
    Py_BEGIN_CRITICAL_SECTION(self);
    old = self->lock;
    self->lock = Py_NewRef(value);
    Py_END_CRITICAL_SECTION();
    Py_DECREF(old);
    return 0;
}

/* _sendq, _recvq: tests replace them (with no other thread using the
 * channel).  The pointer is read and swapped in a critical section on the
 * channel, and swapped under the channel lock too, for the C readers. */
static PyObject *
Chan_get_queue(ChanObject *self, void *closure)
{
    PyObject *queue;
    Py_BEGIN_CRITICAL_SECTION(self);
    queue = Py_NewRef(closure == NULL ? self->sendq : self->recvq);
    Py_END_CRITICAL_SECTION();
    return queue;
}

static int
Chan_set_queue(ChanObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete a channel's queue");
        return -1;
    }
    PyObject *lock = chan_lock_ref(self);
    if (chan_lock(lock) < 0) {
        Py_DECREF(lock);
        return -1;
    }
    PyObject **slot = closure == NULL ? &self->sendq : &self->recvq;
    PyObject *old;
    Py_BEGIN_CRITICAL_SECTION(self);
    old = *slot;
    *slot = Py_NewRef(value);
    Py_END_CRITICAL_SECTION();
    int r = chan_unlock(lock);
    Py_DECREF(lock);
    Py_DECREF(old);
    return r;
}

static PyGetSetDef Chan_getset[] = {
    {"_sendq", (getter)Chan_get_queue, (setter)Chan_set_queue, NULL, NULL},
    {"_recvq", (getter)Chan_get_queue, (setter)Chan_set_queue, NULL, (void *)1},
    {"_buf", (getter)Chan_get_buf, (setter)Chan_set_buf, "The buffered values (a deque snapshot).", NULL},
    {"_closed", (getter)Chan_get_closed, NULL, NULL, NULL},
    {"_capacity", (getter)Chan_get_capacity, NULL, NULL, NULL},
    {"_lock", (getter)Chan_get_lock, (setter)Chan_set_lock, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Chan_methods[] = {
    {"send", (PyCFunction)(void (*)(void))Chan_send, METH_FASTCALL | METH_KEYWORDS,
     "send($self, value, /, *, timeout=None)\n--\n\n"
     "Send *value*, blocking until it is buffered or handed over."},
    {"recv", (PyCFunction)(void (*)(void))Chan_recv, METH_FASTCALL | METH_KEYWORDS,
     "recv($self, /, *, timeout=None)\n--\n\nReceive a value, blocking until one arrives."},
    {"try_send", (PyCFunction)Chan_try_send, METH_O,
     "try_send($self, value, /)\n--\n\nSend without blocking; False if the send would block."},
    {"try_recv", (PyCFunction)Chan_try_recv, METH_NOARGS,
     "try_recv($self, /)\n--\n\n``(value, True)`` if a value is ready, else ``(None, False)``.\n"
     "Raises ``ChannelClosed`` if the channel is closed and drained."},
    {"close", (PyCFunction)Chan_close, METH_NOARGS,
     "close($self, /)\n--\n\nClose the channel.  Idempotent.\n\n"
     "Later sends raise ``ChannelClosed``; receivers get the buffered values,\n"
     "then ``ChannelClosed``.  Parked senders and receivers are woken with\n``ChannelClosed``."},
    {"arecv", (PyCFunction)(void (*)(void))Chan_arecv, METH_FASTCALL | METH_KEYWORDS,
     "arecv($self, /, *, timeout=None)\n--\n\n"
     "``recv`` for coroutines: ``await ch.arecv()`` suspends the task\n"
     "instead of the thread.  The receive happens when awaited (a bad\n"
     "*timeout* raises at once)."},
    {"_send_locked", (PyCFunction)Chan_send_locked, METH_O, NULL},
    {"_recv_locked", (PyCFunction)Chan_recv_locked, METH_NOARGS, NULL},
    {"_recv_now", (PyCFunction)Chan_recv_now, METH_NOARGS, NULL},
    {"_unrecv", (PyCFunction)Chan_unrecv, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods Chan_as_async = {
    .am_anext = (unaryfunc)Chan_anext,
};

static PySequenceMethods Chan_as_sequence = {
    .sq_length = (lenfunc)Chan_len,
};

static PyTypeObject ChanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threadline._chancore.ChannelCore",
    .tp_basicsize = sizeof(ChanObject),
    .tp_dealloc = (destructor)Chan_dealloc,
    .tp_as_sequence = &Chan_as_sequence,
    .tp_as_async = &Chan_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A channel's state and fast paths (see _channel.py).",
    .tp_traverse = (traverseproc)Chan_traverse,
    .tp_clear = (inquiry)Chan_clear,
    .tp_iternext = (iternextfunc)Chan_iternext,
    .tp_methods = Chan_methods,
    .tp_getset = Chan_getset,
    .tp_init = (initproc)Chan_init,
    .tp_new = Chan_new,
};

/* ------------------------------------------------------------------------ */

static PyObject *
chancore_setup(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "_setup() takes 10 arguments");
        return NULL;
    }
    PyObject **slots[] = {&g_current, &g_checkpoint, &g_check_timeout, &g_check_capacity, &g_closed_exc,
                          &g_empty, &g_closed, &g_lock_type, &g_deque, &g_wake_closed};
    if (!PyType_Check(args[7]) || !PyType_IsSubtype((PyTypeObject *)args[7], &LockType)) {
        PyErr_SetString(PyExc_TypeError, "_setup(): the lock type must subclass Lock");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_XSETREF(*slots[i], Py_NewRef(args[i]));
    }
    Py_RETURN_NONE;
}

/* -- select's fast path ------------------------------------------------------
 * select(*cases) with a few receive cases (or None), no timeout and no
 * cancel scope, where a case is ready: the same visiting order as
 * _select._fast_poll (the same table of permutations; the pick comes from
 * rng_next below), each channel polled under its own lock.  Anything else,
 * or nothing ready, goes to _select's Python select, which polls again. */

static PyObject *g_chan_class; /* the compiled Channel class */
static PyObject *g_selected;   /* _select.Selected */
static PyObject *g_select_py;  /* _select's Python select */

/* The visiting orders for n cases (n < SELECT_FAST_MAX): the n! permutations
 * of range(n) in lexicographic order, as _select._PERMUTATIONS lists them
 * (itertools.permutations).  Built at import (make_orders); _setup_select
 * checks that the two tables agree, so both paths replay a seed alike. */
#define SELECT_FAST_MAX 6
static unsigned char g_orders[SELECT_FAST_MAX][120][SELECT_FAST_MAX];
static Py_ssize_t g_norders[SELECT_FAST_MAX];
static PyObject *g_index[SELECT_FAST_MAX]; /* the ints 0..5 */

static int
make_orders(void)
{
    for (int n = 0; n < SELECT_FAST_MAX; n++) {
        unsigned char p[SELECT_FAST_MAX];
        for (int i = 0; i < n; i++) {
            p[i] = (unsigned char)i;
        }
        Py_ssize_t k = 0;
        for (;;) {
            memcpy(g_orders[n][k++], p, (size_t)n);
            int i = n - 2; /* the next permutation in lexicographic order */
            while (i >= 0 && p[i] > p[i + 1]) {
                i--;
            }
            if (i < 0) {
                break;
            }
            int j = n - 1;
            while (p[j] < p[i]) {
                j--;
            }
            unsigned char t = p[i];
            p[i] = p[j];
            p[j] = t;
            for (int a = i + 1, b = n - 1; a < b; a++, b--) {
                t = p[a];
                p[a] = p[b];
                p[b] = t;
            }
        }
        g_norders[n] = k;
        if ((g_index[n] = PyLong_FromLong(n)) == NULL) {
            return -1;
        }
    }
    return 0;
}

/* 1 if *perms* (_select._PERMUTATIONS) is the table above, 0 if not, -1 on
 * error. */
static int
same_orders(PyObject *perms)
{
    if (!PyList_Check(perms) || PyList_GET_SIZE(perms) != SELECT_FAST_MAX) {
        return 0;
    }
    for (Py_ssize_t n = 0; n < SELECT_FAST_MAX; n++) {
        PyObject *list = PyList_GET_ITEM(perms, n);
        if (!PyList_Check(list) || PyList_GET_SIZE(list) != g_norders[n]) {
            return 0;
        }
        for (Py_ssize_t k = 0; k < g_norders[n]; k++) {
            PyObject *order = PyList_GET_ITEM(list, k);
            if (!PyTuple_Check(order) || PyTuple_GET_SIZE(order) != n) {
                return 0;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                long v = PyLong_AsLong(PyTuple_GET_ITEM(order, i));
                if (v == -1 && PyErr_Occurred()) {
                    return -1;
                }
                if (v != g_orders[n][k][i]) {
                    return 0;
                }
            }
        }
    }
    return 1;
}

/* select's random source, splitmix64: seeded by _select._rng.seed() (through
 * _seed), so that a seeded run replays its choices on both paths. */
static uint64_t g_rng_state = 0x2545F4914F6CDD1DULL;

static inline uint64_t
rng_next(void)
{
#ifdef Py_GIL_DISABLED
    uint64_t z = _Py_atomic_add_uint64(&g_rng_state, 0x9E3779B97F4A7C15ULL) + 0x9E3779B97F4A7C15ULL;
#else
    uint64_t z = (g_rng_state += 0x9E3779B97F4A7C15ULL);
#endif
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static PyObject *
chancore_pick(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n <= 0) {
        PyErr_Format(PyExc_ValueError, "_pick(n) needs n > 0, got %zd", n);
        return NULL;
    }
    return PyLong_FromSsize_t((Py_ssize_t)(rng_next() % (uint64_t)n));
}

static PyObject *
chancore_seed(PyObject *Py_UNUSED(module), PyObject *seed)
{
    unsigned long long v = PyLong_AsUnsignedLongLongMask(seed);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    _Py_atomic_store_uint64(&g_rng_state, (uint64_t)v);
#else
    g_rng_state = (uint64_t)v;
#endif
    Py_RETURN_NONE;
}

/* -- Selected, made and freed cheaply ------------------------------------------
 * A select's result is a Selected (a NamedTuple: a tuple subclass with no
 * __dict__ or __weakref__), and the generic allocator and subtype_dealloc
 * were a third of a fast select's instructions.  When the class has that
 * plain layout (selected_is_plain), _setup_select gives it selected_dealloc,
 * what tuple's dealloc does plus the type's reference, and new_selected
 * allocates with PyObject_GC_NewVar.  A subclass keeps subtype_dealloc,
 * which calls selected_dealloc as its base's; a finalizer assigned to the
 * class later still runs.  Otherwise the class keeps its own slots. */

static int g_selected_fast; /* set by _setup_select before any select runs */

static int
selected_is_plain(PyTypeObject *type)
{
    return (type->tp_flags & Py_TPFLAGS_HEAPTYPE) && (type->tp_flags & Py_TPFLAGS_HAVE_GC) &&
           type->tp_base == &PyTuple_Type && type->tp_basicsize == PyTuple_Type.tp_basicsize &&
           type->tp_itemsize == PyTuple_Type.tp_itemsize && type->tp_dictoffset == 0 &&
           type->tp_weaklistoffset == 0 && type->tp_free == PyObject_GC_Del && type->tp_del == NULL;
}

static void
selected_dealloc(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    if (type->tp_finalize != NULL && PyObject_CallFinalizerFromDealloc(op) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(op);
    Py_TRASHCAN_BEGIN(op, selected_dealloc)
    for (Py_ssize_t i = Py_SIZE(op); --i >= 0;) {
        Py_XDECREF(PyTuple_GET_ITEM(op, i));
    }
    type->tp_free(op);
    Py_DECREF(type); /* a heap type's instance holds a reference to it */
    Py_TRASHCAN_END
}

static PyObject *
new_selected(Py_ssize_t index, PyObject *value, int ok)
{
    PyTypeObject *type = (PyTypeObject *)g_selected;
    PyObject *sel = g_selected_fast ? (PyObject *)PyObject_GC_NewVar(PyTupleObject, type, 3)
                                    : type->tp_alloc(type, 3);
    if (sel == NULL) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14+ caches a tuple's hash, -1 for none yet: tp_alloc zeroes it,
     * which would make hash(sel) 0 (as tuple.__new__ does, reset it) */
    ((PyTupleObject *)sel)->ob_hash = -1;
#endif
    PyTuple_SET_ITEM(sel, 0, Py_NewRef(g_index[index]));
    PyTuple_SET_ITEM(sel, 1, Py_NewRef(value));
    PyTuple_SET_ITEM(sel, 2, Py_NewRef(ok ? Py_True : Py_False));
    if (g_selected_fast) {
        PyObject_GC_Track(sel);
    }
    return sel;
}

static PyObject *
chancore_select(PyObject *Py_UNUSED(module), PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t count = PyVectorcall_NARGS(nargsf);
    if (g_select_py == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "threadline._chancore._setup_select() was not called");
        return NULL;
    }
    if (kwnames != NULL && (PyTuple_GET_SIZE(kwnames) != 1 || args[count] != Py_None)) {
        goto general; /* a timeout (or a wrong keyword: the general path says so) */
    }
    if (count == 0 || count >= SELECT_FAST_MAX) {
        goto general;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (args[i] != Py_None && (PyObject *)Py_TYPE(args[i]) != g_chan_class) {
            goto general;
        }
    }
    if (kwnames != NULL) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, 0);
        if (!PyUnicode_Check(key) || PyUnicode_Compare(key, s_timeout) != 0) {
            goto general;
        }
    }
    PyObject *scope;
    if (PyContextVar_Get(g_current, NULL, &scope) < 0) {
        return NULL;
    }
    int scoped = scope != NULL && scope != Py_None;
    Py_XDECREF(scope);
    if (scoped) {
        goto general;
    }
    const unsigned char *order = g_orders[count][rng_next() % (uint64_t)g_norders[count]];
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t i = order[k];
        if (args[i] == Py_None) {
            continue;
        }
        PyObject *value = recv_now((ChanObject *)args[i]);
        if (value == NULL) {
            return NULL;
        }
        if (value == g_empty) {
            Py_DECREF(value);
            continue;
        }
        PyObject *sel = value == g_closed ? new_selected(i, Py_None, 0) : new_selected(i, value, 1);
        if (sel == NULL) { /* nothing was selected: the value goes back */
            if (value != g_closed) {
                give_back_value((ChanObject *)args[i], value);
            }
        }
        Py_DECREF(value);
        return sel;
    }
general:
    return PyObject_Vectorcall(g_select_py, args, nargsf, kwnames);
}

static PyObject *
chancore_setup_select(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "_setup_select() takes 4 arguments");
        return NULL;
    }
    if (!PyType_Check(args[0]) || !PyType_IsSubtype((PyTypeObject *)args[0], &ChanType) ||
        !PyType_Check(args[1]) || !PyType_IsSubtype((PyTypeObject *)args[1], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "_setup_select(): bad arguments");
        return NULL;
    }
    int same = same_orders(args[2]);
    if (same <= 0) {
        if (same == 0) {
            PyErr_SetString(PyExc_ValueError,
                            "_setup_select(): the permutations differ from the core's visiting orders");
        }
        return NULL;
    }
    PyTypeObject *selected = (PyTypeObject *)args[1];
    if (selected->tp_dealloc == selected_dealloc || selected_is_plain(selected)) {
        selected->tp_dealloc = selected_dealloc;
        g_selected_fast = 1;
    }
    else {
        g_selected_fast = 0;
    }
    PyObject **slots[] = {&g_chan_class, &g_selected, NULL, &g_select_py};
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (slots[i] != NULL) {
            Py_XSETREF(*slots[i], Py_NewRef(args[i]));
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef chancore_functions[] = {
    {"_setup", (PyCFunction)(void (*)(void))chancore_setup, METH_FASTCALL, NULL},
    {"_setup_select", (PyCFunction)(void (*)(void))chancore_setup_select, METH_FASTCALL, NULL},
    {"_seed", (PyCFunction)chancore_seed, METH_O, NULL},
    {"_pick", (PyCFunction)chancore_pick, METH_O, NULL},
    {"select", (PyCFunction)(void (*)(void))chancore_select, METH_FASTCALL | METH_KEYWORDS,
     "select(*cases, timeout=None)\n--\n\n"
     "Block until one case can proceed, perform it, and say which.\n\n"
     "``select(jobs, quit, (results, r), None, timeout=1.0)``: receive from\n"
     "``jobs`` or ``quit``, or send ``r`` to ``results``; ``None`` is never\n"
     "ready.  Among ready cases one is chosen uniformly at random."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef chancore_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "threadline._chancore",
    .m_doc = "A channel's hot state and fast paths in C (optional; see _channel.py).",
    .m_size = -1,
    .m_methods = chancore_functions,
};

PyMODINIT_FUNC
PyInit__chancore(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_acquire, "acquire"},     {&s_release, "release"},         {&s_popleft, "popleft"},
        {&s_waiter, "waiter"},       {&s_case, "case"},               {&s_value, "value"},
        {&s_fire, "fire"},           {&s_send_wait, "_send_wait"},    {&s_recv_wait, "_recv_wait"},
        {&s_next_wait, "_next_wait"}, {&s_unrecv, "_unrecv"},         {&s_timeout, "timeout"},
        {&s_recv_what, "Channel.recv()"}, {&s_recv_instead, "await ch.arecv()"}, {&s_clear, "clear"},
        {&s_arecv, "_arecv"}, {&s_throw, "throw"}, {&s_close, "close"},
        {&s_fired, "fired"}, {&s_appendleft, "appendleft"}, {&s_ok, "ok"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&LockType) < 0 || PyType_Ready(&ChanType) < 0 || PyType_Ready(&AwaitType) < 0 ||
        make_orders() < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&chancore_module);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    if (PyModule_AddObjectRef(m, "Lock", (PyObject *)&LockType) < 0 ||
        PyModule_AddObjectRef(m, "ChannelCore", (PyObject *)&ChanType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
