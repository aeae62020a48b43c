"""Units of work for the command tests."""


def explode() -> None:
    1 / 0
