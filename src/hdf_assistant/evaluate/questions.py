"""Question files for evaluation: JSONL, CSV and SQuAD-format JSON.

A malformed line or row is reported with its line number and skipped; the
others are kept. A SQuAD file also yields a corpus: one document per article,
named by its title.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdf_assistant.errors import HdfError


class EvalFileError(HdfError):
    """The question file cannot be used at all."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question to evaluate and what a right answer looks like."""

    id: str
    question: str
    history: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    expected_source: str | None = None
    unanswerable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "history": list(self.history),
            "expected": list(self.expected),
            "expected_source": self.expected_source,
            "unanswerable": self.unanswerable,
        }


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass
class QuestionSet:
    """Questions read from a file, the lines that were skipped, and for a
    SQuAD file the articles to index (title -> text)."""

    questions: list[EvalQuestion]
    errors: list[LineError] = field(default_factory=list)
    articles: dict[str, str] | None = None
    kind: str = "questions"


def _as_list(value: Any, name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"'{name}' is not a valid JSON list ({exc.msg})") from exc
        else:
            return (text,)
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise ValueError(f"'{name}' must be a list of strings")
    return tuple(str(v) for v in value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in {"", "0", "false", "no", "non", "faux"}:
        return False
    if text in {"1", "true", "yes", "oui", "vrai"}:
        return True
    raise ValueError(f"'unanswerable' must be true or false, not {value!r}")


def _question(record: Any, default_id: str) -> EvalQuestion:
    if not isinstance(record, dict):
        raise ValueError("expected an object with a 'question' field")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("missing or empty 'question'")
    source = record.get("expected_source")
    return EvalQuestion(
        id=str(record.get("id") or default_id),
        question=question.strip(),
        history=_as_list(record.get("history"), "history"),
        expected=_as_list(record.get("expected"), "expected"),
        expected_source=str(source).strip() if source else None,
        unanswerable=_as_bool(record.get("unanswerable")),
    )


def _read_jsonl(path: Path) -> QuestionSet:
    result = QuestionSet([])
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                result.questions.append(_question(json.loads(line), f"q{number}"))
            except json.JSONDecodeError as exc:
                result.errors.append(LineError(number, f"invalid JSON ({exc.msg})"))
            except ValueError as exc:
                result.errors.append(LineError(number, str(exc)))
    return result


def _read_csv(path: Path) -> QuestionSet:
    result = QuestionSet([])
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "question" not in reader.fieldnames:
            raise EvalFileError(f"{path}: the CSV header must have a 'question' column")
        for row in reader:
            number = reader.line_num
            try:
                if None in row:
                    raise ValueError("more cells than header columns")
                result.questions.append(_question(row, f"q{number}"))
            except ValueError as exc:
                result.errors.append(LineError(number, str(exc)))
    return result


def is_squad(data: Any) -> bool:
    """SQuAD: {"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [...]}]}]}."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("data"), list)
        and all(isinstance(a, dict) and "paragraphs" in a for a in data["data"][:5])
    )


_UNSAFE = re.compile(r"[^\w.\-]+")


def article_file_name(title: str, index: int) -> str:
    """A safe file name for an article title (stable, unique per position)."""
    stem = _UNSAFE.sub("_", title).strip("._") or f"article_{index}"
    return f"{stem[:100]}.txt"


def _read_squad(data: dict[str, Any]) -> QuestionSet:
    result = QuestionSet([], articles={}, kind="squad")
    assert result.articles is not None
    for index, article in enumerate(data["data"]):
        title = str(article.get("title") or f"article_{index}")
        name = article_file_name(title, index)
        if name in result.articles:
            name = article_file_name(f"{title}_{index}", index)
        contexts = [p.get("context", "") for p in article.get("paragraphs", [])]
        result.articles[name] = "\n\n".join(c.strip() for c in contexts if c.strip())
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                question = str(qa.get("question", "")).strip()
                if not question:
                    result.errors.append(LineError(0, f"article {title}: a question is empty"))
                    continue
                answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a.get("text")))
                result.questions.append(
                    EvalQuestion(
                        id=str(qa.get("id") or f"{title}-{len(result.questions) + 1}"),
                        question=question,
                        expected=answers,
                        expected_source=name,
                        unanswerable=bool(qa.get("is_impossible", False)),
                    )
                )
    return result


def load_question_set(path: Path) -> QuestionSet:
    """Read a ``.jsonl``, ``.csv`` or SQuAD ``.json`` question file."""
    if not path.is_file():
        raise EvalFileError(f"question file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from exc
        if is_squad(data):
            return _read_squad(data)
        if isinstance(data, list):
            result = QuestionSet([])
            for number, record in enumerate(data, start=1):
                try:
                    result.questions.append(_question(record, f"q{number}"))
                except ValueError as exc:
                    result.errors.append(LineError(number, str(exc)))
            return result
        raise EvalFileError(f"{path}: neither SQuAD nor a list of questions")
    return _read_jsonl(path)


