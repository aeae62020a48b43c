class Counter:
    def __init__(self) -> None:
        self.n = 0

    def increment(self) -> None:
        self.n += 1  # read, add, write back: another thread can write in between
