"""Text decoding and cleaning shared by the readers."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # form feeds separate blocks: kept
_SPACES = re.compile(r"[ \t\u00a0\u202f\u2007]+")


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def clean_text(text: str) -> str:
    """Normalise line ends, composed accents and ligatures; drop control characters.

    Non-breaking spaces are kept as characters of their own kind only where
    they matter for display; here they become plain spaces so that "6 000 €"
    typed by a user matches the document.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\ufb00", "ff")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def looks_binary(data: bytes, sample: int = 8192) -> bool:
    """True for bytes that are not text in any encoding we read: NUL bytes, or
    many control characters once decoded."""
    head = data[:sample]
    if not head:
        return False
    if b"\x00" in head:
        return True
    text = decode_text(head)
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    return controls > max(2, len(text) // 100)


MAX_QUESTION_CHARS = 2000


def clean_question(question: str, limit: int = MAX_QUESTION_CHARS) -> tuple[str, list[str]]:
    """A question safe to process: control characters removed, spaces
    collapsed, cut at ``limit`` characters. Returns it with warnings."""
    warnings = []
    text = unicodedata.normalize("NFC", question)
    text = "".join(" " if ch in "\t\n\r" else ch for ch in text if ch.isprintable() or ch in "\t\n\r")
    text = " ".join(text.split())
    if len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        text = text[: cut if cut > limit // 2 else limit]
        warnings.append(f"question longer than {limit} characters: cut to {len(text)}")
    return text, warnings
