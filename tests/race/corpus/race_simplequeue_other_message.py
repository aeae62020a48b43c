"""SimpleQueue, per message: an item changed after its put races with its
getter's read, although a later put came before the get."""

import queue
import threading
import time


class Job:
    def __init__(self):
        self.status = "new"


jobs = queue.SimpleQueue()


def consume():
    while jobs.qsize() < 2:
        time.sleep(0.001)
    print(jobs.get().status)


c = threading.Thread(target=consume)
c.start()
job = Job()
jobs.put(job)
job.status = "done"
jobs.put(None)
c.join()
