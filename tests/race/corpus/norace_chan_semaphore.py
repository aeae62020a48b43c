"""Go's semaphore idiom: a Channel(1) as a mutex.  The k-th receive happens
before the (k+1)-th send completes, so the critical sections are ordered."""

import threading

import threadline as tl

sem = tl.Channel(1)
total = {"n": 0}


def work():
    for _ in range(20):
        sem.send(None)  # acquire
        total["n"] += 1
        sem.recv()  # release


threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(total["n"])
