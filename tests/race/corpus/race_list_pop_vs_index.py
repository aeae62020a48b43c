"""A thread pops from the front of a list while another reads an item."""

import threading

work = [1, 2, 3, 4]


def take():
    work.pop(0)


t = threading.Thread(target=take)
t.start()
print(work[1])
t.join()
