"""A barrier in rounds: each round's writes before wait() are seen by every
party after it, and the next round's writes come after the last reads."""

import threading

parties = 3
slots = [0] * parties
barrier = threading.Barrier(parties)


def work(i):
    for r in range(5):
        slots[i] = r * 10 + i
        barrier.wait()
        print(sum(slots))
        barrier.wait()


threads = [threading.Thread(target=work, args=(i,)) for i in range(parties)]
for t in threads:
    t.start()
for t in threads:
    t.join()
