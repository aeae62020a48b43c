/* The race detector's hot path in C, the hooks: Hooks, the C twins of the
 * hottest methods of _hooks.Hooks (the list is Hooks._IN_C; a test checks
 * it against this type's methods).  On the C path the Python Hooks object
 * puts them in its instance dict, where instrumented code finds them
 * first.  (The core they report to is in _accel_core.c; what the files
 * share, in _accel.h.)
 *
 * The Python methods stay the reference.  Each twin records the same
 * accesses, hand-offs and sync edges, in the same order, as its Python
 * namesake; shapes that are rare on hot paths go to the Python method
 * (a slice or an unhashable key: Hooks.ri/wi; a lock-like object other
 * than a plain Lock or RLock: Hooks._held; a builtin other than len and
 * the whole-container readers: Hooks.call).  tests/race/test_accel_model.py
 * runs random hook sequences through both and requires the same races.
 *
 * Locking: none of its own.  The hooks run the program's operation with
 * no detector lock held and then report to Core, which takes its stripe
 * locks inside each call (see _accel_core.c); the aug-assign target stack
 * is per thread (a threading.local); the method tables (_methods.TABLES,
 * shared with the Python path) are filled by whichever thread sees a type
 * first, with the same value from any thread, and hold their types weakly
 * (no cache here keeps a program's class alive).
 */
#include "_accel.h"

/* ---- Hooks: what instrumented code calls (see _hooks.py) ------------------- */

typedef struct {
    PyObject_HEAD
    Core *core;
    PyObject *py;          /* the Python Hooks object */
    PyObject *describe;    /* _locations.describe */
    PyObject *local_type;  /* threading.local */
    PyObject *deque_type;  /* collections.deque */
    PyObject *containers;  /* (list, dict, set, deque) */
    PyObject *lock_types;  /* what ``with`` treats as a lock */
    PyObject *plain_locks; /* Lock and RLock types: acquire politely */
    PyObject *tables;      /* _methods.TABLES: weakref to a type -> method table or None */
    PyObject *table_for;   /* _methods.table_for: computes and remembers a type's */
    PyObject *method_names; /* _methods.METHOD_NAMES: every name in a table */
    PyObject *politely;    /* _core._convoy.acquire_politely */
    PyObject *py_ri, *py_wi; /* Hooks.ri, Hooks.wi: the Python functions */
    PyObject *stack;       /* threading.local: the aug-assign targets */
    PyObject *readers;     /* _methods.WHOLE_READERS: builtins that read a whole container */
    PyObject *py_call;     /* Hooks.call: the Python function, for the other builtins */
    PyObject *len;         /* this object's _len, made on first use */
    PyObject *len_builtin; /* builtins.len */
    PyObject *shape, *all, *moved, *item, *global;
    PyObject *rname;       /* "__tl_race__": what instrumented code refers to */
    PyObject *getitem, *setitem, *mapping;
} Hooks;

static PyTypeObject HeldType;

static int
rec(Hooks *h, PyObject *obj, PyObject *key, int write, int atomic)
{
    return core_access(h->core, obj, key, write, h->describe, atomic, NULL);
}

