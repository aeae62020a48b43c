"""A producer writes a summary, then closes; the consumer reads the summary
after its ``for`` loop ends: the loop's end observed the close."""

import threading

import threadline as tl


class Summary:
    count = 0


summary = Summary()
ch = tl.Channel(4)


def produce():
    for i in range(10):
        ch.send(i)
    summary.count = 10
    ch.close()


t = threading.Thread(target=produce)
t.start()
for _ in ch:
    pass
print(summary.count)
t.join()
