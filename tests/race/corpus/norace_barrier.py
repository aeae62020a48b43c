"""Each thread writes its slot, then all read every slot after a barrier."""

import threading

slots = [0, 0, 0]
barrier = threading.Barrier(3)


def work(i):
    slots[i] = i + 1
    barrier.wait()
    print(sum(slots))


threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
