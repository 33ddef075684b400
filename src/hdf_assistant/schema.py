"""Plain dataclasses shared by every stage. No framework imports here.

The words, as the code and the messages use them:

- a *file* is one file of the corpus (``rapport.pdf``), named by its path in the corpus (``source``);
- a *document* (:class:`SourceDocument`) is the text read from a file, one per PDF page or image frame;
- a *passage* (:class:`Chunk`, llama-index's word, kept in the code's names) is a span of a document's text,
  the unit that is embedded, indexed, retrieved and cited;
- a *sentence* (``answer.candidates``) is a span of a passage an answer may quote.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args


# -- the choices a setting or a request can make, defined once -----------------------------------------
class Mode(StrEnum):
    """How an answer is made: sentences quoted from the passages (``extractive``), the best passage as it is
    (``quote``), or written by a language model and checked sentence by sentence (``llm``; an answer whose
    every generated sentence failed the check is the extractive one, ``llm-fallback-extractive``)."""

    EXTRACTIVE = "extractive"
    QUOTE = "quote"
    LLM = "llm"
    LLM_FALLBACK = "llm-fallback-extractive"


RetrieverName = Literal["dense", "bm25", "hybrid"]
EmbedBackend = Literal["onnx", "onnx-int8", "torch"]
StoreName = Literal["local", "postgres"]
#: the modes a person can ask for
MODES: tuple[str, ...] = (Mode.EXTRACTIVE.value, Mode.QUOTE.value, Mode.LLM.value)
RETRIEVERS: tuple[str, ...] = get_args(RetrieverName)
EMBED_BACKENDS: tuple[str, ...] = get_args(EmbedBackend)
STORES: tuple[str, ...] = get_args(StoreName)


#: the collection of the files at the corpus's root (a first-level folder is a collection of its own)
GENERAL_COLLECTION = "general"


def collection_of(source: str) -> str:
    """The collection of a file: its first-level folder in the corpus (``rh/bilan.pdf`` is in ``rh``), or
    :data:`GENERAL_COLLECTION` for a file at the root."""
    head, sep, _ = source.partition("/")
    return head if sep and head else GENERAL_COLLECTION


def place(source: str, page: int | None = None, section: str | None = None, page_label: str = "p.",
          ocr: bool = False) -> str:
    """Where a passage is, the one way citations say it: "rapport.pdf, p. 3, Chiffres clés"
    (the page and the section when known; "OCR" when the text was read from an image)."""
    parts = [source] + ([f"{page_label} {page}"] if page else []) + (["OCR"] if ocr else []) + \
        ([section] if section else [])
    return ", ".join(parts)


@dataclass(frozen=True)
class SourceDocument:
    """Text extracted from one corpus file, or from one page of a PDF."""

    source: str  # path relative to the corpus directory, with forward slashes
    text: str
    file_hash: str  # sha256 of the file's bytes
    page: int | None = None  # 1-based PDF page, None for other formats
    #: (offset in text, heading) of the section headings, in order
    headings: tuple[tuple[int, str], ...] = ()
    #: the text was read from an image by OCR
    ocr: bool = False


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, the unit that is embedded and retrieved."""

    id: str
    text: str
    source: str
    page: int | None
    start: int  # character span of ``text`` in the document's text
    end: int
    file_hash: str
    #: heading of the section the chunk starts in ("Chiffres clés"), if known
    section: str | None = None
    #: read from an image by OCR
    ocr: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def collection(self) -> str:
        """The collection of its file (see :func:`collection_of`): who may read it depends on it."""
        return collection_of(self.source)

    @property
    def where(self) -> str:
        """"rapport.pdf, p. 3, Chiffres clés" (see :func:`place`)."""
        return place(self.source, self.page, self.section, ocr=self.ocr)


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its similarity score (higher is better)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Citation:
    """A passage an answer relies on."""

    n: int
    source: str
    page: int | None
    text: str
    score: float
    start: int | None = None
    end: int | None = None
    section: str | None = None
    #: the passage was read from an image by OCR
    ocr: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "collection": self.collection}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Citation:
        return cls(**{k: v for k, v in data.items() if k != "collection"})

    @property
    def collection(self) -> str:
        """The collection of the cited file (see :func:`collection_of`)."""
        return collection_of(self.source)

    @property
    def where(self) -> str:
        """"rapport.pdf, p. 3, OCR, Chiffres clés" (see :func:`place`)."""
        return place(self.source, self.page, self.section, ocr=self.ocr)


@dataclass(frozen=True)
class Answer:
    """What the assistant says, with the passages that support it. Never changed once made: a later
    stage adds to an answer with ``dataclasses.replace``."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: how the answer was made: extractive, quote or llm
    mode: Mode = Mode.EXTRACTIVE
    #: llm mode: whether every sentence was checked against its passage
    verified: bool | None = None
    #: the question completed from the conversation, used for retrieval
    search_query: str | None = None
    #: why the assistant abstained (for evaluation and debugging): the rule's name and details
    abstain_reason: str | None = None
    #: the same in words a person understands, in the question's language ("Aucun des passages
    #: trouvés ne mentionne « FICOBA ».")
    why: str | None = None
    #: when it abstains, the closest passage: not an answer, but related, so a person can judge
    related: Citation | None = None
    #: llm mode: generated sentences removed by verification, with the reason
    rejected: list[str] = field(default_factory=list)
    #: things the user should know (a question cut because it was too long...)
    warnings: list[str] = field(default_factory=list)
    #: the exact span that answers a number, year, place, organisation or person question ("1791")
    short_answer: str | None = None
    #: the numbers the abstention decision weighed (similarity, coverage...)
    signals: dict[str, float] = field(default_factory=dict)
    #: every chunk retrieved for the question, best first (for evaluation)
    retrieved: list[ScoredChunk] = field(default_factory=list, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """An answer as ``to_dict`` wrote it (saved conversations); the retrieved passages are not kept."""
        return cls(
            question=data.get("question", ""),
            text=data.get("answer", ""),
            abstained=bool(data.get("abstained")),
            citations=[Citation.from_dict(c) for c in data.get("citations", [])],
            mode=Mode(data.get("mode", "extractive")),
            verified=data.get("verified"),
            search_query=data.get("search_query"),
            abstain_reason=data.get("abstain_reason"),
            why=data.get("why"),
            related=Citation.from_dict(data["related"]) if data.get("related") else None,
            short_answer=data.get("short_answer"),
            rejected=list(data.get("rejected", [])),
            warnings=list(data.get("warnings", [])),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "mode": str(self.mode),
            "verified": self.verified,
            "search_query": self.search_query,
            "abstain_reason": self.abstain_reason,
            "why": self.why,
            "related": self.related.to_dict() if self.related is not None else None,
            "short_answer": self.short_answer,
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
            "rejected": list(self.rejected),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Skipped:
    """A corpus file that could not be indexed, and why; with ``partial``, only
    part of it (a page: the reason starts with "p. 3:"), the rest being indexed."""

    file: str
    reason: str
    partial: bool = False


@dataclass
class IndexReport:
    """The outcome of an ``index`` run (the fields of ``index --json``)."""

    documents: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: files only renamed (same content): their passages were kept, not re-embedded
    renamed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: passages embedded by this run
    embedded_chunks: int = 0
    #: files whose opening sentences were embedded (their document vector)
    embedded_documents: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 2)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexReport:
        """A report as ``to_dict`` wrote it (a refresh job's, read back from the database)."""
        return cls(**{**data, "skipped": [Skipped(**s) for s in data.get("skipped", [])]})
