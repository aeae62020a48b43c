/* What the files of the race detector's C hot path share (threadline.race._accel):
 *
 *   _accel_core.c    Core (a detector's clocks, accesses, locations,
 *                    hand-offs and stacks), Location, ThreadInfo
 *   _accel_hooks.c   Hooks: the C twins of the hottest hooks of _hooks.py
 *   _accel_module.c  the module: interned names, types registered
 *
 * Core's struct is here because the hooks read its hand-off table; the
 * functions below are Core's C entry points for the hooks, each what the
 * Core method of that name does (see _accel_core.c for the locking rules).
 */
#ifndef THREADLINE_RACE_ACCEL_H
#define THREADLINE_RACE_ACCEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>

/* Shared between the files of this module only, never exported. */
#if defined(__GNUC__) || defined(__clang__)
#define ACCEL_INTERNAL __attribute__((visibility("hidden")))
#else
#define ACCEL_INTERNAL
#endif

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

/* Interned names, made by the module's init (_accel_module.c). */
ACCEL_INTERNAL extern PyObject *s_held, *s_slot, *s_name, *s_created_at, *s_vc, *s_cached_stack,
    *s_items, *s_acquire, *s_enter, *s_exit, *s_last_read, *s_last_write, *s_oid, *s_dunder_name,
    *s_thread, *s_drain_dead, *s_new_location, *s_report, *s_class;
ACCEL_INTERNAL extern PyObject *zero; /* the int 0 */

/* d[k] as a new reference: 1 found, 0 missing, -1 error. */
static inline int
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
static inline long long
clock_get(PyObject *clock, PyObject *slot)
{
    PyObject *v = PyDict_GetItemWithError(clock, slot);
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return PyLong_AsLongLong(v);
}

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
    PyThread_type_lock *locks; /* the stripe locks (see _accel_core.c) */
    Py_ssize_t stripes;
} Core;

ACCEL_INTERNAL extern PyTypeObject CoreType;

/* Core.access(obj, key, write, describe, atomic, seen): 0, or -1 with an
 * exception set.  *seen*: a hand-off clock, or NULL. */
ACCEL_INTERNAL int core_access(Core *self, PyObject *obj, PyObject *key, int write,
                               PyObject *describe, int atomic, PyObject *seen);
/* Core.acquire(obj), Core.release(obj): None, or NULL. */
ACCEL_INTERNAL PyObject *Core_acquire(Core *self, PyObject *obj);
ACCEL_INTERNAL PyObject *Core_release(Core *self, PyObject *obj);
/* Core.stored(value): 1 when something was handed over, 0 if not, -1. */
ACCEL_INTERNAL int core_stored(Core *self, PyObject *value);
/* Core.tick(): 0 or -1. */
ACCEL_INTERNAL int core_tick(Core *self);
/* Core.fetched(value, holder, taken): a new reference to a clock or None;
 * *holder* may be NULL. */
ACCEL_INTERNAL PyObject *core_fetched(Core *self, PyObject *value, PyObject *holder, int taken);

/* Each file readies its types and adds the public ones to the module. */
ACCEL_INTERNAL int accel_core_types(PyObject *module);
ACCEL_INTERNAL int accel_hooks_types(PyObject *module);

#endif
