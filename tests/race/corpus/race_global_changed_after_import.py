"""A module's global changed by a thread after it imported the module,
and read by another thread after its own import: both imports are ordered
after the module's body, not with each other."""

import threading

seen = []


def tune():
    import corpus_lazy_table  # noqa: PLC0415 (imported lazily, by the threads)

    corpus_lazy_table.LIMIT = 20


def read():
    import corpus_lazy_table  # noqa: PLC0415 (imported lazily, by the threads)

    seen.append(corpus_lazy_table.LIMIT)


threads = [threading.Thread(target=tune), threading.Thread(target=read)]
for t in threads:
    t.start()
for t in threads:
    t.join()
