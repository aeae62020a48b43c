"""pmap on a dask.distributed LocalCluster (scheduler and worker processes
on loopback).  Run in a process of its own by test_backends, because dask
keeps helper threads for the life of the process, and those would hide
deadlocks from the detector in later tests (a live thread could be a
partner)."""

from __future__ import annotations

import logging
import os
import warnings

import distributed
import pytest

import threadline as tl
from tests.parallel import workers as w


def main() -> None:
    warnings.simplefilter("ignore")  # dask's own deprecations are not ours
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        out = list(tl.pmap(w.whoami, range(100), backend=executor, workers=4))
        assert [x for _, x in out] == list(range(100)), out
        assert os.getpid() not in {pid for pid, _ in out}, "ran in the client process"
        seen = []
        with pytest.raises(ValueError, match="bad item 7") as info:
            for r in tl.pmap(w.fail_at_7, range(50), backend=executor, workers=4):
                seen.append(r)
        assert any("fail_at_7" in note for note in info.value.__notes__), "no worker traceback"
        assert seen == list(range(7)), seen
    print("dask ok")


if __name__ == "__main__":
    main()
