/* The race detector's hot path in C, the module: threadline.race._accel
 * (Core, Location, ThreadInfo from _accel_core.c; Hooks from
 * _accel_hooks.c).  Its init interns the names the other files look up
 * and registers their types.  Optional: _detector.py runs the pure-Python
 * path where it is not built, and where THREADLINE_RACE_PURE=1 asks.
 *
 * The module relies on the GIL (see the same-epoch fast path in
 * _accel_core.c) and refuses to load on a free-threaded build, where the
 * Python path takes over.  Init runs once, under the import lock.
 */
#include "_accel.h"

PyObject *s_held, *s_slot, *s_name, *s_created_at, *s_vc, *s_cached_stack, *s_items,
    *s_acquire, *s_enter, *s_exit, *s_last_read, *s_last_write, *s_oid, *s_dunder_name,
    *s_thread, *s_drain_dead, *s_new_location, *s_report, *s_class;
PyObject *zero;

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
        {&s_cached_stack, "cached_stack"},
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
        {&s_class, "<class>"}, /* _locations.CLASS */
        {&s_dunder_name, "__name__"},
        {&s_report, "_report"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL &&
            (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&accel_module);
    if (m == NULL) {
        return NULL;
    }
    if (accel_core_types(m) < 0 || accel_hooks_types(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
