"""Read-modify-write of one dict key from two threads."""

import threading

stats = {"hits": 0}


def work():
    for _ in range(20):
        stats["hits"] = stats["hits"] + 1


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
