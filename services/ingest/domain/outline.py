"""A document's own structure, read from its normalised text (no I/O).

Vietnamese legal texts are cut into Phần / Phụ lục / Chương / Mục / Điều / Khoản / Điểm; other
documents into their Markdown-style headings (`#` lines, which the HTML and Word parsers produce
too); a document with neither is a sequence of paragraphs. Every section remembers the line range
it covers, so a chunk's text is always a slice of the document's own (normalised) lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

HEADING_TITLE_MAX_CHARS = 200
TITLE_LINES_AFTER_HEADING = 2
# Vietnamese lettering of điểm: a) b) c) d) đ) e) g) h) i) k) l) m) n) o) p) q) r) s) t) u) v) x) y)
POINT_LETTERS = "abcdđeghiklmnopqrstuvxy"


class OutlineMode(StrEnum):
    LEGAL = "legal"
    HEADINGS = "headings"
    PLAIN = "plain"


class SectionKind(StrEnum):
    DOCUMENT = "document"
    PART = "part"
    APPENDIX = "appendix"
    CLOSING = "closing"
    CHAPTER = "chapter"
    SECTION = "section"
    ARTICLE = "article"
    CLAUSE = "clause"
    POINT = "point"
    HEADING = "heading"


# Rank in the legal hierarchy: a new heading closes every open section of the same or a deeper rank.
LEGAL_RANK: dict[SectionKind, int] = {
    SectionKind.DOCUMENT: 0,
    SectionKind.PART: 1,
    SectionKind.APPENDIX: 1,
    SectionKind.CLOSING: 1,
    SectionKind.CHAPTER: 2,
    SectionKind.SECTION: 3,
    SectionKind.ARTICLE: 4,
    SectionKind.CLAUSE: 5,
    SectionKind.POINT: 6,
}
# What a citation path calls each legal section ("Khoản 2"); ranges use the same word ("Khoản 1–3").
LEGAL_LABEL: dict[SectionKind, str] = {
    SectionKind.PART: "Phần",
    SectionKind.APPENDIX: "Phụ lục",
    SectionKind.CLOSING: "Nơi nhận",
    SectionKind.CHAPTER: "Chương",
    SectionKind.SECTION: "Mục",
    SectionKind.ARTICLE: "Điều",
    SectionKind.CLAUSE: "Khoản",
    SectionKind.POINT: "Điểm",
}


@dataclass(slots=True, eq=False)
class Section:
    """One node of the outline: lines [start, end) of the document, its heading in [start, heading_end).

    `label` is its citation segment ("Điều 5", "Khoản 2", or a heading's title); `title` the heading
    as written ("Điều 5. Quyền của chủ thể dữ liệu").
    """

    kind: SectionKind
    rank: int
    label: str
    number: str
    title: str
    start: int
    heading_end: int
    end: int = 0
    children: list[Section] = field(default_factory=list)
    parent: Section | None = field(default=None, repr=False)

    @property
    def own_end(self) -> int:
        """End of the section's own text: where its first subsection starts."""
        return self.children[0].start if self.children else self.end

    def ancestors_and_self(self) -> list[Section]:
        """From the outermost enclosing section down to this one (the document root excluded)."""
        chain: list[Section] = []
        node: Section | None = self
        while node is not None:
            if node.kind is not SectionKind.DOCUMENT:
                chain.append(node)
            node = node.parent
        return chain[::-1]


@dataclass(frozen=True, slots=True)
class Outline:
    """The document's lines as shown (Markdown heading marks removed) and its section tree."""

    lines: tuple[str, ...]
    root: Section
    mode: OutlineMode

    def text(self, start: int, end: int) -> str:
        """The document's text on lines [start, end), without surrounding blank lines."""
        return "\n".join(self.lines[start:end]).strip()


_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_CODE_FENCE = re.compile(r"^(```|~~~)")
_EMPHASIS_EDGES = re.compile(r"^[*_]+|[*_]+$")
_HEADING_REST = r"\s*(?P<separator>[.:\-–]?)\s*(?P<rest>.*)$"
_ROMAN = r"(?-i:[IVXLC]+)"
_PART = re.compile(
    rf"^phần\s+(?P<number>thứ\s+[^\W\d_]+(?:\s+[^\W\d_]+)?|{_ROMAN}|\d+)\b{_HEADING_REST}", re.IGNORECASE
)
_APPENDIX = re.compile(
    rf"^phụ\s+lục(?:\s+(?:số\s+)?(?P<number>{_ROMAN}|\d+[a-z]?))?\b{_HEADING_REST}", re.IGNORECASE
)
_CHAPTER = re.compile(rf"^chương\s+(?P<number>{_ROMAN}|\d+)\b{_HEADING_REST}", re.IGNORECASE)
_SECTION = re.compile(rf"^mục\s+(?P<number>{_ROMAN}|\d+)\b{_HEADING_REST}", re.IGNORECASE)
_ARTICLE = re.compile(r"^điều\s+(\d+)([a-zđ]?)\s*(?:[.:]\s*(.*)|$)", re.IGNORECASE)
_CLAUSE = re.compile(r"^(\d{1,3})\.\s+\S")
_POINT = re.compile(r"^([a-zđ])[).]\s+\S")
_CLOSING = re.compile(r"^nơi\s+nhận\s*:", re.IGNORECASE)
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
_DIVISIONS = (
    (SectionKind.CHAPTER, _CHAPTER),
    (SectionKind.SECTION, _SECTION),
    (SectionKind.PART, _PART),
    (SectionKind.APPENDIX, _APPENDIX),
)
_ARTICLE_IN_TITLE = re.compile(r"\bĐiều\s+(\d+[a-zđ]?)\b", re.IGNORECASE)


def _bare(line: str) -> str:
    """The line without Markdown heading marks or emphasis at its edges, for matching."""
    heading = _MARKDOWN_HEADING.match(line)
    text = heading.group(2) if heading else line
    return _EMPHASIS_EDGES.sub("", text.strip()).strip()


def _display(line: str) -> str:
    heading = _MARKDOWN_HEADING.match(line)
    return _EMPHASIS_EDGES.sub("", heading.group(2)).strip() if heading else line


def _number_value(token: str) -> int:
    """1 for "1" or "I"; 0 when the token is neither a number nor a Roman numeral."""
    if token.isdigit():
        return int(token)
    total = 0
    previous = 0
    for char in reversed(token.upper()):
        value = _ROMAN_VALUES.get(char, 0)
        if value == 0:
            return 0
        total = total - value if value < previous else total + value
        previous = max(previous, value)
    return total


def _is_upper_text(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and all(char.isupper() for char in letters)


def _rest_is_title(rest: str, separated: bool) -> bool:
    """Whether the text after "Chương II" on the same line is a title, not running prose."""
    rest = _EMPHASIS_EDGES.sub("", rest).strip()
    return not rest or _is_upper_text(rest) or (separated and rest[0].isupper())


def article_hint_from_title(title: str) -> str:
    """ "Điều 5" when a caller's title names one article ("91/2015/QH13 - Điều 5. ..."), else ""."""
    match = _ARTICLE_IN_TITLE.search(title)
    return f"Điều {match.group(1)}" if match else ""


@dataclass(slots=True)
class _LegalCounters:
    chapter: int = 0
    section: int = 0
    article: tuple[int, str] = (0, "")
    clause: int = 0
    point: int = -1
    articles_seen: int = 0


@dataclass(frozen=True, slots=True)
class _Heading:
    kind: SectionKind
    number: str
    inline_title: str


class _LegalReader:
    """Builds the legal outline, line by line, checking that numbering runs in order."""

    def __init__(self, lines: list[str], root: Section) -> None:
        self._lines = lines
        self._stack: list[Section] = [root]
        self._counters = _LegalCounters()
        self.articles = 1 if root.kind is SectionKind.ARTICLE else 0

    def read(self) -> None:
        index = 0
        while index < len(self._lines):
            heading = self._classify(_bare(self._lines[index]))
            if heading is None:
                index += 1
                continue
            index = self._open(heading, index)
        for section in self._stack:
            section.end = len(self._lines)

    def _inside_article(self) -> bool:
        return any(section.kind is SectionKind.ARTICLE for section in self._stack)

    def _classify(self, line: str) -> _Heading | None:
        if not line:
            return None
        counters = self._counters
        if match := _ARTICLE.match(line):
            key = (int(match.group(1)), match.group(2).lower())
            if key <= counters.article:
                return None
            return _Heading(
                SectionKind.ARTICLE, match.group(1) + match.group(2).lower(), match.group(3) or ""
            )
        if self._inside_article():
            if (match := _CLAUSE.match(line)) and int(match.group(1)) == counters.clause + 1:
                return _Heading(SectionKind.CLAUSE, match.group(1), "")
            if (match := _POINT.match(line)) and match.group(1) == self._next_point_letter():
                return _Heading(SectionKind.POINT, match.group(1), "")
        if counters.articles_seen and _CLOSING.match(line):
            return _Heading(SectionKind.CLOSING, "", "")
        return self._classify_division(line)

    def _classify_division(self, line: str) -> _Heading | None:
        """Phần / Phụ lục / Chương / Mục headings, whose title may follow on the same line."""
        counters = self._counters
        for kind, pattern in _DIVISIONS:
            match = pattern.match(line)
            if match is None or not _rest_is_title(match.group("rest"), bool(match.group("separator"))):
                continue
            number = match.group("number") or ""
            if kind is SectionKind.APPENDIX and not number and not _is_upper_text(line):
                continue
            if kind is SectionKind.CHAPTER and _number_value(number) <= counters.chapter:
                continue
            if kind is SectionKind.SECTION and _number_value(number) <= counters.section:
                continue
            shown = number.upper() if _number_value(number) else number.lower()
            return _Heading(kind, shown, match.group("rest"))
        return None

    def _next_point_letter(self) -> str:
        following = self._counters.point + 1
        return POINT_LETTERS[following] if following < len(POINT_LETTERS) else ""

    def _open(self, heading: _Heading, index: int) -> int:
        kind = heading.kind
        rank = LEGAL_RANK[kind]
        while self._stack[-1].rank >= rank and len(self._stack) > 1:
            self._stack.pop().end = index
        parent = self._stack[-1]
        is_item = kind in (SectionKind.CLAUSE, SectionKind.POINT)
        section = Section(
            kind=kind,
            rank=rank,
            label=f"{LEGAL_LABEL[kind]} {heading.number}".strip(),
            number=heading.number,
            title="" if is_item else _bare(self._lines[index]),
            start=index,
            heading_end=index + 1,
            parent=parent,
        )
        parent.children.append(section)
        self._stack.append(section)
        self._count(kind, heading.number)
        has_inline_title = bool(_EMPHASIS_EDGES.sub("", heading.inline_title).strip())
        if not has_inline_title and not is_item and kind is not SectionKind.CLOSING:
            section.heading_end, titles = self._title_lines(index + 1, kind)
            section.title = " ".join([section.title, *titles])
        return section.heading_end

    def _count(self, kind: SectionKind, number: str) -> None:
        counters = self._counters
        if kind is SectionKind.ARTICLE:
            digits = number.rstrip(POINT_LETTERS)
            counters.article = (int(digits), number[len(digits) :].lower())
            counters.clause = 0
            counters.point = -1
            counters.articles_seen += 1
            self.articles += 1
        elif kind is SectionKind.CLAUSE:
            counters.clause = int(number)
            counters.point = -1
        elif kind is SectionKind.POINT:
            counters.point = POINT_LETTERS.index(number)
        elif kind is SectionKind.CHAPTER:
            counters.chapter = _number_value(number)
            counters.section = 0
        elif kind is SectionKind.SECTION:
            counters.section = _number_value(number)

    def _title_lines(self, index: int, kind: SectionKind) -> tuple[int, list[str]]:
        """Lines just after a bare heading ("Chương I") that carry its title."""
        wanted = 1 if kind is SectionKind.ARTICLE else TITLE_LINES_AFTER_HEADING
        titles: list[str] = []
        position = index
        while position < len(self._lines) and len(titles) < wanted:
            line = _bare(self._lines[position])
            if not line:
                position += 1
                continue
            if self._classify(line) is not None or len(line) > HEADING_TITLE_MAX_CHARS:
                break
            if titles and not _is_upper_text(line):
                break
            if not _is_upper_text(line) and line[-1] in ".;:":
                break
            titles.append(line)
            position += 1
        return (position, titles) if titles else (index, [])


def _read_headings(lines: list[str], root: Section) -> int:
    """Markdown-style `#` headings (outside code fences); returns how many were found."""
    stack = [root]
    found = 0
    in_code = False
    for index, line in enumerate(lines):
        if _CODE_FENCE.match(line):
            in_code = not in_code
            continue
        match = None if in_code else _MARKDOWN_HEADING.match(line)
        if match is None or not match.group(2).strip():
            continue
        rank = len(match.group(1))
        while stack[-1].rank >= rank and len(stack) > 1:
            stack.pop().end = index
        title = _display(line)
        section = Section(
            kind=SectionKind.HEADING,
            rank=rank,
            label=title,
            number="",
            title=title,
            start=index,
            heading_end=index + 1,
            parent=stack[-1],
        )
        stack[-1].children.append(section)
        stack.append(section)
        found += 1
    for section in stack:
        section.end = len(lines)
    return found


def _new_root(article_hint: str, line_count: int) -> Section:
    if article_hint:
        number = article_hint.split()[-1]
        return Section(
            kind=SectionKind.ARTICLE,
            rank=LEGAL_RANK[SectionKind.ARTICLE],
            label=article_hint,
            number=number,
            title="",
            start=0,
            heading_end=0,
            end=line_count,
        )
    return Section(
        kind=SectionKind.DOCUMENT,
        rank=0,
        label="",
        number="",
        title="",
        start=0,
        heading_end=0,
        end=line_count,
    )


def parse_outline(text: str, *, article_hint: str = "") -> Outline:
    """Read the structure of normalised text.

    Legal when at least one article heading ("Điều 5. ...") is found; then numbering must run in
    order (khoản 1, 2, 3...; điểm a, b, c...), which keeps cross-references such as "theo
    Điều 5 của Luật này" at the start of a wrapped line from being read as headings.
    `article_hint` ("Điều 5", see `article_hint_from_title`) says the whole text is the body of that
    article, as in a corpus of one article per document.
    """
    raw_lines = text.split("\n")
    lines = [_display(line) for line in raw_lines]
    legal_root = _new_root("", len(raw_lines))
    reader = _LegalReader(raw_lines, legal_root)
    reader.read()
    if reader.articles:
        return Outline(tuple(lines), legal_root, OutlineMode.LEGAL)
    if article_hint:
        article_root = _new_root(article_hint, len(raw_lines))
        _LegalReader(raw_lines, article_root).read()
        return Outline(tuple(lines), article_root, OutlineMode.LEGAL)
    heading_root = _new_root("", len(raw_lines))
    if _read_headings(raw_lines, heading_root):
        return Outline(tuple(lines), heading_root, OutlineMode.HEADINGS)
    return Outline(tuple(lines), _new_root("", len(raw_lines)), OutlineMode.PLAIN)


__all__ = [
    "LEGAL_LABEL",
    "Outline",
    "OutlineMode",
    "Section",
    "SectionKind",
    "article_hint_from_title",
    "parse_outline",
]
