"""A write made after loop.call_soon_threadsafe(cb) is not ordered before
the callback: it races with the callback's read."""

import asyncio
import threading


class Box:
    fd = None


box = Box()
finish = threading.Event()


def work(loop, started):
    loop.call_soon_threadsafe(started.set)
    box.fd = 3  # after the hand-over: not before the callback
    finish.wait(timeout=5)


async def main():
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    fut = loop.run_in_executor(None, work, loop, started)
    await started.wait()
    print(box.fd)
    finish.set()
    await fut


asyncio.run(main())
