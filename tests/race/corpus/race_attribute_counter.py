"""Two threads do `self.count += 1` on one object with no lock."""

import threading


class Counter:
    def __init__(self):
        self.count = 0


def work(counter):
    for _ in range(50):
        counter.count += 1


counter = Counter()
threads = [threading.Thread(target=work, args=(counter,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
