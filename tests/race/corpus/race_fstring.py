"""An f-string reads an attribute that another thread writes."""

import threading


class Status:
    text = "idle"


status = Status()


def update():
    status.text = "busy"


t = threading.Thread(target=update)
t.start()
message = f"status: {status.text}"
t.join()
