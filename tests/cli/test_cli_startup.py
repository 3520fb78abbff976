"""Startup stays small: importing the CLI and printing --help do not load rich."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from chronik.cli.main import cli
loaded_on_import = "rich" in sys.modules
cli.main(["--help"], prog_name="chronik", standalone_mode=False)
cli.main(["append", "--help"], prog_name="chronik", standalone_mode=False)
print(loaded_on_import, "rich" in sys.modules, "rich.table" in sys.modules, file=sys.stderr)
"""


def test_help_does_not_import_rich():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.split() == ["False", "False", "False"]
