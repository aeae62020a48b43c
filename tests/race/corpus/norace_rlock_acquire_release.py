"""An RLock taken with acquire()/release(), re-entered."""

import threading

lock = threading.RLock()
data = {"n": 0}


def work():
    for _ in range(20):
        lock.acquire()
        try:
            with lock:
                data["n"] = data["n"] + 1
        finally:
            lock.release()


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
