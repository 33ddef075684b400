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
    import shutil

    from api_server import running

    from hdf_assistant.web.server import create_app

    root = tmp_path_factory.mktemp("a11y")
    shutil.copytree(BUNDLED_CORPUS, root / "corpus")
    settings = load_settings(env={}, corpus_dir=root / "corpus", index_dir=root / "index", progress=False)
    with running(create_app(build_assistant(settings, embedder=e5_embedder))) as url:
        yield url


#: the element shows at full opacity (Gradio dims an output while its event runs, then fades it back)
SETTLED = """() => { let el = document.querySelector('SELECTOR');
  if (!el) return false;
  for (; el; el = el.parentElement) { if (getComputedStyle(el).opacity !== '1') return false; }
  return true; }"""


def serious(results) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"] if v["impact"] in ("critical", "serious")]


@pytest.mark.parametrize("language", ["Français", "English"])
def test_no_critical_or_serious_violation_on_either_tab(served: str, language: str, tmp_path: Path) -> None:
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
        # after a document is added, and with the confirmation of its deletion showing
        note = tmp_path / f"note_{expected_lang}.txt"
        note.write_text("Une note sur la fibre optique à Arras.", encoding="utf-8")
        page.locator("#upload input[type=file]").set_input_files(str(note))
        page.wait_for_function(f"document.querySelector('#index-status').innerText.includes('{note.name}')",
                               timeout=120_000)
        page.wait_for_function(SETTLED.replace("SELECTOR", "#index-status p"), timeout=30_000)
        added = serious(axe.run(page))
        page.locator("#document-choice input").click()
        page.get_by_role("option", name=note.name).click()
        page.locator("#delete-document").click()
        page.locator("#confirm-question").get_by_text(note.name).wait_for(timeout=10_000)
        page.wait_for_function(SETTLED.replace("SELECTOR", "#confirm-question p"), timeout=30_000)
        confirming = serious(axe.run(page))
        page.locator("#cancel").click()
        browser.close()
    assert chat == [] and documents == [] and added == [] and confirming == [], (chat, documents, added, confirming)


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


def _tab_to(page, condition: str, limit: int = 80) -> None:
    """Press Tab until ``condition`` (JavaScript, about ``document.activeElement``) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({condition}); }}"):
            return
    raise AssertionError(f"not reached with the Tab key: {condition}")


def test_the_whole_flow_works_with_the_keyboard_alone(tmp_path: Path, e5_embedder) -> None:
    """Ask, open a source, copy its reference, switch tab, upload, refresh: keys only, no click."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    import shutil

    from api_server import running
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from hdf_assistant.web.server import create_app

    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    note = tmp_path / "tiers_lieux.txt"
    note.write_text("La Somme compte neuf tiers-lieux numériques labellisés en 2024.", encoding="utf-8")
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False)
    with running(create_app(build_assistant(settings, embedder=e5_embedder))) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1300, "height": 900},
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.goto(url + "/")
        page.locator("#question textarea").wait_for(timeout=30_000)
        _tab_to(page, "el.closest('#question') !== null")
        page.keyboard.type("Où OVH a-t-il été créé ?")
        page.keyboard.press("Enter")
        page.wait_for_function("[...document.querySelectorAll(\"[data-testid='bot']\")].some(b => "
                               "b.innerText.includes('Roubaix'))", timeout=60_000)
        page.locator("#sources a").first.wait_for(timeout=30_000)
        # the source opens from the keyboard, at the highlighted passage
        _tab_to(page, "el.matches('#sources a')")
        with context.expect_page() as opened:
            page.keyboard.press("Enter")
        document = opened.value
        document.wait_for_load_state()
        assert "Roubaix" in document.locator("mark#passage").inner_text()
        document.close()
        # its reference is copied from the keyboard
        _tab_to(page, "el.matches('#sources button.copy-ref')")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#sources button.copy-ref').innerText.includes('copiée')",
                               timeout=10_000)
        assert page.evaluate("navigator.clipboard.readText()").startswith("panorama_numerique_hauts_de_france.txt")
        # the Documents tab, then an upload through the file chooser, which indexes the file at once
        _tab_to(page, "el.getAttribute('role') === 'tab' && el.innerText.includes('Documents')")
        page.keyboard.press("Enter")
        page.locator("#rebuild").wait_for(timeout=10_000)
        _tab_to(page, "el.closest('#upload') !== null && el.tagName === 'BUTTON'")
        page.wait_for_function(SETTLED.replace("SELECTOR", "#upload button"), timeout=30_000)
        for attempt in range(3):  # the tab's components may still be starting: Enter again, as a person would
            try:
                with page.expect_file_chooser(timeout=10_000) as chooser:
                    page.keyboard.press("Enter")
                break
            except PlaywrightTimeout:
                assert attempt < 2, "Enter on the upload area opened no file chooser"
        chooser.value.set_files(str(note))
        page.wait_for_function("document.querySelector('#index-status').innerText.includes('tiers_lieux.txt')",
                               timeout=120_000)
        assert page.locator("#index-status").get_attribute("aria-live") == "polite"
        # the refresh button, from the keyboard
        _tab_to(page, "el.matches('#rebuild')")
        page.keyboard.press("Enter")
        page.wait_for_function("!document.querySelector('#index-status').innerText.includes('tiers_lieux.txt') && "
                               "document.querySelector('#index-status').innerText.includes('Index à jour')",
                               timeout=120_000)
        browser.close()
    assert (corpus / "tiers_lieux.txt").exists()