/* A read that returned a value whose hand-off clock is *seen* (or NULL). */
static int
rec_seen(Hooks *h, PyObject *obj, PyObject *key, PyObject *seen)
{
    return core_access(h->core, obj, key, 0, h->describe, 0, seen);
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
    PyObject *r = core_fetched(h->core, value, holder, taken);
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

/* Is obj.name, whose value is callable, the object's own (not its class's:
 * a method)?  Then reading it is an access like any other (a callback
 * stored on an object, six's ``moves``).  Modules and classes: no (their
 * functions and methods; a module's globals are recorded by ``ra``). */
static int
own_callable(PyObject *obj, PyObject *name)
{
    if (Py_IS_TYPE(obj, &PyModule_Type) || PyType_Check(obj) || !PyUnicode_Check(name)) {
        return 0;
    }
    /* the MRO's dicts, through the type attribute cache (no exception, a
       borrowed result): cheap enough for every method call */
    return _PyType_Lookup(Py_TYPE(obj), name) == NULL;
}

/* obj.name, *method* (a reference stolen): wrapped when the method table
 * of obj's type has *name* (see Hooks.m, Hooks._wrapped), else itself. */
static PyObject *
wrapped_method(Hooks *h, PyObject *obj, PyObject *name, PyObject *method)
{
    /* a reference of our own: table_for runs Python code, and another
       thread could set obj.__class__ meanwhile */
    PyObject *cls = Py_NewRef((PyObject *)Py_TYPE(obj)), *table = NULL;
    /* the tables hold their types weakly: looked up by weakref.ref(cls),
       equal to the key while cls lives (see _methods) */
    PyObject *ref = PyWeakref_NewRef(cls, NULL);
    int found = ref == NULL ? -1 : dict_get(h->tables, ref, &table);
    Py_XDECREF(ref);
    if (found == 0) {
        table = PyObject_CallOneArg(h->table_for, cls); /* remembers it */
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

/* A lookup of obj.name failed: on AttributeError, that is still a read, of
 * the attribute's absence (racing with the thread that sets it).  The
 * pending error stays, unless recording fails. */
static void
read_absence(Hooks *h, PyObject *obj, PyObject *name)
{
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return;
    }
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    if (attr_access(h, obj, name, 0) < 0) {
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        return;
    }
    PyErr_Restore(type, exc, tb);
}

static PyObject *
read_attr(Hooks *h, PyObject *obj, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        read_absence(h, obj, name);
        return NULL;
    }
    int r = 0;
    if (Py_IS_TYPE(obj, &PyModule_Type)) {
        PyObject *ns = PyModule_GetDict(obj);
        r = ns == NULL ? -1 : rec_pair(h, ns, h->global, name, 0);
    }
    else if (!PyCallable_Check(value) || (r = own_callable(obj, name)) == 1) {
        r = PyObject_IsInstance(obj, h->local_type);
        if (r == 0) {
            r = rec(h, obj, name, 0, 0);
            /* reached through a handed object: handed over with it */
            if (r == 0) {
                r = hand_fetched(h, value, obj, 0, NULL);
            }
        }
    }
    else if (PyMethod_Check(value) || PyCFunction_Check(value)) {
        /* ``w = ev.wait``, called later: wrapped as Hooks_m wraps it (a
           name in no table: no table lookup) */
        r = PySet_Contains(h->method_names, name);
        if (r > 0) {
            return wrapped_method(h, obj, name, value);
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
    int handed = container ? core_stored(h->core, value) : 0;
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
        if (core_tick(h->core) < 0) {
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
        read_absence(h, obj, name);
        return NULL;
    }
    int own = own_callable(obj, name); /* obj.f() with f the object's own */
    if (own != 0 && (own < 0 || attr_access(h, obj, name, 0) < 0)) {
        Py_DECREF(method);
        return NULL;
    }
    return wrapped_method(h, obj, name, method);
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
    Py_VISIT(h->method_names);
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
    Py_CLEAR(h->method_names);
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
                             "method_names", "politely", "py_ri", "py_wi", "stack", "shape", "all", "moved",
                             "readers", "py_call", "rname", NULL};
    PyObject *core, *py, *describe, *local_type, *deque_type, *containers, *lock_types,
        *plain_locks, *tables, *table_for, *method_names, *politely, *py_ri, *py_wi, *stack, *shape, *all,
        *moved, *readers, *py_call, *rname;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "$O!OOOOO!O!O!O!OO!OOOOUUUO!OU:Hooks", kwlist, &CoreType, &core, &py,
            &describe, &local_type, &deque_type, &PyTuple_Type, &containers, &PyTuple_Type,
            &lock_types, &PyFrozenSet_Type, &plain_locks, &PyDict_Type, &tables, &table_for,
            &PyFrozenSet_Type, &method_names, &politely, &py_ri, &py_wi, &stack, &shape, &all,
            &moved, &PyFrozenSet_Type, &readers, &py_call, &rname)) {
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
    h->method_names = Py_NewRef(method_names);
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

int
accel_hooks_types(PyObject *m)
{
    if (PyType_Ready(&HooksType) < 0 || PyType_Ready(&HeldType) < 0 ||
        PyType_Ready(&ReadingType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Hooks", (PyObject *)&HooksType);
}
