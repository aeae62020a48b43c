"""Written before start(), changed in the thread, read after join()."""

import threading


class Config:
    pass


config = Config()
config.name = "a"


def run():
    config.name = config.name + "b"


t = threading.Thread(target=run)
t.start()
t.join()
print(config.name)
