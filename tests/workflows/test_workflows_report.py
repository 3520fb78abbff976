"""`chronik report --pdf`: the PDF renders (pdftoppm to PNG) and its text (pdftotext) holds the
verification result, the counts per status, the failures, the gate decisions and the head hash;
over a tampered ledger, page 1 says verification failed; without the reports extra, the
command names it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from click.testing import CliRunner
from workflow_testing import RELEASE, SteppingClock

import chronik
from chronik.cli.main import cli
from chronik.domains.workflows import service
from chronik.stores import open_store


def populated(path) -> str:
    url = f"sqlite:///{path}"
    with chronik.Ledger(open_store(url), clock=SteppingClock()) as ledger:
        for n in range(3):
            service.start(ledger, RELEASE, f"wf-{n}")
            service.record(ledger, f"wf-{n}", "complete_step", step_id="build")
        service.record(ledger, "wf-0", "approve_gate", gate_id="review", approver="ann", role="release-manager")
        service.record(ledger, "wf-0", "fail_step", step_id="deploy", error="connection refused by db-7")
        service.record(ledger, "wf-1", "reject_gate", gate_id="review", approver="bob", role="security")
        service.cancel(ledger, "wf-2", reason="superseded", cancelled_by="ann")
        ledger.append("orders:1", [chronik.NewEvent("order_placed", {"total": 3})])
        return ledger.head().hash


def text_of(pdf, *pages: str) -> str:
    return subprocess.run(["pdftotext", *pages, "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_pdf_renders_and_holds_the_verification_statuses_and_head(tmp_path):
    head_hash = populated(tmp_path / "ledger.db")
    pdf = tmp_path / "audit.pdf"
    result = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "ledger.db"), "report", "--pdf", str(pdf)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {pdf}: 11 events, verification passed\n"
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(page.read_bytes().startswith(b"\x89PNG") for page in pages)
    text = " ".join(text_of(pdf).split())
    assert "VERIFICATION PASSED: 11 events checked" in text
    assert head_hash in text
    for status, count in (("failed", 1), ("rejected", 1), ("cancelled", 1)):
        assert f"{status} {count}" in text
    assert "connection refused by db-7" in text
    assert "review approved ann release-manager" in text and "review rejected bob security" in text


def test_per_workflow_report_and_category_filter(tmp_path):
    populated(tmp_path / "ledger.db")
    pdf = tmp_path / "wf.pdf"
    result = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "ledger.db"), "report", "--pdf", str(pdf),
                                      "--workflow", "wf-0", "--since", "3000d"])
    assert result.exit_code == 0, result.output
    text = " ".join(text_of(pdf).split())
    assert "Audit report: workflow wf-0" in text and "retries: none" in text
    assert "fail_step" in text and "unsigned" in text and "order_placed" not in text
    only = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "ledger.db"), "report", "--pdf", str(pdf),
                                    "--category", "orders"])
    assert only.stdout.startswith(f"wrote {pdf}: 1 events")


def test_a_tampered_ledger_says_so_on_page_one(tmp_path):
    populated(tmp_path / "ledger.db")
    with sqlite3.connect(tmp_path / "ledger.db") as connection:
        connection.execute("""UPDATE events SET data = '{"step_id":"build","result":"forged"}' WHERE position = 2""")
    pdf = tmp_path / "audit.pdf"
    result = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "ledger.db"), "report", "--pdf", str(pdf)])
    assert result.exit_code == 3
    first_page = " ".join(text_of(pdf, "-f", "1", "-l", "1").split())
    assert "VERIFICATION FAILED: the ledger has been tampered with or damaged. First bad position: 2" in first_page


def test_without_the_reports_extra_the_command_names_it(tmp_path, monkeypatch):
    populated(tmp_path / "ledger.db")
    monkeypatch.setitem(sys.modules, "reportlab", None)  # import reportlab now raises ImportError
    result = CliRunner().invoke(cli, ["--ledger", str(tmp_path / "ledger.db"), "report", "--pdf",
                                      str(tmp_path / "x.pdf")])
    assert result.exit_code == 2
    assert "pip install 'chronik[reports]'" in result.stderr and not (tmp_path / "x.pdf").exists()
