"""After a round, a fast party writes before its next wait() while a slow
one reads: both are after the same round, unordered with each other."""

import threading


class Box:
    value = 0


box = Box()
barrier = threading.Barrier(2)


def fast():
    barrier.wait()
    box.value = 1  # between the rounds
    barrier.wait()


def slow():
    barrier.wait()
    print(box.value)  # between the same rounds
    barrier.wait()


threads = [threading.Thread(target=fast), threading.Thread(target=slow)]
for t in threads:
    t.start()
for t in threads:
    t.join()
