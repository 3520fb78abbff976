"""The web UI in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright with
its executable path; `make test` installs it), against a real `chronik serve`. On a failure the
page is saved as a screenshot in the test's tmp dir (the path is printed)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


@contextlib.contextmanager
def screenshot_on_failure(page: Page, tmp_path: Path, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path = tmp_path / f"failure-{name}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot: {path}")
        raise


def post(server, stream: str, *events: dict) -> dict:
    response = httpx.post(f"{server.base_url}/v1/streams/{stream}/events", json={"events": list(events)})
    assert response.status_code == 201, response.text
    return response.json()


def test_overview_live_log_stream_and_time_travel(start_server, page, tmp_path):
    server = start_server("--reducer", "http_reducers:Tally", "--heartbeat-s", "0.5")
    post(server, "order:7", {"type": "created", "data": {"amount": 5}}, {"type": "paid", "data": {"amount": 7}},
         {"type": "shipped", "data": {"amount": 0}})

    with screenshot_on_failure(page, tmp_path, "overview"):
        page.goto(server.base_url + "/")
        expect(page.locator("#head-position")).to_have_text("3")
        expect(page.locator("figure.chart svg rect")).to_have_count(60)
        expect(page.locator("main table").last).to_contain_text("order:7")
        expect(page.locator("main")).to_contain_text("not run since the server started")

    with screenshot_on_failure(page, tmp_path, "live-log"):
        page.goto(server.base_url + "/log")
        expect(page.locator("#live-status")).to_have_text("live")
        expect(page.locator("#live-log tbody tr")).to_have_count(3)
        post(server, "order:8", {"type": "arrived", "data": {"amount": 11}})
        arrived = page.locator("#live-log tbody tr", has_text="arrived")
        expect(arrived).to_have_count(1)
        expect(arrived.locator("td").first).to_have_text("4")
        page.locator("#pause").click()
        post(server, "order:8", {"type": "held", "data": {}})
        expect(page.locator("#live-status")).to_have_text("paused (1 new)")
        expect(page.locator("#live-log tbody tr", has_text="held")).to_have_count(0)
        page.locator("#pause").click()
        expect(page.locator("#live-log tbody tr", has_text="held")).to_have_count(1)
        page.locator("#live-log tbody tr", has_text="arrived").click()
        page.wait_for_url("**/streams/order:8#v1")

    with screenshot_on_failure(page, tmp_path, "stream"):
        page.goto(server.base_url + "/streams/order:7")
        expect(page.locator("article.event")).to_have_count(3)
        expect(page.locator("#v2 .chain")).to_contain_text("prev")
        first_hash = page.locator("#v1 .chain code").last.inner_text()
        expect(page.locator("#v2 .chain code").first).to_have_text(first_hash)  # v2's prev is v1's hash
        expect(page.locator("#v1 details.j").first).to_contain_text("amount")
        expect(page.locator("#state-version")).to_have_text("version 3")
        expect(page.locator("#state")).to_contain_text('"total": 12')

    with screenshot_on_failure(page, tmp_path, "time-travel"):
        slider = page.locator("#slider")
        box = slider.bounding_box()
        assert box is not None
        # Drag the thumb from its right end (version 3) to the left third (version 1).
        page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.40, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        expect(page.locator("#slider-version")).to_have_text("1")
        expect(page.locator("#state-version")).to_have_text("version 1")
        expect(page.locator("#state")).to_contain_text('"total": 5')
        expect(page.locator("#state")).to_contain_text('"count": 1')
        expect(page.locator("#diff")).to_contain_text("~ $.total: 0 → 5")
        expect(page.locator("#v1")).to_have_class("event cause current")
        page.keyboard.press("ArrowRight")  # the focused slider moves one version
        expect(page.locator("#state")).to_contain_text('"total": 12')
        expect(page.locator("#diff")).to_contain_text("by v2 paid")
        expect(page.locator("#v2")).to_have_class("event cause current")

    with screenshot_on_failure(page, tmp_path, "pack-page"):
        page.goto(server.base_url + "/packs/ext/status")
        expect(page.locator("h1")).to_have_text("Extensions: status")


def test_verify_shows_the_failure_of_a_tampered_copy(start_server, page, tmp_path):
    original = start_server()
    for amount in (1, 2, 3):
        post(original, "order:1", {"type": "paid", "data": {"amount": amount}})
    original.stop()  # closes the ledger: its WAL is checkpointed into the file
    ledger = Path(original.ledger_url.removeprefix("sqlite:///"))
    copy = tmp_path / "tampered.db"
    shutil.copy(ledger, copy)
    with contextlib.closing(sqlite3.connect(copy)) as connection, connection:
        connection.execute("""UPDATE events SET data = '{"amount":300}' WHERE position = 2""")

    clean = start_server(ledger=f"sqlite:///{ledger}")
    with screenshot_on_failure(page, tmp_path, "verify-ok"):
        page.goto(clean.base_url + "/verify")
        page.locator("#run-verify").click()
        expect(page.locator("#verify-verdict")).to_have_text("verify: OK, 3 events checked")
    clean.stop()

    tampered = start_server(ledger=f"sqlite:///{copy}")
    with screenshot_on_failure(page, tmp_path, "verify-tampered"):
        page.goto(tampered.base_url + "/verify")
        page.locator("#run-verify").click()
        verdict = page.locator("#verify-verdict")
        expect(verdict).to_contain_text("FAILED")
        expect(verdict).to_contain_text("first bad position 2")
        expect(page.locator("#verify-result table").first).to_contain_text("failed")
        page.goto(tampered.base_url + "/")
        expect(page.locator("main")).to_contain_text("FAILED")
