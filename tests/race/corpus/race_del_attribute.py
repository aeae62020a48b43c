"""`del obj.attr` in one thread, a read in another."""

import threading


class Cache:
    def __init__(self):
        self.value = 1


cache = Cache()


def clear():
    del cache.value


t = threading.Thread(target=clear)
t.start()
getattr(cache, "value", None)
print(hasattr(cache, "x") or cache.__dict__.get("value"))
try:
    print(cache.value)
except AttributeError:
    pass
t.join()
