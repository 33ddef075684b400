"""Saved conversations, beside the index of each store (SQLite in the index
directory, or the database): kept across restarts, private to their user."""

from __future__ import annotations

from hdf_assistant.web.conversations import ConversationStore, save_exchange, title_of


def answer(text: str) -> dict:
    return {"question": "q", "answer": text, "abstained": False, "citations": [
        {"n": 1, "source": "a.txt", "page": None, "text": text, "score": 1.0, "start": 0, "end": len(text),
         "section": None}]}


def test_conversations_are_kept_per_user_and_survive_a_new_store(backend_settings) -> None:
    store = ConversationStore.for_settings(backend_settings)
    first = save_exchange(store, "alice", None, "Quelle entreprise a été créée à Roubaix ?", answer("OVH [1]"))
    assert first is not None
    assert save_exchange(store, "alice", first, "Et combien de salariés ?", answer("1000 [1]")) == first
    assert save_exchange(store, "bob", first, "Je continue ?", answer("non")) is None  # not bob's
    other = save_exchange(store, "bob", None, "Où est Isagri ?", answer("Beauvais [1]"))

    again = ConversationStore.for_settings(backend_settings)  # a restarted server
    [mine] = again.list_of("alice")
    assert mine.id == first and mine.title == "Quelle entreprise a été créée à Roubaix ?"
    full = again.get("alice", first)
    assert full is not None and full.user_turns() == ["Quelle entreprise a été créée à Roubaix ?",
                                                      "Et combien de salariés ?"]
    assert [m.role for m in full.messages] == ["user", "assistant", "user", "assistant"]
    assert full.messages[3].answer["citations"][0]["text"] == "1000 [1]"
    assert again.get("bob", first) is None and [c.id for c in again.list_of("bob")] == [other]
    assert not again.rename("bob", first, "volé") and again.rename("alice", first, "OVH")
    assert again.list_of("alice")[0].title == "OVH"
    assert not again.delete("bob", first) and again.delete("alice", first)
    assert again.list_of("alice") == [] and again.get("alice", first) is None


def test_titles_are_short_and_on_one_line() -> None:
    assert title_of("  Combien\\nde startups ?  ".replace("\\n", "\n")) == "Combien de startups ?"
    long = title_of("mot " * 60)
    assert len(long) == 80 and long.endswith("…")


def test_servers_starting_together_create_the_tables_once(settings, postgres_url) -> None:
    """Several processes open the store at the same moment (serve on many machines)."""
    from concurrent.futures import ThreadPoolExecutor

    shared = settings.replace(store="postgres", database_url=postgres_url, index_name="together")
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: ConversationStore.for_settings(shared), range(6)))
    saved = save_exchange(stores[0], "alice", None, "Une question ?", answer("Une réponse."))
    assert [c.id for c in stores[5].list_of("alice")] == [saved]
