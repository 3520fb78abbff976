"""The rules of the domain-pack template (docs/architecture.md, "Domain packs"), checked on the
source of every pack: layout, no import of chronik.cli, the compatibility code in compat/ only,
a pure reducer, library errors naming fields, and lazy loading."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from chronik.domains import registry
from chronik.domains.extensions import reducer, timekeys

DOMAINS = Path(__file__).parents[2] / "src" / "chronik" / "domains"
PACK_FOLDERS = sorted(path for path in DOMAINS.iterdir() if (path / "__init__.py").exists())


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at any level (type-only and function-level included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_registered_pack_has_the_template_layout():
    for pack in registry.packs():
        folder = DOMAINS.parent.parent / Path(*pack.package.split("."))
        for part in ("events.py", "reducer.py", "service.py", "cli.py"):
            assert (folder / part).exists(), f"{pack.name}: no {part}"
        assert pack.cli is not None and pack.cli.startswith(pack.package + ".cli:")
    registered = {pack.package.rpartition(".")[2] for pack in registry.packs()}
    assert {folder.name for folder in PACK_FOLDERS} <= registered, "a pack folder is not in the registry"


def test_packs_import_nothing_from_the_cli():
    for path in DOMAINS.rglob("*.py"):
        upward = {name for name in imports_of(path) if name == "chronik.cli" or name.startswith("chronik.cli.")}
        assert not upward, f"{path.relative_to(DOMAINS)} imports {upward}"


def test_only_the_service_reaches_the_compatibility_code():
    pack = DOMAINS / "extensions"
    for path in pack.rglob("*.py"):
        if "compat" in path.parts or path.name == "service.py":
            continue
        compat = {name for name in imports_of(path) if ".compat" in name}
        assert not compat, f"{path.relative_to(DOMAINS)} imports {compat}"


def test_reducer_is_pure_and_module_level():
    assert reducer.status_reducer() is reducer.status_reducer() is reducer.STATUS_REDUCER
    assert type(reducer.STATUS_REDUCER) is reducer.ExtensionStatus
    allowed = {"chronik.derive.reducer", "chronik.model", "chronik.domains.extensions.events",
               "chronik.domains.extensions.timekeys"}
    imported = {name for name in imports_of(DOMAINS / "extensions" / "reducer.py") if name.startswith("chronik")}
    assert {name.rsplit(".", 1)[0] if name not in allowed else name for name in imported} <= allowed


def test_library_errors_name_fields_not_options():
    for path in DOMAINS.rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                    "ValidationError", "LimitExceeded") and node.args:
                field = node.args[0]
                if isinstance(field, ast.Constant) and isinstance(field.value, str):
                    assert not field.value.startswith("-"), f"{path.name}:{node.lineno} names {field.value}"


def test_the_date_cache_is_bounded():
    for day in range(1, 20_000):
        timekeys.time_key(f"{1000 + day // 300:04d}-{1 + day % 12:02d}-{1 + day % 28:02d}T00:00:00Z")
    info = timekeys._valid_date.cache_info()
    assert info.maxsize == timekeys.VALID_DATE_CACHE_SIZE and info.currsize <= info.maxsize


@pytest.mark.parametrize("args", [["head"], ["streams"], ["--help"]])
def test_core_commands_do_not_import_any_pack(tmp_path, args):
    probe = (f"import sys\nfrom chronik.cli.main import cli\n"
             f"cli.main(['--ledger', {str(tmp_path / 'l.db')!r}, *{args!r}], prog_name='chronik', "
             f"standalone_mode=False)\n"
             f"print(sorted(m for m in sys.modules if m.startswith('chronik.domains.extensions')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
