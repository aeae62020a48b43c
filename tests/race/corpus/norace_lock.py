"""A counter under one lock."""

import threading


class Counter:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()


def work(counter):
    for _ in range(50):
        with counter.lock:
            counter.count += 1


counter = Counter()
threads = [threading.Thread(target=work, args=(counter,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(counter.count)
