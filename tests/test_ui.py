"""The chat in a real headless Chromium, the documented API endpoint through
gradio_client, and the document route's confinement to the corpus."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BUNDLED_CORPUS, REPO, make_pdf

from hdf_assistant.assistant import Assistant, build_assistant
from hdf_assistant.config import load_settings

PANORAMA = "panorama_numerique_hauts_de_france.txt"
CHROMIUM = "/usr/bin/chromium"
OUTPUT = REPO / "test-output"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Iterator[tuple[str, Assistant]]:
    from api_server import running

    from hdf_assistant.web.server import create_app

    root = tmp_path_factory.mktemp("ui")
    corpus = root / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=root / "index", progress=False)
    assistant = build_assistant(settings, embedder=e5_embedder)
    with running(create_app(assistant)) as url:
        yield url, assistant


@pytest.fixture()
def page(server):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        pg = browser.new_page(viewport={"width": 1400, "height": 900})
        pg.goto(server[0] + "/")
        yield pg
        browser.close()


def test_example_question_answers_with_cited_sources(page) -> None:
    page.get_by_text("How many startups in Lille?").first.click()
    page.wait_for_function("document.body.innerText.includes('1791 startups référencées')", timeout=60_000)
    sources = page.locator("#sources")
    sources.get_by_text(PANORAMA).first.wait_for(timeout=10_000)
    assert "1791" in sources.locator("mark").first.inner_text()
    link = sources.locator("a").first.get_attribute("href")
    assert link.startswith("/doc/" + PANORAMA) and "#passage" in link
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "ui-chat.png"), full_page=True)
    # English labels on request
    page.get_by_text("English").first.click()
    page.get_by_role("tab", name="Chat").wait_for(timeout=10_000)
    # the source link opens the document at the highlighted passage
    page.goto(page.url.rstrip("/") + link)
    assert "1791 startups" in page.locator("mark#passage").inner_text()


def test_upload_indexes_at_once_and_deleting_it_in_the_tab_makes_the_question_unanswered(page, server,
                                                                                         tmp_path) -> None:
    uploaded = server[1].settings.corpus_dir / "chiffres_cles_gen.pdf"
    pdf = make_pdf(tmp_path / "chiffres_cles_gen.pdf", [
        ["Grande Ecole du Numerique : rapport d'impact."],
        ["En 2021, la region compte 54 formations labellisees et 1230 apprenants."],
    ])
    question = "Combien de formations labellisées en 2021 ?"
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(pdf))
    # no second button: the upload refreshes the index by itself
    page.get_by_text("Index à jour").wait_for(timeout=120_000)
    assert "ajoutés : chiffres_cles_gen.pdf" in page.locator("#index-status").inner_text()
    row = page.locator("#documents [role=row]", has_text="chiffres_cles_gen.pdf")
    assert "indexé" in row.inner_text() and "2" in row.inner_text()
    page.get_by_role("tab", name="Discussion").click()
    answer = _ask(page, question, 0)
    assert "54 formations" in answer
    sources = page.locator("#sources")
    sources.get_by_text("chiffres_cles_gen.pdf, p. 2").wait_for(timeout=10_000)
    assert sources.locator("a").first.get_attribute("href").endswith("#page=2")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "ui-upload.png"), full_page=True)

    # deleted from the Documents tab, after a confirmation
    page.get_by_role("tab", name="Documents").click()
    page.locator("#document-choice input").click()
    page.get_by_role("option", name="chiffres_cles_gen.pdf").click()
    page.locator("#delete-document").click()
    page.locator("#confirm-question").get_by_text("chiffres_cles_gen.pdf").wait_for(timeout=10_000)
    assert uploaded.exists()  # nothing deleted before the confirmation
    page.locator("#confirm").click()
    page.get_by_text("chiffres_cles_gen.pdf supprimé").wait_for(timeout=120_000)
    assert "retirés : chiffres_cles_gen.pdf" in page.locator("#index-status").inner_text()
    assert page.locator("#documents [role=row]", has_text="chiffres_cles_gen.pdf").count() == 0 and not uploaded.exists()
    page.get_by_role("tab", name="Discussion").click()
    page.locator("#new-chat").click()
    refused = _ask(page, question, 0, marker="documents ne contiennent pas")
    assert "54 formations" not in refused and "chiffres_cles_gen.pdf" not in refused
    # it says why, and shows the closest passage (of the panorama), marked as not an answer
    assert "Pourquoi :" in refused and "Passage le plus proche" in refused
    sources.get_by_text("Passage le plus proche — ce n'est pas une réponse").wait_for(timeout=10_000)
    assert "panorama_numerique_hauts_de_france.txt" in sources.inner_text()
    page.screenshot(path=str(OUTPUT / "ui-refusal.png"), full_page=True)


def test_gradio_client_calls_the_ask_endpoint(server) -> None:
    from gradio_client import Client

    client = Client(server[0] + "/", verbose=False)
    result = client.predict("How many startups in Lille?", [], api_name="/ask")
    assert result["abstained"] is False and "1791" in result["answer"]
    assert result["citations"][0]["source"] == PANORAMA
    follow = client.predict("Et combien de salariés y travaillent ?",
                            ["Quelle entreprise a été créée à Roubaix en 1999 ?"], api_name="/ask")
    assert "1000 salariés" in follow["citations"][0]["text"]


@pytest.mark.parametrize("name", [
    "..%2Fpyproject.toml", "../pyproject.toml", "%2E%2E/%2E%2E/etc/passwd", ".hidden.txt",
    "%2Fetc%2Fpasswd", "nope.txt", "x.exe",
])
def test_document_route_serves_only_corpus_files(server, name: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server[0]}/doc/{name}", timeout=10)
    assert info.value.code == 404


def test_document_route_highlights_the_passage(server) -> None:
    text = (BUNDLED_CORPUS / PANORAMA).read_text(encoding="utf-8")
    start = text.index("avec 1791")
    body = urllib.request.urlopen(f"{server[0]}/doc/{PANORAMA}?start={start}&end={start + 9}", timeout=10).read()
    assert "<mark id='passage'>avec 1791</mark>" in body.decode()


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"])


def _ask(page, question: str, answers_so_far: int, marker: str = "[1]") -> str:
    """Type a question in the chat box; the text of the answer once it is there
    (once it shows ``marker``)."""
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    bot = page.locator("[data-testid='bot']")
    page.wait_for_function(
        f"document.querySelectorAll(\"[data-testid='bot']\").length > {answers_so_far} && "
        f"document.querySelectorAll(\"[data-testid='bot']\")[{answers_so_far}].innerText.includes({marker!r})",
        timeout=60_000)
    return bot.nth(answers_so_far).inner_text()


def test_a_follow_up_typed_in_the_chat_is_about_the_previous_question(page) -> None:
    box = page.locator("#question textarea")
    placeholder = box.get_attribute("placeholder")
    assert placeholder
    first = _ask(page, "When was OVH founded?", 0)
    assert "OVH" in first
    # the question box still says what to type once an answer is there
    page.wait_for_function("document.querySelector('#question textarea').disabled === false", timeout=30_000)
    assert box.get_attribute("placeholder") == placeholder
    second = _ask(page, "And how many people does it employ?", 1)
    # without the conversation, this question is answered with Isagri's sector
    assert "OVH" in second and "1000 salariés" in second and "Isagri" not in second, second


def test_a_conversation_survives_a_page_reload_and_a_server_restart(tmp_path, e5_embedder) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from api_server import free_port, running
    from playwright.sync_api import sync_playwright

    from hdf_assistant.web.server import create_app

    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False)
    port = free_port()
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        with running(create_app(build_assistant(settings, embedder=e5_embedder)), port) as url:
            page.goto(url + "/")
            _ask(page, "Où OVH a-t-il été créé ?", 0)
            page.locator("#conversations").get_by_text("Où OVH a-t-il été créé ?").wait_for(timeout=10_000)
        # a new server process, in effect: a new assistant and app on the same index directory
        with running(create_app(build_assistant(settings, embedder=e5_embedder)), port) as url:
            page.goto(url + "/")
            listed = page.locator("#conversations").get_by_text("Où OVH a-t-il été créé ?")
            listed.wait_for(timeout=20_000)
            listed.click()
            page.wait_for_function("document.body.innerText.includes('Roubaix')", timeout=20_000)
            assert "Roubaix" in page.locator("[data-testid='bot']").first.inner_text()
            page.locator("#sources").get_by_text(PANORAMA).first.wait_for(timeout=10_000)
            # the reopened conversation goes on with its history
            follow = _ask(page, "Et combien de salariés y travaillent ?", 1)
            assert "1000 salariés" in follow
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "ui-conversations.png"), full_page=True)
        browser.close()


def test_two_anonymous_browsers_do_not_see_each_other_s_conversations(tmp_path) -> None:
    """Without a login, each browser (a Playwright context: its own cookies) has its own conversations; with
    API keys set (and no login), the page still works: its calls to Gradio's API carry its visitor cookie."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from api_server import running
    from fake_embedder import FakeEmbedder
    from playwright.sync_api import sync_playwright

    from hdf_assistant.web.server import create_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ovh.txt").write_text("OVH a été fondé à Roubaix en 1999. Le CITC est à Lille.", encoding="utf-8")
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False,
                             api_keys="robot:robot-key-123456")
    with running(create_app(build_assistant(settings, embedder=FakeEmbedder()))) as url, sync_playwright() as p:
        browser = _browser(p)
        pages = []
        for question in ("Où OVH a-t-il été fondé ?", "Où est le CITC ?"):
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(url + "/")
            _ask(page, question, 0)
            page.locator("#conversations").get_by_text(question).wait_for(timeout=10_000)
            pages.append(page)
        for page, own, other in ((pages[0], "Où OVH a-t-il été fondé ?", "Où est le CITC ?"),
                                 (pages[1], "Où est le CITC ?", "Où OVH a-t-il été fondé ?")):
            page.reload()
            page.locator("#conversations").get_by_text(own).wait_for(timeout=20_000)
            assert other not in page.locator("#conversations").inner_text()
        OUTPUT.mkdir(exist_ok=True)
        pages[1].screenshot(path=str(OUTPUT / "ui-anonymous-browser.png"), full_page=True)
        browser.close()


