"""An object is handed over through a queue, then changed by its sender."""

import queue
import threading


class Job:
    def __init__(self):
        self.state = "new"


jobs = queue.Queue()


def consume():
    job = jobs.get()
    print(job.state)


job = Job()
t = threading.Thread(target=consume)
t.start()
jobs.put(job)
job.state = "changed"  # after the handover: races with the consumer's read
t.join()
