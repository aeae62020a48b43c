"""Producer and consumer on a list guarded by a Condition."""

import threading

cond = threading.Condition()
items = []
done = []


def consume():
    for _ in range(5):
        with cond:
            while not items:
                cond.wait()
            done.append(items.pop(0))


t = threading.Thread(target=consume)
t.start()
for i in range(5):
    with cond:
        items.append(i)
        cond.notify()
t.join()
print(len(done))
