"""A callable stored on an object is state like any other (six's ``moves``
installs its entries lazily): calling it, or reading it, races with the
thread that installs it.  Methods (found on the class) are not accesses."""

import threading


class Moves:
    def method(self):  # the class's: calling it records nothing
        return 0


moves = Moves()


def install():
    moves.urllib = lambda: "urllib"


t = threading.Thread(target=install)
t.start()
moves.method()
try:
    moves.urllib()  # unordered with install(): a race, whichever came first
except AttributeError:
    pass
t.join()
