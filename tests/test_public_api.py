from __future__ import annotations

import types

import threadline as tl


def test_all_matches_public_names() -> None:
    # "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of a plugin's
    # distribution (threadline ships the --race plugin), adding these names
    public = {name for name in dir(tl) if not name.startswith(("_", "@"))}
    tools = {name for name in public if isinstance(getattr(tl, name), types.ModuleType)}
    assert tools <= {"scale", "race"}  # the tools' subpackages, once imported
    assert set(tl.__all__) == public - tools


def test_public_objects_claim_the_package_as_module() -> None:
    for name in tl.__all__:
        obj = getattr(tl, name)
        if hasattr(obj, "__module__"):
            assert obj.__module__ == "threadline", name


def test_error_bases() -> None:
    assert issubclass(tl.ChannelClosed, Exception)
    assert issubclass(tl.Cancelled, BaseException)
    assert not issubclass(tl.Cancelled, Exception)
