"""Vietnamese text normalisation shared by ingest (before indexing) and retrieval (queries).

`normalize_text` makes one canonical form for matching and display: Unicode NFC, one tone-mark
placement (hoà → hòa, thuý → thúy), Đ look-alikes (Ð, ð) made Đ/đ, no control characters or soft
hyphens, folded white space.
`fold_diacritics` removes every diacritic (and maps đ → d) so that `tat song` matches `tắt sóng`.
"""

from __future__ import annotations

import re
import unicodedata

_SOFT_HYPHEN_AND_INVISIBLES = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INLINE_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# Letters that look like Đ/đ and are typed or converted in their place (Icelandic eth, African D);
# left alone, "ÐIỀU 5" would neither match "Điều 5" nor fold to "dieu 5".
_LOOKALIKE_LETTERS = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111", "\u0189": "\u0110"})
# A syllable whose nucleus is oa/oe/uy with nothing after it: the tone belongs on the first vowel
# in the placement we keep (hòa, khỏe, thúy). "qu" is a consonant cluster (quý stays).
_OPEN_GLIDE_SYLLABLE = re.compile(
    r"(?<![\w])([^\W\d_]*?)([oOuU])([aAeEyY])([\u0300\u0301\u0303\u0309\u0323])(?![\w\u0300-\u036f])"
)


def _move_tone(match: re.Match[str]) -> str:
    onset, first, second, tone = match.groups()
    if first in "uU" and onset[-1:] in ("q", "Q"):
        return match.group(0)
    if first in "oO" and second in "yY":
        return match.group(0)
    if first in "uU" and second not in "yY":
        return match.group(0)
    return f"{onset}{first}{tone}{second}"


def normalize_tone_placement(text: str) -> str:
    """Put tone marks of open oa/oe/uy syllables on the first vowel: hoà → hòa, thuý → thúy."""
    decomposed = unicodedata.normalize("NFD", text)
    # In NFD, a vowel's shape marks (circumflex, breve, horn) come before the tone mark; oa/oe/uy
    # carry none, so the pattern can see the tone directly after the second vowel.
    moved = _OPEN_GLIDE_SYLLABLE.sub(_move_tone, decomposed)
    return unicodedata.normalize("NFC", moved)


def normalize_text(text: str) -> str:
    """Canonical form for indexing and display; keeps line breaks between paragraphs."""
    text = unicodedata.normalize("NFC", text).translate(_LOOKALIKE_LETTERS)
    text = _SOFT_HYPHEN_AND_INVISIBLES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    text = normalize_tone_placement(text)
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def fold_diacritics(text: str) -> str:
    """Lower-case, strip every diacritic and map đ → d: `Tắt sóng 2G` → `tat song 2g`."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def has_diacritics(text: str) -> bool:
    """True when the text carries any Vietnamese diacritic (or đ)."""
    return fold_diacritics(text) != text.lower()


__all__ = [
    "fold_diacritics",
    "has_diacritics",
    "normalize_text",
    "normalize_tone_placement",
]
