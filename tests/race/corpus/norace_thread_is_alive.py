"""A thread observed finished through Thread.is_alive() returning False
(as readerwriterlock's tests wait for theirs): everything it did is ordered
before, as with join()."""

import threading
import time

value = 0


def worker():
    global value
    value += 1


t = threading.Thread(target=worker)
t.start()
while t.is_alive():
    time.sleep(0.01)
print(value)  # ordered after worker's write by is_alive() == False
