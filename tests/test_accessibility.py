"""The chat and the Documents tab checked by axe-core (the reference automated
accessibility engine, bundled by axe-playwright-python) in Chromium, in French
and in English, after an answer is shown: no violation of impact critical or
serious (WCAG 2.1 AA rules, on which the RGAA is built)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BUNDLED_CORPUS

from hdf_assistant.assistant import build_assistant
from hdf_assistant.config import load_settings

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, e5_embedder):
    from api_server import running

    from hdf_assistant.web.server import create_app

    index = tmp_path_factory.mktemp("a11y") / "index"
    settings = load_settings(env={}, corpus_dir=BUNDLED_CORPUS, index_dir=index, progress=False)
    with running(create_app(build_assistant(settings, embedder=e5_embedder))) as url:
        yield url


def serious(results) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"] if v["impact"] in ("critical", "serious")]


@pytest.mark.parametrize("language", ["Français", "English"])
def test_no_critical_or_serious_violation_on_either_tab(served: str, language: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(served + "/")
        page.get_by_label(language).check()
        expected_lang = "en" if language == "English" else "fr"
        page.wait_for_function(f"document.documentElement.lang === '{expected_lang}'", timeout=30_000)
        box = page.locator("#question textarea")
        box.fill("Combien de startups à Lille ?")
        box.press("Enter")
        page.wait_for_function("[...document.querySelectorAll(\"[data-testid='bot']\")].some(b => "
                               "b.innerText.includes('[1]'))", timeout=60_000)
        # the sources panel filled and nothing still dimmed as "pending" (contrast is measured on what shows)
        page.locator("#sources a").first.wait_for(timeout=30_000)
        page.wait_for_function("!document.querySelector('.pending, .generating')", timeout=30_000)
        assert page.locator("[role=log][aria-live=polite]").count() >= 1  # the answer is announced
        assert page.locator("h1").count() == 1
        axe = Axe()
        chat = serious(axe.run(page))
        page.get_by_role("tab").nth(1).click()
        page.locator("#rebuild").wait_for(timeout=10_000)
        documents = serious(axe.run(page))
        browser.close()
    assert chat == [] and documents == [], (chat, documents)


def test_english_mode_shows_no_french_label_on_either_tab(served: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    from hdf_assistant.web.labels import LABELS

    fr, en = LABELS["fr"], LABELS["en"]
    french: list[str] = []
    for key, value in fr.items():
        if value == en.get(key):
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            for line in str(item).split("{")[0].replace("#", "").replace("*", "").splitlines():
                if line.strip() and line.strip() not in str(en.get(key)):
                    french.append(line.strip())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(served + "/")
        page.get_by_label("English").check()
        page.get_by_role("tab", name="Chat").wait_for(timeout=10_000)
        box = page.locator("#question textarea")
        box.fill("How many startups in Lille?")
        box.press("Enter")
        page.wait_for_function("[...document.querySelectorAll(\"[data-testid='bot']\")].some(b => "
                               "b.innerText.includes('[1]'))", timeout=60_000)
        chat = page.inner_text("body") + " " + (box.get_attribute("placeholder") or "")
        page.get_by_role("tab", name="Documents").click()
        page.locator("#rebuild").wait_for(timeout=10_000)
        page.get_by_text("passages of").first.wait_for(timeout=30_000)
        documents = page.inner_text("body")
        browser.close()
    for text in (chat, documents):
        shown = [label for label in french if label in text]
        assert shown == [], shown
    assert "indexed at" in documents and "built at" in documents
