"""WaitGroup.done() orders each worker before wait() returns."""

import threading

import threadline as tl

wg = tl.WaitGroup()
parts = [0, 0]


def work(i):
    parts[i] = i + 1
    wg.done()


wg.add(2)
for i in range(2):
    threading.Thread(target=work, args=(i,)).start()
wg.wait()
print(parts[0] + parts[1])
