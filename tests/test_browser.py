"""The report and the review page in real headless Chromium, driven by Playwright.

Needs Debian's chromium (/usr/bin/chromium); .ci/run installs it. Screenshots are taken on
every run and copied over the tracked docs/screenshots/ only on request:
``STRAT_SCREENSHOTS=1 python -m pytest tests/test_browser.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser tests: apt-get install chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

from playwright import sync_api  # noqa: E402


def _screenshot(page, name: str, full_page: bool = False) -> None:
    """A real PNG of the page; it replaces docs/screenshots/NAME only with STRAT_SCREENSHOTS=1."""
    png = page.screenshot(full_page=full_page)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    if os.environ.get("STRAT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(png)


ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def test_report_renders_offline(browser, digits_run):
    context = browser.new_context(viewport={"width": 1300, "height": 900}, offline=True)
    page = context.new_page()
    failed = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto((digits_run.out / "report.html").as_uri())
    assert page.locator("h2", has_text="Data map").is_visible()
    # Every figure decoded to a real picture.
    widths = page.eval_on_selector_all("img.fig", "els => els.map(e => e.naturalWidth)")
    assert len(widths) == 4 and min(widths) > 100
    assert page.locator(".card").count() >= 8
    assert failed == []
    _screenshot(page, "report.png", full_page=True)
    context.close()


def test_review_by_keyboard_persists_and_is_shared(browser, live_server):
    url, run_dir = live_server
    ctx_a = browser.new_context(viewport={"width": 1300, "height": 800}, bypass_csp=True)
    page = ctx_a.new_page()
    page.goto(url + "/")
    page.wait_for_selector("#queue li")
    assert page.locator("#queue li").count() > 0
    page.wait_for_function("document.getElementById('title').textContent.startsWith('#')")
    index = int(page.locator("#title").text_content().lstrip("#"))
    given = page.locator("#given").text_content()
    new_label = 3 if not given.startswith("3 ") else 4

    page.locator("body").press(str(new_label))  # relabel by keyboard
    page.wait_for_function(
        "document.getElementById('stats').textContent.includes('1 decisions logged')"
    )
    assert page.locator(f"#queue li[data-index='{index}']").count() == 0

    page.goto(f"{url}/#example={index}")
    page.reload()
    page.wait_for_function("document.getElementById('current').textContent.includes('relabel')")
    assert page.locator("#current").text_content().startswith(f"relabel → {new_label} ·")
    _screenshot(page, "review.png")

    # The second reviewer's browser keeps the page's Content-Security-Policy: its script must run
    # under it, so only locator assertions (no evaluated predicates) are used here.
    ctx_b = browser.new_context()
    other = ctx_b.new_page()
    other.goto(f"{url}/#example={index}")
    expect = sync_api.expect
    expect(other.locator("#current")).to_contain_text(f"relabel → {new_label}")
    expect(other.locator("#history")).to_contain_text("anonymous")
    other.reload()
    expect(other.locator("#stats")).to_contain_text("1 decided")
    ctx_a.close()
    ctx_b.close()

    from stratigraphy.curate.review_log import ReviewLog

    decisions = ReviewLog(run_dir / "review.sqlite", 1797, 10).decisions()
    assert [(d.example, d.decision, d.label) for d in decisions] == [(index, "relabel", new_label)]


def test_buttons_and_filters(browser, live_server):
    url, _ = live_server
    page = browser.new_page(bypass_csp=True)  # lets Playwright evaluate its wait predicates
    page.goto(url + "/")
    page.wait_for_selector("#queue li")
    page.select_option("#kind", "mislabeled")
    page.wait_for_function(
        "[...document.querySelectorAll('#queue li .k')]"
        ".every(e => e.textContent.startsWith('mislabeled'))"
    )
    page.wait_for_function("document.getElementById('title').textContent.startsWith('#')")
    page.locator("#queue li").first.click()
    page.wait_for_function("location.hash.includes('example=')")
    page.get_by_role("button", name="Remove").click()
    page.wait_for_function(
        "document.getElementById('stats').textContent.includes('1 decisions logged')"
    )
    page.select_option("#kind", "ranked")  # every example, the likeliest label errors first
    page.wait_for_function(
        "[...document.querySelectorAll('#queue li .k')].length > 100 &&"
        "[...document.querySelectorAll('#queue li .k')].every(e => e.textContent.includes('score'))"
    )
    page.close()
