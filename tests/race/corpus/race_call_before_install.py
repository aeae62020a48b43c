"""Calling a callable attribute before another thread installs it (the
lookup fails) is still a read: of the attribute's absence, which races
with the install, as reading a missing attribute does."""

import threading
import time


class Moves:
    pass


moves = Moves()


def install():
    time.sleep(0.05)  # the call below comes first
    moves.urllib = lambda: "urllib"


t = threading.Thread(target=install)
t.start()
try:
    moves.urllib()
except AttributeError:
    pass
t.join()
