"""Doc tests: every ```python block of README.md and docs/*.md runs as written.

The blocks of one document run in order, in one namespace (as if pasted one
after the other into one script whose ``__name__`` is ``"__main__"``), each
under a short timeout. While a block runs, it is the program's ``__main__``
module, and a script of its own for worker processes that import the main
script (see ``ScriptEvaluator``). The repository's root ``conftest.py`` registers
``PROJECT_DOCS`` and ``testpaths`` names the documents, so ``make test`` and
a plain ``pytest`` run them; ``pytest README.md docs`` runs only them.

Marking a document (sybil's Markdown syntax, invisible when rendered):

- ``<!-- skip: next -->`` before a block that is a signature, not a program.
  Keep these few.
- ``<!-- invisible-code-block: python`` ... ``-->`` runs code the reader
  does not see, for something a snippet needs but should not define. Avoid
  it: a complete snippet is better.

Known failures (none today): a document listed in ``KNOWN_FAILURES`` runs
as one test, its blocks in order until one fails, as a script would; the
test is expected to fail, strictly: once every block passes, it fails and
asks for the entry to be removed. See the first failing block with
``pytest README.md --runxfail``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import unittest
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.integration.pytest import SybilFile, SybilItem
from sybil.parsers.markdown import CodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[2]

#: The documents whose ``python`` blocks run, relative to the repository root.
DOCUMENTS = ("README.md", "docs/*.md")

#: Seconds one block may run (a document listed in KNOWN_FAILURES: this
#: times its number of blocks).
BLOCK_TIMEOUT = 10.0

#: Documents known to fail today, with why. Remove an entry when its document
#: passes (the run says so).
KNOWN_FAILURES: dict[str, str] = {}


def _as_main(namespace: dict[str, Any]) -> None:
    namespace["__name__"] = "__main__"
    namespace["__spec__"] = None  # run from a file, as ``python script.py``


class _DocumentMain:
    """Stands in for the ``__main__`` module while a block runs: its
    attributes are the document's namespace."""


class ScriptEvaluator:
    """Evaluates a block as the program's ``__main__`` script.

    While the block runs, ``sys.modules["__main__"]`` is the document's
    namespace and its ``__file__`` a script made of that block, at the same
    line numbers as in the document. So the block's functions pickle by
    reference (``__main__.crunch``) as a script's do, worker processes that
    import the main script (``pmap(..., backend="processes")``) import that
    block as ``__mp_main__``, and pmap's check for the ``__main__`` guard
    reads it. A block that starts worker processes must therefore be a
    complete script (its imports and functions in the block), as a reader
    copying it would need. Worker processes parked by the block are stopped
    after it: the next block is another script."""

    def __init__(self) -> None:
        self.evaluate = PythonEvaluator()
        self.scripts: Path | None = None  # a temporary folder, made on first use

    def __call__(self, example: Example) -> None:
        __tracebackhide__ = True
        namespace = example.namespace
        if self.scripts is None:
            self.scripts = Path(tempfile.mkdtemp(prefix="threadline-docs-"))
        stem = Path(example.path).name.replace(".", "_")
        script = self.scripts / f"{stem}_line{example.line}.py"
        script.write_text("\n" * (example.line + example.parsed.line_offset) + example.parsed)
        namespace["__file__"] = str(script)
        with _main_module(namespace):
            self.evaluate(example)

    def cleanup(self) -> None:
        if self.scripts is not None:
            shutil.rmtree(self.scripts, ignore_errors=True)
            self.scripts = None


@contextmanager
def _main_module(namespace: dict[str, Any]) -> Iterator[None]:
    main = _DocumentMain()
    main.__dict__ = namespace
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = main  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.modules["__main__"] = saved
        procs = sys.modules.get("threadline._parallel._procs")
        if procs is not None:
            procs.retire_idle()


class MarkdownDocs:
    """A pytest plugin that collects the ``python`` blocks of the documents
    matching `patterns` under `root`."""

    def __init__(
        self,
        root: Path,
        patterns: Sequence[str],
        known_failures: Mapping[str, str],
        block_timeout: float,
    ) -> None:
        self.root = root.resolve()
        self.known_failures = dict(known_failures)
        self.block_timeout = block_timeout
        self.evaluator = ScriptEvaluator()
        self.sybil = Sybil(
            parsers=[CodeBlockParser("python", self.evaluator), SkipParser()],
            patterns=patterns,
            path=str(self.root),
            setup=_as_main,
        )

    def name(self, path: Path) -> str:
        """The document's path as KNOWN_FAILURES names it."""
        return path.resolve().relative_to(self.root).as_posix()

    def run_document(self, path: Path) -> None:
        """Run the document's blocks in order, in one namespace, as one script
        would: the first block that raises stops it, with a DocumentFailure
        that names the block."""
        document: Document = self.sybil.parse(path)
        _as_main(document.namespace)
        for example in document.examples():
            where = f"{self.name(path)} line {example.line}"
            try:
                example.evaluate()
            except unittest.SkipTest:
                pass
            except Exception as exc:
                raise DocumentFailure(f"{where}: {type(exc).__name__}: {exc}") from exc
            except BaseException as exc:  # a timeout, Ctrl-C: say where
                exc.add_note(f"in the block at {where}")
                raise

    def pytest_unconfigure(self) -> None:
        self.evaluator.cleanup()

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if not self.sybil.should_parse(file_path):
            return None
        name = self.name(file_path)
        if name in self.known_failures:
            blocks = len(list(self.sybil.parse(file_path).examples()))
            known = KnownFailingDocument.from_parent(parent, path=file_path, docs=self)
            known.add_marker(pytest.mark.xfail(reason=self.known_failures[name], strict=True))
            known.add_marker(pytest.mark.timeout(self.block_timeout * max(blocks, 1)))
            return known
        collector: SybilFile = SybilFile.from_parent(parent, path=file_path, sybils=[self.sybil])
        return collector

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if isinstance(item, SybilItem) and item.parent is not None:
                if self.sybil.should_parse(item.parent.path):
                    item.add_marker(pytest.mark.timeout(self.block_timeout))


class DocumentFailure(AssertionError):
    """A block of a document raised."""


class KnownFailingDocument(pytest.File):
    """A document listed in KNOWN_FAILURES: one test, expected to fail."""

    def __init__(self, *, docs: MarkdownDocs, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.docs = docs

    def collect(self) -> Iterator[pytest.Item]:
        yield DocumentItem.from_parent(self, name="all_blocks")


class DocumentItem(pytest.Item):
    def runtest(self) -> None:
        assert isinstance(self.parent, KnownFailingDocument)
        self.parent.docs.run_document(self.path)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "all_blocks"


PROJECT_DOCS = MarkdownDocs(ROOT, DOCUMENTS, KNOWN_FAILURES, BLOCK_TIMEOUT)
