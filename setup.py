"""Build script for the one compiled part: the race detector's optional C
hot path.  Everything else is in pyproject.toml.  A failed compile (no
compiler, an unsupported interpreter) leaves a working, pure-Python install."""

import os

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "threadline.race._accel",
            [
                "src/threadline/race/_accel_module.c",
                "src/threadline/race/_accel_core.c",
                "src/threadline/race/_accel_hooks.c",
            ],
            depends=["src/threadline/race/_accel.h"],
            # THREADLINE_REQUIRE_ACCEL=1 (CI, development): a failed compile fails
            optional=os.environ.get("THREADLINE_REQUIRE_ACCEL", "") in ("", "0"),
        )
    ]
)
