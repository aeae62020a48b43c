"""is_alive() returning True orders nothing: the thread may still write,
or has written without anything ordering that write before the reader."""

import threading
import time

value = 0
go = threading.Event()


def worker():
    global value
    go.wait()
    value += 1
    time.sleep(0.3)  # still alive when the main thread asks


t = threading.Thread(target=worker)
t.start()
go.set()
time.sleep(0.1)
if t.is_alive():
    print(value)  # unordered with worker's write
t.join()
