"""Threads insert distinct keys and append to a shared list: each builtin
container operation is atomic, and the main thread reads after join()."""

import threading

table = {}
log = []


def work(i):
    table[i] = i * i
    log.append(i)


threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(table), sorted(log))
