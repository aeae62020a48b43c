"""Build script for the compiled parts, both optional: the channels' core
(``threadline._chancore``) and the race detector's hot path.  Everything
else is in pyproject.toml.  A failed compile (no compiler, an unsupported
interpreter) leaves a working, pure-Python install."""

import os

from setuptools import Extension, setup

# THREADLINE_REQUIRE_ACCEL=1 (CI, development): a failed compile fails
_OPTIONAL = os.environ.get("THREADLINE_REQUIRE_ACCEL", "") in ("", "0")

setup(
    ext_modules=[
        Extension("threadline._chancore", ["src/threadline/_chancore.c"], optional=_OPTIONAL),
        Extension(
            "threadline.race._accel",
            [
                "src/threadline/race/_accel_module.c",
                "src/threadline/race/_accel_core.c",
                "src/threadline/race/_accel_hooks.c",
            ],
            depends=["src/threadline/race/_accel.h"],
            optional=_OPTIONAL,
        )
    ]
)
