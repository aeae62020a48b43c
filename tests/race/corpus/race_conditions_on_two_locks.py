"""Two conditions, each on a lock of its own, order nothing between them."""

import threading

ready = threading.Condition(threading.Lock())
other = threading.Condition(threading.Lock())


class Box:
    value = 0


box = Box()


def writer():
    with ready:
        box.value += 1


def reader():
    with other:
        print(box.value)


threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
for t in threads:
    t.start()
for t in threads:
    t.join()
