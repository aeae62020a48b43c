"""Threads and asyncio on the same channels, with no glue code in between.

::

    sensor threads --(send)--> readings --(async for)--> aggregate()  [asyncio]
                   --(send)--> alerts   --(aselect)----> watchdog()   [asyncio]
                                 shutdown (closed by aggregate) -----^

Three sensor threads produce readings with plain blocking ``send``; on the
event loop, ``aggregate()`` consumes them with ``async for`` -- the same
``Channel`` object, no ``call_soon_threadsafe`` or ``run_in_executor`` in
sight.  A blocked ``send`` parks the thread; a waiting ``async for`` parks
only its task, so the loop keeps serving ``watchdog()`` meanwhile.

``watchdog()`` uses ``aselect`` to wait for whichever comes first: an alert
from any sensor, the end of the stream (``shutdown`` closed), or a timeout
(a heartbeat: it notes quiet periods instead of waiting forever).  The
alerts channel is unbuffered, so a sensor's ``send`` returns only once the
watchdog has the alert: every alert is therefore seen before the sensors
finish, and the counts printed are the same on every run.

Shutdown: a closer thread joins the sensors and closes ``readings``; the
``async for`` ends, ``aggregate()`` closes ``shutdown``, and the watchdog
returns.  Every thread is joined before ``main()`` returns.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass

import threadline as tl

SENSORS = 3
READINGS = 40  # per sensor
ALERT_LEVEL = 90


@dataclass(frozen=True)
class Reading:
    sensor: int
    seq: int
    value: int


def sensor(k: int, readings: tl.Channel[Reading], alerts: tl.Channel[Reading]) -> None:
    """A thread: send READINGS deterministic readings, raising an alert for
    the high ones."""
    for seq in range(READINGS):
        reading = Reading(k, seq, (k * 37 + seq * 11) % 100)
        readings.send(reading)  # blocks while the buffer is full: back-pressure
        if reading.value >= ALERT_LEVEL:
            alerts.send(reading)  # unbuffered: returns once the watchdog has it
        time.sleep(0.001)  # a sensor is slow


@dataclass
class Totals:
    count: int = 0
    total: int = 0
    peak: int = 0


async def aggregate(readings: tl.Channel[Reading], shutdown: tl.Channel[None]) -> dict[int, Totals]:
    """Consume every reading from the threads, on the event loop."""
    totals = {k: Totals() for k in range(SENSORS)}
    last_seq = dict.fromkeys(range(SENSORS), -1)
    with shutdown:  # closing shutdown tells the watchdog the stream is over
        async for r in readings:
            assert r.seq == last_seq[r.sensor] + 1, "one sender's values arrive in order"
            last_seq[r.sensor] = r.seq
            t = totals[r.sensor]
            t.count += 1
            t.total += r.value
            t.peak = max(t.peak, r.value)
    return totals


async def watchdog(alerts: tl.Channel[Reading], shutdown: tl.Channel[None]) -> list[Reading]:
    """Collect alerts until shutdown; notice quiet periods with a timeout."""
    seen: list[Reading] = []
    quiet_periods = 0
    while True:
        try:
            sel = await tl.aselect(alerts, shutdown, timeout=0.05)
        except TimeoutError:
            quiet_periods += 1  # nothing for 50 ms: a real service might log or poll here
            continue
        if sel.index == 1:  # shutdown closed: the stream is over
            return seen
        seen.append(sel.value)


async def serve(
    readings: tl.Channel[Reading], alerts: tl.Channel[Reading]
) -> tuple[dict[int, Totals], list[Reading]]:
    shutdown: tl.Channel[None] = tl.Channel()
    return await asyncio.gather(aggregate(readings, shutdown), watchdog(alerts, shutdown))


def main() -> int:
    readings: tl.Channel[Reading] = tl.Channel(8)
    alerts: tl.Channel[Reading] = tl.Channel()  # unbuffered

    sensors = [
        threading.Thread(target=sensor, args=(k, readings, alerts), name=f"sensor-{k}")
        for k in range(SENSORS)
    ]

    def close_when_sensors_are_done() -> None:
        for t in sensors:
            t.join()
        readings.close()

    closer = threading.Thread(target=close_when_sensors_are_done, name="closer")
    for t in [*sensors, closer]:
        t.start()

    totals, seen = asyncio.run(serve(readings, alerts))

    for t in [*sensors, closer]:
        t.join()

    print(f"{SENSORS} sensor threads -> 1 asyncio consumer, {READINGS} readings each")
    for k, tot in sorted(totals.items()):
        mean = tot.total / tot.count
        print(f"  sensor {k}: {tot.count} readings, mean {mean:5.1f}, peak {tot.peak}")
    by_sensor = {k: sum(1 for r in seen if r.sensor == k) for k in range(SENSORS)}
    print(f"alerts (value >= {ALERT_LEVEL}) seen by the watchdog: {len(seen)} {by_sensor}")
    expected = sum(
        (k * 37 + seq * 11) % 100 >= ALERT_LEVEL for k in range(SENSORS) for seq in range(READINGS)
    )
    print(f"  every alert seen: {len(seen) == expected}")
    print("all threads joined")
    return 0


if __name__ == "__main__":
    sys.exit(main())
