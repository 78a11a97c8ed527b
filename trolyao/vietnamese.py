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


# Cheap pre-check on the undecomposed text, a superset of what `_OPEN_GLIDE_SYLLABLE` can match
# after NFD: o/u followed by a/e/y that carries exactly one tone mark, precomposed or combining
# (U+0340/U+0341 are the tone-mark singletons that decompose to U+0300/U+0301), ending the word
# ("khoản" has nothing to move; a letter decomposes to a letter first, so NFD keeps it closed).
_TONE_ON_SECOND_VOWEL = re.compile(
    r"[oOuU](?:[aAeEyY][\u0300\u0301\u0303\u0309\u0323\u0340\u0341]"
    r"|[áàãảạÁÀÃẢẠéèẽẻẹÉÈẼẺẸýỳỹỷỵÝỲỸỶỴ])(?!\w)"
)


# A character `normalize_text` would change or drop, bar the NFC composition and tone placement
# (checked on their own): look-alike letters, invisibles, carriage returns, controls, and every
# white space but the plain space and the line break (U+1680, U+2028 and U+2029 are the ones the
# inline-space and control classes leave out).
_NOT_CANONICAL_CHARACTER = re.compile(
    r"[\u00d0\u00f0\u0189\u00ad\u200b\u200c\u200d\u2060\ufeff\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    r"\t\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
# Space runs, space at either end of a line, runs of blank lines: what the line pass changes.
_NOT_CANONICAL_SPACING = ("  ", " \n", "\n ", "\n\n\n")


def _is_canonical(text: str) -> bool:
    """True when `normalize_text` would return `text` unchanged (checked without changing it)."""
    return (
        unicodedata.is_normalized("NFC", text)
        and not text[:1].isspace()
        and not text[-1:].isspace()
        and not any(spacing in text for spacing in _NOT_CANONICAL_SPACING)
        and not _NOT_CANONICAL_CHARACTER.search(text)
        and not _TONE_ON_SECOND_VOWEL.search(text)
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
    if not _TONE_ON_SECOND_VOWEL.search(text):
        # Nothing to move: NFC(NFD(text)) is NFC(text), without the round trip and the pattern.
        return unicodedata.normalize("NFC", text)
    decomposed = unicodedata.normalize("NFD", text)
    # In NFD, a vowel's shape marks (circumflex, breve, horn) come before the tone mark; oa/oe/uy
    # carry none, so the pattern can see the tone directly after the second vowel.
    moved = _OPEN_GLIDE_SYLLABLE.sub(_move_tone, decomposed)
    return unicodedata.normalize("NFC", moved)


def normalize_text(text: str) -> str:
    """Canonical form for indexing and display; keeps line breaks between paragraphs."""
    if _is_canonical(text):
        return text  # stored chunks normally are: the steps below would not change it
    text = unicodedata.normalize("NFC", text).translate(_LOOKALIKE_LETTERS)
    text = _SOFT_HYPHEN_AND_INVISIBLES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    text = normalize_tone_placement(text)
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def fold_diacritics(text: str) -> str:
    """Lower-case, strip every diacritic and map đ → d: `Tắt sóng 2G` → `tat song 2g`."""
    if text.isascii():  # no diacritic, no đ: the common case for folded terms and numbers
        return text.lower()
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
