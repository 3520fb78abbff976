"""tests/domains on sys.path, so the toy pack imports as `toy_pack` (as a real pack would)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
