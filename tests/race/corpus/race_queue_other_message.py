"""A message is changed after its put, while its getter reads it.  Another
put came after the change, before the get: a clock for the whole queue
would order the getter after the change and hide the race."""

import queue
import threading
import time


class Job:
    def __init__(self):
        self.status = "new"


jobs = queue.Queue()


def consume():
    while jobs.qsize() < 2:  # both puts are done (qsize orders nothing)
        time.sleep(0.001)
    job = jobs.get()
    print(job.status)


c = threading.Thread(target=consume)
c.start()
job = Job()
jobs.put(job)
job.status = "done"  # after its put: races with the getter's read
jobs.put(None)
c.join()