def test_bob_in_the_browser_sees_nothing_of_rh(tmp_path) -> None:
    """The red team's browser door: bob, logged in, asks the HR questions in the chat and opens the
    Documents tab; no byte of the rh files shows on the page, in its screenshot's text or in the collection
    selector. (The answers' abstention is checked with the real model in test_access.py.)"""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from api_server import running
    from fake_embedder import FakeEmbedder
    from playwright.sync_api import sync_playwright
    from test_access import RH_QUESTIONS, SECRETS, _setup

    from hdf_assistant.web.server import create_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    settings = load_settings(env={}, corpus_dir=corpus, index_dir=tmp_path / "index", progress=False)
    settings = settings.replace(**_setup(tmp_path, corpus))
    with running(create_app(build_assistant(settings, embedder=FakeEmbedder()))) as url, sync_playwright() as p:
        browser = _browser(p)
        context = browser.new_context(viewport={"width": 1400, "height": 900},
                                      http_credentials={"username": "bob", "password": "bob-password"})
        page = context.new_page()
        page.goto(url + "/")
        for n, question in enumerate(RH_QUESTIONS):
            _ask(page, question, n, marker="")
        page.wait_for_timeout(500)
        chat_text = page.locator("body").inner_text()
        page.locator("#collection input").click()
        listed = page.locator("[data-testid='dropdown-option']")
        listed.first.wait_for(timeout=10_000)
        options = [listed.nth(i).get_attribute("aria-label") or "" for i in range(listed.count())]
        page.keyboard.press("Escape")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "ui-bob-chat.png"), full_page=True)
        page.get_by_role("tab", name="Documents").click()
        page.locator("#documents [role=row]", has_text="panorama_numerique_hauts_de_france.txt").first.wait_for(
            timeout=20_000)
        docs_text = page.locator("body").inner_text()
        page.screenshot(path=str(OUTPUT / "ui-bob-documents.png"), full_page=True)
        html = page.content()
        browser.close()
    assert "rh" not in [o.strip() for o in options] and "general" in [o.strip() for o in options]
    for text in (chat_text, docs_text, html):
        leaks = [s for s in SECRETS if s.lower() in text.lower()]
        assert not leaks, leaks
