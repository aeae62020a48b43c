"""Many threads only read shared data made before they started."""

import threading

TABLE = {i: str(i) for i in range(10)}
NAMES = ["a", "b", "c"]


class Settings:
    debug = False


settings = Settings()


def read():
    total = sum(len(TABLE[k]) for k in TABLE)
    for name in NAMES:
        total += len(name)
    return total, settings.debug, f"{settings.debug}", "a" in NAMES


threads = [threading.Thread(target=read) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
