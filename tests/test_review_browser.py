"""The review app in a real browser (Debian's Chromium driven by Playwright): browse every
page, label 10 rows with the keyboard, accept a suggested LF, refit; then the labels and
the LF module are checked on disk. A screenshot of each page is saved (to
``$WEAKLABEL_REVIEW_SCREENSHOTS``, else the test's temporary folder): the docs' pictures
come from this test.

Playwright never downloads a browser here: it launches the system's Chromium
(``/usr/bin/chromium``, or ``$WEAKLABEL_CHROMIUM``); without one the test is skipped with
the reason (CI installs it: see ``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from weaklabel import load_lfs
from weaklabel.review.labels import LABELS_FILE, read_review_labels
from weaklabel.review.loop import ReviewSession
from weaklabel.review.run_data import RunData
from weaklabel.review.server import ReviewServer

CHROMIUM = os.environ.get("WEAKLABEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ["WEAKLABEL_REVIEW_SCREENSHOTS"]).resolve() if os.environ.get("WEAKLABEL_REVIEW_SCREENSHOTS") else None
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)"),
]


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra has it)")
    profile = tempfile.mkdtemp(prefix="weaklabel-chromium-")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 860},
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def served_run(tmp_path, monkeypatch):
    from test_review import youtube_config

    from weaklabel.fit import run

    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them (and as the screenshots show)
    config = {**youtube_config(Path(".")), "name": "youtube_review", "output_dir": "runs/youtube_review",
              "cache_dir": "runs/.weaklabel_cache"}
    run_dir = run(config).output_dir
    session = ReviewSession(RunData.open(run_dir), lf_module="labeling_functions/youtube_accepted.py")
    server = ReviewServer(session, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    session.store.close()


def _open(page, server, route: str) -> None:
    page.goto(server.url + "#/" + route)
    page.wait_for_selector(f"main[data-page='{route.split('?')[0]}']", timeout=60_000)


def test_browse_label_accept_refit_in_chromium(browser_page, served_run, tmp_path_factory):
    # locators and expectations only: the app's Content-Security-Policy forbids the eval
    # behind page.wait_for_function, and the test keeps the policy on
    from playwright.sync_api import expect

    page, errors = browser_page
    server = served_run
    data = server.session.data
    shots = SCREENSHOTS or tmp_path_factory.mktemp("screenshots")
    shots.mkdir(parents=True, exist_ok=True)

    # browse: overview, sources (sorted by coverage, then one source's examples), rows
    _open(page, server, "overview")
    assert page.locator("#scores tbody tr").count() == 9
    assert page.locator("#coverage tbody tr").count() == 3
    assert page.locator(".warning").count() >= 1
    page.screenshot(path=shots / "overview.png", full_page=True)

    _open(page, server, "sources")
    header = page.locator("#sources-table th", has_text="coverage").first
    header.click()
    header.click()  # descending
    first = page.locator("#sources-table tbody tr").first.locator("td").first.inner_text()
    covered = max(data.source_names, key=lambda s: (data.votes[data.split_slice("train"), data.source_names.index(s)] != -1).sum())
    assert first == covered
    page.locator("#sources-table a", has_text="few_words").click()
    page.wait_for_selector("#source-detail .row")
    page.screenshot(path=shots / "sources.png", full_page=False)

    _open(page, server, "rows")
    page.select_option("select[name=predicted]", "SPAM")
    page.fill("input[name=text]", "subscribe")
    page.click("#apply-filters")
    expect(page).to_have_url(re.compile("text=subscribe"))
    page.wait_for_selector("#row-results .row")
    texts = page.locator("#row-results .row .text").all_inner_texts()
    assert texts and all("subscribe" in t.lower() for t in texts)
    page.screenshot(path=shots / "rows.png", full_page=False)

    # label 10 rows with the keyboard (the key of the row's gold class)
    _open(page, server, "label")
    page.wait_for_selector("#label-card .row")
    labeled = []
    for _ in range(10):
        key = page.locator("#label-card .row").get_attribute("data-row")
        split, row_id = key.split(":", 1)
        gold = int(data.gold[data.position(split, row_id)])
        if not labeled:
            page.screenshot(path=shots / "label.png", full_page=False)
        page.keyboard.press(str(gold + 1))
        expect(page.locator("#label-card .row")).not_to_have_attribute("data-row", key)
        labeled.append(((split, row_id), gold))
    expect(page.locator("#reviewed-count")).to_have_text(re.compile("^10 rows"))

    # accept the first suggestion
    _open(page, server, "suggestions")
    page.click("#compute-suggestions")
    page.wait_for_selector(".suggestion button.accept", timeout=120_000)
    suggestion = page.locator(".suggestion").first
    name = suggestion.locator("strong").inner_text()
    suggestion.locator("button.accept").click()
    page.wait_for_selector(".suggestion .chip:has-text('accepted')")
    page.screenshot(path=shots / "suggestions.png", full_page=False)

    # refit
    _open(page, server, "refit")
    page.click("#run-refit")
    page.wait_for_selector("#refit-scores", timeout=120_000)
    assert name in page.locator("#refit-summary").inner_text()
    page.screenshot(path=shots / "refit.png", full_page=True)
    assert errors == []

    # on disk: the labels in the run folder's store, the LF in the named module
    assert read_review_labels(data.path) == dict(labeled)
    assert (data.path / LABELS_FILE).is_file()
    assert [lf.name for lf in load_lfs(str(server.session.lf_module))] == [name]
    assert sorted(p.name for p in shots.iterdir()) == [
        "label.png", "overview.png", "refit.png", "rows.png", "sources.png", "suggestions.png"]
