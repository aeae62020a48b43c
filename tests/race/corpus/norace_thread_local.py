"""threading.local: every thread has its own attributes."""

import threading

local = threading.local()


def work(i):
    local.value = i
    local.value += 1


threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
