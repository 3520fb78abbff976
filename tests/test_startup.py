"""Heavy or optional code stays out of `import chronik` and `chronik --help` (DESIGN section 4)."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_chronik_loads_no_services_or_drivers():
    loaded = _modules_after("import chronik")
    for heavy in ("chronik.derive", "chronik.lifecycle", "psycopg", "rich", "click", "sqlite3"):
        assert heavy not in loaded, f"import chronik loaded {heavy}"


def test_derive_names_still_resolve_from_the_package():
    loaded = _modules_after("import chronik\nassert chronik.Reducer.__name__ == 'Reducer'")
    assert "chronik.derive.reducer" in loaded
