"""What the answerer knows about the documents an answer would come from,
read through the index's interface (never written)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

from hdf_assistant.analysis import analyze
from hdf_assistant.answer.candidates import Candidate
from hdf_assistant.answer.question import acronyms
from hdf_assistant.index.manifest import Manifest
from hdf_assistant.ingest.acronyms import AcronymTable
from hdf_assistant.schema import Chunk, ScoredChunk


class IndexView(Protocol):
    """The read-only part of the index the answerer uses (``SearchIndex`` has it)."""

    @property
    def size(self) -> int: ...

    @property
    def version(self) -> str: ...

    @property
    def manifest(self) -> Manifest: ...

    def source_text(self, source: str) -> str: ...

    def page_text(self, source: str, page: int | None) -> str: ...

    def document_frequency(self, terms: list[str]) -> dict[str, int]: ...

    def chunk_ids_of(self, source: str) -> list[str]: ...

    def chunk(self, chunk_id: str) -> Chunk: ...

    def dense_scores(self, vector: np.ndarray, chunk_ids: Sequence[str]) -> np.ndarray: ...

    def keyword_search(self, question: str, k: int) -> list[ScoredChunk]: ...


def more_of_best_document(results: list[ScoredChunk], passages: int, index: IndexView | None,
                          query_vector: np.ndarray, extra: int) -> list[ScoredChunk]:
    """Passages of the best document the top results leave out (the retriever
    gives one passage per document first): its opening, which holds its title
    and what it is about, then its passages nearest the question, ``extra`` in all."""
    if extra <= 0 or index is None or not results:
        return []
    taken = {r.chunk.id for r in results[:passages]}
    ids = index.chunk_ids_of(results[0].chunk.source)
    rest = [cid for cid in ids if cid not in taken]
    if not rest:
        return []
    scores = index.dense_scores(query_vector, rest)
    chosen = [0] if ids[0] not in taken else []
    chosen += [i for i in np.argsort(-scores, kind="stable") if i not in chosen][: extra - len(chosen)]
    return [ScoredChunk(index.chunk(rest[i]), float(scores[i])) for i in chosen]


#: characters at the start of a document that name what it is about (its title, its opening)
DOCUMENT_OPENING = 300


def term_match(term: str, terms: set[str] | frozenset[str]) -> bool:
    """Exact term, one that starts like it ("lill" / "lilloi"), or one that
    shares a long beginning with it ("plafond" / "plafonne")."""
    if term in terms:
        return True
    if len(term) < 4:
        return False
    for t in terms:
        if len(t) < 4:
            continue
        if t.startswith(term) or term.startswith(t):
            return True
        if len(term) >= 6 and len(t) >= 6 and t[:6] == term[:6]:
            return True
    return False


def mentions(terms: set[str] | frozenset[str], name: str) -> bool:
    """True when one of the name's words occurs ("Île-de-France" / "France"); an acronym of three
    letters or more ("ARS", whose term is "ar") counts however short its term is (two letters, "IT",
    "UE", are too ambiguous to require)."""
    acronym = name.isupper() and len(name) >= 3
    words = [t for t in analyze(name) if (len(t) >= 3 or acronym) and not t.isdigit()]
    return not words or any(term_match(t, terms) for t in words)


def mentions_group(terms: set[str] | frozenset[str], group: str) -> bool:
    """A multi-word name, or the initials it is known by ("Internet of Things" / "IOT")."""
    return any(a.lower() in terms for a in acronyms(group))


def form_terms(form: str) -> list[str]:
    """The words of a long form that must be found for it to count as written ("carte", "national", "identit")."""
    return [t for t in analyze(form) if len(t) >= 3 and not t.isdigit()]


def mentions_form(terms: set[str] | frozenset[str], form: str) -> bool:
    """Every content word of ``form`` ("carte nationale d'identité") occurs in ``terms``."""
    words = form_terms(form)
    return bool(words) and all(term_match(t, terms) for t in words)


def name_forms(name: str, table: AcronymTable) -> list[str]:
    """Other ways documents write ``name``: an acronym's long forms ("CNI" -> "carte nationale
    d'identité"), a long form's acronym ("Agence nationale de l'habitat" -> "ANAH")."""
    return list(table.forms(name)) + sorted(table.acronyms_in(name))


#: (manifest, its table): the table of the index state answered from last
_LAST_TABLE: list[tuple[Manifest, AcronymTable]] = []


def acronym_table(index: IndexView | None) -> AcronymTable:
    """The shipped acronyms and those the index's files define, made once per index state."""
    if index is None:
        return AcronymTable()
    manifest = index.manifest
    last = _LAST_TABLE[0] if _LAST_TABLE else None
    if last is not None and last[0] is manifest:
        return last[1]
    table = AcronymTable(e.acronyms for e in manifest.files.values() if e.acronyms)
    _LAST_TABLE[:] = [(manifest, table)]
    return table


def idf(term: str, document_frequency: dict[str, int], n_docs: int) -> float:
    return math.log(1 + (n_docs + 1) / (document_frequency.get(term, 0) + 0.5))


@dataclass
class Evidence:
    """Terms of the document the best sentence comes from, and of its surroundings."""

    #: every term of the best sentence's document
    document: set[str] | frozenset[str]
    #: terms near the best sentence: its passage, its list's lead-in, the sentence
    #: before it, its section heading and the document's opening
    near: set[str]
    document_frequency: dict[str, int]
    n_documents: int
    #: acronyms and their long forms (shipped list + the corpus's own definitions)
    acronyms: AcronymTable = field(default_factory=AcronymTable)

    def in_corpus(self, term: str) -> bool:
        return self.document_frequency.get(term, 0) > 0


@lru_cache(maxsize=64)
def document_terms(text: str) -> frozenset[str]:
    """The analysed terms of a whole document, remembered for the documents
    answers came from lately: analysing a 50-page PDF takes about a quarter
    of a second, too long to repeat for every question about it."""
    return frozenset(analyze(text))


def gather_evidence(best: Candidate, previous: Candidate | None, index: IndexView | None,
                    lookup_terms: list[str], names: Sequence[str] = ()) -> Evidence:
    """What the rules and the abstention model look at; ``names`` are the question's names,
    whose acronyms or long forms are looked up in the corpus too."""
    chunk = best.result.chunk
    source_text = index.source_text(chunk.source) if index is not None else chunk.text
    near_text = " ".join([chunk.text, best.context, previous.text if previous else "", chunk.section or "",
                          source_text[:DOCUMENT_OPENING]])
    table = acronym_table(index)
    lookup = list(lookup_terms) + [t for n in names for form in name_forms(n, table) for t in form_terms(form)]
    lookup += [t for n in names for t in analyze(n)]
    return Evidence(
        document=document_terms(source_text or chunk.text),
        near=set(analyze(near_text)),
        document_frequency=index.document_frequency(list(dict.fromkeys(lookup))) if index is not None else {},
        n_documents=index.size if index is not None else 1,
        acronyms=table,
    )
