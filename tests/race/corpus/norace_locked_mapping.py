"""A mapping class that locks inside its own __getitem__/__setitem__/
__delitem__: threads that use it need no lock of their own."""

import threading


class LockedMap:
    def __init__(self):
        self._lock = threading.Lock()
        self._data = {}

    def __getitem__(self, key):
        with self._lock:
            return self._data[key]

    def __setitem__(self, key, value):
        with self._lock:
            self._data[key] = value

    def __delitem__(self, key):
        with self._lock:
            del self._data[key]

    def __contains__(self, key):
        with self._lock:
            return key in self._data


shared = LockedMap()
shared["seen"] = 0


def work(name):
    for i in range(20):
        shared[name] = i
        print(shared["seen"], shared[name])
        del shared[name]
    shared["seen"] += 1  # the last use: nothing of this thread's comes after it


threads = [threading.Thread(target=work, args=(n,)) for n in "ab"]
for t in threads:
    t.start()
for t in threads:
    t.join()
