"""The docstring examples are run, so that they stay true, and every public name has one."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import sketch_rnn

# The command-line modules define absl flags at import (process-global); they have no examples.
MODULES = ["sketch_rnn"] + sorted(
    m.name for m in pkgutil.walk_packages(sketch_rnn.__path__, "sketch_rnn.") if ".cli" not in m.name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in finder.find(module, name):
        result = runner.run(test, out=failures.append)
        assert result.failed == 0, "".join(failures)


def test_every_public_name_has_an_example():
    missing = [n for n in sketch_rnn.__all__ if ">>>" not in (inspect.getdoc(getattr(sketch_rnn, n)) or "")]
    assert not missing, f"public names without a docstring example: {missing}"


def test_examples_are_found():
    # A finder that silently found nothing would make the test above pass for nothing.
    examples = sum(len(t.examples) for n in MODULES for t in doctest.DocTestFinder().find(
        importlib.import_module(n), n))
    assert examples > 200
