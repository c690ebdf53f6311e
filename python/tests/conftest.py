"""Shared helpers of pymocket's own tests.

The feature tests run under a real engine: `mocket run -- pytest` or
`LD_PRELOAD=libmocket.so pytest` (tests/tests/python_plugin.rs in the repo runs both, inside a
network namespace). Tests that must fail run as a child pytest (pytester) whose outcome and
output are asserted.
"""

from __future__ import annotations

import sys
from typing import Dict, Optional, Sequence

import pytest

pytest_plugins = ["pytester"]

#: The variables through which a process finds an engine (a child without them is not
#: intercepted).
INTERCEPTION_VARIABLES = ("LD_PRELOAD", "MOCKET_SOCKET")


def run_child(pytester: pytest.Pytester, source: str, *args: str,
              env: Optional[Dict[str, str]] = None,
              remove: Sequence[str] = ()) -> pytest.RunResult:
    """Runs ``source`` as the test file of a child pytest and returns its result.

    The child inherits this process's placement, minus the variables in ``remove`` and plus
    ``env`` (set through ``env(1)``, so this process's own environment is never touched). It
    loads only pymocket's plugin and those ``args`` name (``-p xdist.plugin``): other installed
    plugins cost seconds of imports per child and could change the outcome."""
    pytester.makepyfile(test_child=source)
    command = ["env", *(f"--unset={name}" for name in remove),
               *(f"{name}={value}" for name, value in
                 {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}.items())]
    return pytester.run(*command, sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                        "-p", "pymocket.plugin", f"--basetemp={pytester.path / 'basetemp'}",
                        *args, timeout=120)
