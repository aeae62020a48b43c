"""A batch is sent, then changed by its sender; the receiver reads it after
later sends and the close.  A receive is ordered after the send of the
value it got, not after every send or the close before it."""

import threading
import time

import threadline as tl

ch = tl.Channel(4)


def consume():
    time.sleep(0.2)  # receives after the close (no edge: a sleep)
    batch = ch.recv()
    print(len(batch))
    for _ in ch:
        pass


t = threading.Thread(target=consume)
t.start()
batch = [1, 2, 3]
ch.send(batch)
batch.append(4)  # after the send: races with the receiver's len()
ch.send([9])
ch.close()
t.join()
