"""Once.do: the first caller's function happens before every do() returns."""

import threading

import threadline as tl

once = tl.Once()


class Config:
    loaded = None


config = Config()


def load():
    config.loaded = {"a": 1}


def use():
    once.do(load)
    print(config.loaded["a"])


threads = [threading.Thread(target=use) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
