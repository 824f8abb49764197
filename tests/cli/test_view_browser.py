"""--view in a real browser: Debian's headless Chromium (installed by `make browser`, which `make test`
runs), driven by selenium. The page opens from file:// with the network off; nothing may be requested
from outside, nothing may be logged as an error, and the numbers it shows must be those of --json.

ATTN_UPDATE_GOLDEN=1 also rewrites docs/view.png, the screenshot in the README."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import ROOT, UPDATE_GOLDEN, RunAttn

EIFFEL = "The miniature Eiffel tower is a toy"
SCREENSHOT = ROOT / "docs" / "view.png"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "Chromium and its driver are missing: `make browser` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_argument("--window-size=1280,1600")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    yield driver
    driver.quit()


def _open(driver: Any, page: Path) -> None:
    driver.get_log("browser")  # forget what earlier pages logged
    driver.get_log("performance")
    driver.get(page.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def _no_errors_nothing_fetched(driver: Any) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert urls and all(u.startswith(("file://", "data:", "blob:")) for u in urls), urls
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0


def _float32_text(x: float) -> float:
    return float(str(np.float32(x)))


def test_head_view_shows_the_numbers_of_json(attn: RunAttn, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = tmp_path / "page.html"
    r = attn("explain", EIFFEL, "--view", str(page))
    assert r.code == 0, r.err
    same = attn("explain", EIFFEL, "--layer", "3", "--head", "5", "--json")
    doc = json.loads(same.out)
    _open(browser, page)
    Select(browser.find_element(By.ID, "layer")).select_by_visible_text("3")
    browser.find_element(By.CSS_SELECTOR, '#head-buttons button[data-head="5"]').click()
    assert "3, head 5" in browser.find_element(By.ID, "st-title").text
    tower = doc["tokens"].index("tower")
    token = browser.find_element(By.CSS_SELECTOR, f'#hv .tok[data-side="q"][data-index="{tower}"]')
    ActionChains(browser).move_to_element(token).perform()
    cells = browser.find_elements(By.CSS_SELECTOR, '#readout td.exact[data-head="5"]')
    shown = [float(c.text) for c in cells]
    assert shown == [_float32_text(w) for w in doc["stages"]["weights"][tower]]  # every digit, as float32
    # the stage tables: every printed cell is the JSON's number at the page's precision (2 with the model)
    for name in ("scores", "scaled", "weights"):
        table = browser.find_element(By.CSS_SELECTOR, f'#tables .stage[data-table="{name}"]')
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        printed = [[td.text for td in tr.find_elements(By.CSS_SELECTOR, "td[data-j]")] for tr in rows]
        assert printed == [[f"{x:.2f}".replace("-0.00", "0.00") for x in row] for row in doc["stages"][name]]
    # a cell explains itself term by term from the printed Q and K
    cell = browser.find_element(
        By.CSS_SELECTOR, f'#tables .stage[data-table="scores"] td[data-i="{tower}"][data-j="1"]'
    )
    ActionChains(browser).move_to_element(cell).perform()
    expansion = browser.find_element(By.ID, "expansion").text
    q = [f"{x:.2f}" for x in doc["inputs"]["q"][tower]]
    assert expansion.startswith("scores[tower, the] = row tower of Q · row the of K")
    assert expansion.split("\n")[1].startswith(f"{q[0]}×")
    assert expansion.endswith(f"= {doc['stages']['scores'][tower][1]:.2f}")
    _no_errors_nothing_fetched(browser)
    if os.environ.get(UPDATE_GOLDEN):  # the head view with "tower" hovered, for the README
        browser.set_window_size(1280, 1000)
        browser.execute_script("window.scrollTo(0, 0)")
        token = browser.find_element(By.CSS_SELECTOR, f'#hv .tok[data-side="q"][data-index="{tower}"]')
        ActionChains(browser).move_to_element(token).perform()
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(SCREENSHOT))
        browser.set_window_size(1280, 1600)
    assert SCREENSHOT.stat().st_size > 10_000  # the README's picture


def test_model_view_opens_a_head_and_the_keyboard_moves(attn: RunAttn, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page = tmp_path / "page.html"
    assert attn("explain", EIFFEL, "--view", str(page)).code == 0
    _open(browser, page)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#grid button.cellbtn")) == 6 * 12
    browser.find_element(By.CSS_SELECTOR, '#grid button[data-layer="2"][data-head="3"]').click()
    assert browser.find_element(By.ID, "layer").get_attribute("value") == "1"
    pressed = browser.find_elements(By.CSS_SELECTOR, '#head-buttons button[aria-pressed="true"]')
    assert [b.get_attribute("data-head") for b in pressed] == ["3"]
    assert "layer 2, head 3" in browser.find_element(By.ID, "st-title").text
    # several heads at once, each in its colour
    browser.find_element(By.ID, "several").click()
    browser.find_element(By.CSS_SELECTOR, '#head-buttons button[data-head="7"]').click()
    strokes = browser.execute_script(
        "return [...new Set([...document.querySelectorAll('#hv line')].map(l => l.getAttribute('stroke')))]"
    )
    assert len(strokes) == 2
    # the keyboard: focus a token, ↓ moves to the next one (and keeps only its lines)
    token = browser.find_element(By.CSS_SELECTOR, '#hv .tok[data-side="q"][data-index="2"]')
    browser.execute_script("arguments[0].focus()", token)
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    active = browser.switch_to.active_element
    assert (active.get_attribute("data-side"), active.get_attribute("data-index")) == ("q", "3")
    lines = browser.execute_script("return [...document.querySelectorAll('#hv line')].map(l => l.getAttribute('y1'))")
    assert len(set(lines)) == 1  # one query's lines only
    # words instead of pieces: "Eiffel" (as written) is one word of pieces e, ##iff, ##el
    browser.find_element(By.CSS_SELECTOR, 'input[name="level"][value="words"]').click()
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, '#hv .tok[data-side="q"] text')]
    assert "Eiffel" in labels
    # a phone-width screen: the page does not scroll sideways (wide tables scroll inside their box)
    browser.set_window_size(390, 844)
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    browser.set_window_size(1280, 1600)
    assert width[0] <= width[1], width
    _no_errors_nothing_fetched(browser)


def test_compute_page_in_russian(attn: RunAttn, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "page.html"
    assert attn("compute", "--sample", "causal-4x4", "--view", str(page), "--lang", "ru").code == 0
    doc = json.loads(attn("compute", "--sample", "causal-4x4", "--json").out)
    _open(browser, page)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru"
    assert browser.find_element(By.ID, "hv-title").text == "Внимание одной головы"
    table = browser.find_element(By.CSS_SELECTOR, '#tables .stage[data-table="weights"]')
    printed = [
        [td.text for td in tr.find_elements(By.CSS_SELECTOR, "td[data-j]")]
        for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert printed == [[f"{x:.4f}" for x in row] for row in doc["stages"]["weights"]]
    _no_errors_nothing_fetched(browser)


def test_compute_page_draws_the_capped_and_visible_stages(attn: RunAttn, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    page = tmp_path / "page.html"
    flags = ("--sample", "softcap", "--window", "3")
    assert attn("compute", *flags, "--view", str(page)).code == 0
    doc = json.loads(attn("compute", *flags, "--json").out)
    _open(browser, page)

    def cells(name: str) -> tuple[Any, list[list[str]]]:
        table = browser.find_element(By.CSS_SELECTOR, f'#tables .stage[data-table="{name}"]')
        rows = [
            [td.text for td in tr.find_elements(By.CSS_SELECTOR, "td[data-j]")]
            for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")
        ]
        return table, rows

    capped, printed = cells("capped")
    assert printed == [[f"{x:.4f}" for x in row] for row in doc["stages"]["capped"]]
    ActionChains(browser).move_to_element(capped.find_element(By.CSS_SELECTOR, 'td[data-i="0"][data-j="2"]')).perform()
    expansion = browser.find_element(By.ID, "expansion").text
    assert "c·tanh(scaled / c), c = 0.5" in expansion and "0.5 × tanh(0.7071 / 0.5) = 0.4442" in expansion
    grid, marks = cells("allowed")
    assert marks == [["✓" if x else "·" for x in row] for row in doc["stages"]["visible"]["allowed"]]
    seen = [td.text for td in grid.find_elements(By.CSS_SELECTOR, "td.x")]
    assert seen == [str(int(n)) for n in doc["stages"]["visible"]["counts"]]
    ActionChains(browser).move_to_element(grid.find_element(By.CSS_SELECTOR, 'td[data-i="4"][data-j="0"]')).perform()
    assert "does not see key the" in browser.find_element(By.ID, "expansion").text
    _no_errors_nothing_fetched(browser)


def test_model_view_filters_by_role_and_by_head_search(attn: RunAttn, browser: Any, tmp_path: Path) -> None:
    """--roles and --query/--key with --view: the grid offers their scores as highlights; the numbers on the
    page are those of --json of the same run, and the list of the strongest heads opens one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page = tmp_path / "roles.html"
    assert attn("explain", EIFFEL, "--roles", "--view", str(page)).code == 0
    doc = json.loads(attn("explain", EIFFEL, "--roles", "--json").out)
    _open(browser, page)
    choice = Select(browser.find_element(By.ID, "mv-filter"))
    assert choice.first_selected_option.text == "role: previous token"  # the first role, shown at once
    choice.select_by_visible_text("role: [SEP]/EOS sink")
    end = np.array(doc["roles"]["end"])
    cell = browser.find_element(By.CSS_SELECTOR, '#grid button[data-layer="4"][data-head="12"] .score')
    assert float(cell.get_attribute("data-score")) == end[3, 11] and cell.text == f"{end[3, 11]:.2f}"
    best = browser.find_elements(By.CSS_SELECTOR, "#mv-top button")
    li, hi = np.unravel_index(np.argmax(end), end.shape)
    assert (best[0].get_attribute("data-layer"), best[0].get_attribute("data-head")) == (str(li + 1), str(hi + 1))
    assert float(best[0].get_attribute("data-score")) == end.max()
    outlined = browser.find_elements(By.CSS_SELECTOR, "#grid button.cellbtn.top")
    assert len(outlined) == 3
    # the keyboard: the filter is a select (↓ picks the next role), the list's buttons open a head with Enter
    browser.execute_script("arguments[0].focus()", browser.find_element(By.ID, "mv-filter"))
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert choice.first_selected_option.text == "role: broad"  # no punctuation in EIFFEL
    first = browser.find_element(By.CSS_SELECTOR, "#mv-top button")
    wanted = f"layer {first.get_attribute('data-layer')}, head {first.get_attribute('data-head')}"
    browser.execute_script("arguments[0].focus()", first)
    browser.switch_to.active_element.send_keys(Keys.ENTER)  # the page draws itself anew
    assert wanted in browser.find_element(By.ID, "st-title").text
    _no_errors_nothing_fetched(browser)

    page = tmp_path / "search.html"
    assert attn("explain", EIFFEL, "--query", "tower", "--key", "miniature", "--view", str(page)).code == 0
    found = json.loads(attn("explain", EIFFEL, "--query", "tower", "--key", "miniature", "--json").out)
    _open(browser, page)
    assert Select(browser.find_element(By.ID, "mv-filter")).first_selected_option.text == (
        "head search: tower → miniature"
    )
    top = found["heads"][0]
    first = browser.find_element(By.CSS_SELECTOR, "#mv-top button")
    assert float(first.get_attribute("data-score")) == top["weight"]
    assert first.text == f"layer {top['layer']}, head {top['head']}: {top['weight']:.2f} · rank {top['rank']} of 9"
    assert "layer {layer}, head {head}".format(**top) in browser.find_element(By.ID, "st-title").text  # opened
    _no_errors_nothing_fetched(browser)
