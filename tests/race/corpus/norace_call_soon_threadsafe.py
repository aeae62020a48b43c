"""A thread hands work to an event loop with loop.call_soon_threadsafe:
what it did before the call happens before the callback, and so before
what the loop runs after it (here, the coroutine the callback wakes)."""

import asyncio
import threading


class Box:
    fd = None


box = Box()
finish = threading.Event()


def work(loop, started):
    box.fd = 3  # in the executor's thread
    loop.call_soon_threadsafe(started.set)  # then hand over to the loop
    finish.wait(timeout=5)


async def main():
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    fut = loop.run_in_executor(None, work, loop, started)
    await started.wait()
    print(box.fd)  # after the callback ran
    finish.set()
    await fut


asyncio.run(main())
