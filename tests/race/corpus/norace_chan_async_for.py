"""asyncio side: ``async for`` ends because the channel was closed; the
closer's writes before close() are seen after the loop."""

import asyncio
import threading

import threadline as tl


class Summary:
    count = 0


summary = Summary()
ch = tl.Channel(2)


def produce():
    for i in range(5):
        ch.send(i)
    summary.count = 5
    ch.close()


async def main():
    t = threading.Thread(target=produce)
    t.start()
    async for _ in ch:
        pass
    print(summary.count)
    t.join()


asyncio.run(main())
