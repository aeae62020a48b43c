"""A lock made by code that is not instrumented (the standard library's
queue), and one made at import of a helper module, before any thread."""

import queue
import threading

import corpus_helper

lock = queue.Queue().mutex


class Data:
    n = 0


data = Data()


def work():
    for _ in range(10):
        with lock:
            data.n += 1
        with corpus_helper.lock_made_at_import:
            corpus_helper.counter += 1


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
