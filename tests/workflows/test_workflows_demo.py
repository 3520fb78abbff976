"""`chronik demo` gains the workflow part: a gated release, a retried step, a child, a PDF."""

from __future__ import annotations

import re
import subprocess

from click.testing import CliRunner

from chronik.cli.main import cli


def test_the_demo_records_the_workflow_and_prints_the_pdf_path(tmp_path):
    result = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "demo.db"), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "release-42: completed, deploy retried 1x, child release-42.db completed" in result.stdout
    assert "at event 6 it was failed: step deploy had failed" in result.stdout
    found = re.search(r"PDF report: (\S+audit\.pdf)", result.stdout)
    assert found, result.stdout
    text = subprocess.run(["pdftotext", found.group(1), "-"], check=True, capture_output=True, text=True).stdout
    assert "Audit report: workflow release-42" in text and "VERIFICATION PASSED" in text
