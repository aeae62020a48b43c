"""A helper module's global changed from two threads."""

import threading

import corpus_helper


def bump():
    corpus_helper.counter = corpus_helper.counter + 1


threads = [threading.Thread(target=bump) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
