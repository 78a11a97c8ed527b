"""Cut an outlined document into chunks along its own structure (no I/O).

Rules, in order of preference:
- a section that fits in `max_chars` is one chunk (a short Điều stays whole with its khoản); in
  legal texts every Điều is its own chunk, never merged with another article;
- a long Điều (or khoản) is cut between its khoản (or điểm), consecutive small ones grouped, the
  article's heading and lead-in travelling with the first group ("Điều 5, Khoản 1–3");
- a long paragraph is cut at sentence boundaries, then at clause punctuation, then between words;
- a small table stays whole; a large one is cut between rows, its header row repeated.

A chunk's `text` is the document's own normalised text; where it sits goes in `path`
("Chương II, Điều 5, Khoản 2"; "Hướng dẫn > Cài đặt" for headings; "Đoạn 3–5" for plain text) and
the titles around it in `extra["headings"]`.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.ingest.domain.model import FaqEntry
from services.ingest.domain.outline import (
    LEGAL_LABEL,
    LEGAL_RANK,
    Outline,
    OutlineMode,
    Section,
    SectionKind,
)
from trolyao.documents import Chunk, ChunkKind

RANGE_DASH = "–"
# A piece shorter than max_chars / LEAD_FRACTION before a text that must be cut is its lead-in
# (a heading, "Các hành vi sau đây bị nghiêm cấm:") and goes with that text's first chunk.
LEAD_FRACTION = 5
LEGAL_PATH_SEPARATOR = ", "
HEADING_PATH_SEPARATOR = " > "
HEADINGS_CONTEXT_SEPARATOR = " / "
PLAIN_BLOCK_LABEL = "Đoạn"
EXTRA_HEADINGS = "headings"
EXTRA_PAGE = "page"
EXTRA_PART = "part"
_CONTEXT_KINDS = frozenset(
    {
        SectionKind.PART,
        SectionKind.APPENDIX,
        SectionKind.CHAPTER,
        SectionKind.SECTION,
        SectionKind.ARTICLE,
        SectionKind.HEADING,
    }
)
_GROUPABLE_CHILDREN = frozenset({SectionKind.CLAUSE, SectionKind.POINT})
_SENTENCE_END = re.compile(r"[.!?…][\"”’)\]]*\s+")
_SENTENCE_STARTERS = "\"“‘(['-–•"
_CLAUSE_PUNCTUATION = re.compile(r"[;:]\s+")
_COMMA = re.compile(r",\s+")
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NEWLINE = re.compile(r"\n")


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    path: str
    first_line: int
    last_line: int
    headings: str


@dataclass(frozen=True, slots=True)
class _Block:
    """Consecutive non-blank lines [start, end): a paragraph, or a table when `is_table`."""

    start: int
    end: int
    is_table: bool


def _sentence_cuts(text: str) -> list[int]:
    cuts = []
    for match in _SENTENCE_END.finditer(text):
        following = text[match.end() : match.end() + 1]
        if following and (following.isupper() or following.isdigit() or following in _SENTENCE_STARTERS):
            cuts.append(match.end())
    return cuts


def _pattern_cuts(pattern: re.Pattern[str]) -> Callable[[str], list[int]]:
    return lambda text: [match.end() for match in pattern.finditer(text)]


# From the most to the least natural place to cut a text that is too long.
_CUTTERS: tuple[Callable[[str], list[int]], ...] = (
    _pattern_cuts(_BLANK_LINE),
    _pattern_cuts(_NEWLINE),
    _sentence_cuts,
    _pattern_cuts(_CLAUSE_PUNCTUATION),
    _pattern_cuts(_COMMA),
    _pattern_cuts(_WHITESPACE),
)


def split_text(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Spans (start, end) of `text`, each at most `max_chars` once stripped, cut as naturally as possible."""
    return [
        span for span in _split_spans(text, 0, len(text), max_chars, 0) if text[span[0] : span[1]].strip()
    ]


def _stripped_len(text: str, start: int, end: int) -> int:
    return len(text[start:end].strip())


def _split_spans(text: str, start: int, end: int, max_chars: int, level: int) -> list[tuple[int, int]]:
    if _stripped_len(text, start, end) <= max_chars:
        return [(start, end)]
    if level == len(_CUTTERS):
        return [(position, min(position + max_chars, end)) for position in range(start, end, max_chars)]
    segment = text[start:end]
    cuts = [start + cut for cut in _CUTTERS[level](segment) if 0 < cut < len(segment)]
    bounds = [start, *cuts, end]
    spans: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for left, right in itertools.pairwise(bounds):
        if _stripped_len(text, left, right) > max_chars:
            start = left
            if current is not None and _stripped_len(text, *current) < max_chars // LEAD_FRACTION:
                start = current[0]  # a short lead-in (a heading line) stays with what it introduces
            elif current is not None:
                spans.append(current)
            current = None
            spans.extend(_split_spans(text, start, right, max_chars, level + 1))
        elif current is None:
            current = (left, right)
        elif _stripped_len(text, current[0], right) <= max_chars:
            current = (current[0], right)
        else:
            spans.append(current)
            current = (left, right)
    if current is not None:
        spans.append(current)
    return spans


class _OutlineChunker:
    def __init__(self, outline: Outline, max_chars: int, page_starts: Sequence[int]) -> None:
        self._outline = outline
        self._lines = outline.lines
        self._max = max_chars
        self._page_starts = list(page_starts)
        self.pieces: list[_Piece] = []

    def run(self) -> None:
        root = self._outline.root
        if self._outline.mode is OutlineMode.PLAIN:
            self._emit_blocks(root.start, root.end, root, numbered=True)
        else:
            self._emit_section(root)

    # --- paths -----------------------------------------------------------------------------------

    def _path(self, section: Section) -> str:
        chain = section.ancestors_and_self()
        if self._outline.mode is OutlineMode.HEADINGS:
            return HEADING_PATH_SEPARATOR.join(node.label for node in chain)
        return LEGAL_PATH_SEPARATOR.join(node.label for node in chain)

    def _headings(self, section: Section) -> str:
        if self._outline.mode is not OutlineMode.LEGAL:
            return ""
        titles = [node.title for node in section.ancestors_and_self() if node.kind in _CONTEXT_KINDS]
        return HEADINGS_CONTEXT_SEPARATOR.join(title for title in titles if title)

    # --- sections --------------------------------------------------------------------------------

    def _fits(self, start: int, end: int) -> bool:
        return len(self._outline.text(start, end)) <= self._max

    def _is_atomic(self, section: Section) -> bool:
        """Whether the whole section may be one chunk.

        Above Điều level legal sections never are (each article is cited on its own); nor is the
        root of a document with headings, so that its chunks carry their heading's path.
        """
        if self._outline.mode is OutlineMode.LEGAL:
            return section.rank >= LEGAL_RANK[SectionKind.ARTICLE] and section.kind is not SectionKind.CLOSING
        return section.kind is not SectionKind.DOCUMENT

    def _emit_section(self, section: Section, lead_start: int | None = None) -> None:
        """Chunks of one section; `lead_start` starts the lead-in of its parent, to travel with it."""
        start = section.start if lead_start is None else lead_start
        if self._is_atomic(section) and self._fits(start, section.end):
            self._add(start, section.end, self._path(section), section)
            return
        if section.children and section.children[0].kind in _GROUPABLE_CHILDREN:
            self._emit_grouped(section, lead_start)
            return
        if not section.children:
            self._emit_blocks(start, section.end, section, numbered=False)
            return
        self._emit_lead(lead_start, section)
        if self._is_atomic(section) and self._fits(section.start, section.end):
            self._add(section.start, section.end, self._path(section), section)
            return
        if self._outline.text(section.heading_end, section.own_end):
            self._emit_blocks(section.start, section.own_end, section, numbered=False)
        for child in section.children:
            self._emit_section(child)

    def _emit_lead(self, lead_start: int | None, section: Section) -> None:
        """A parent's lead-in that could not travel with this section: a chunk of its own."""
        if lead_start is not None and section.parent is not None:
            self._add(lead_start, section.start, self._path(section.parent), section.parent)

    def _emit_grouped(self, section: Section, lead_start: int | None) -> None:
        """Khoản (or điểm) of one article (or khoản), consecutive small ones in one chunk."""
        group: list[Section] = []
        group_start: int | None = None
        own_end = section.own_end
        if lead_start is not None and self._fits(lead_start, own_end):
            group_start = lead_start
        else:
            self._emit_lead(lead_start, section)
            if self._fits(section.start, own_end):
                group_start = section.start
            else:
                self._emit_blocks(section.start, own_end, section, numbered=False)
        if group_start is not None and not self._outline.text(group_start, own_end):
            group_start = None

        def flush() -> None:
            nonlocal group_start
            if group_start is None and not group:
                return
            start = group_start if group_start is not None else group[0].start
            end = group[-1].end if group else own_end
            if group_start is None and len(group) == 1:
                path = self._path(group[0])
            else:
                path = self._join(self._path(section), self._range_label(group))
            self._add(start, end, path, section)
            group.clear()
            group_start = None

        for child in section.children:
            if not self._fits(child.start, child.end):
                if group:
                    flush()
                self._emit_section(child, lead_start=group_start)
                group_start = None
                continue
            start = group_start if group_start is not None else (group[0].start if group else child.start)
            if not self._fits(start, child.end):
                flush()
            group.append(child)
        flush()

    def _join(self, path: str, label: str) -> str:
        return LEGAL_PATH_SEPARATOR.join(part for part in (path, label) if part)

    @staticmethod
    def _range_label(group: Sequence[Section]) -> str:
        if not group:
            return ""
        word = LEGAL_LABEL[group[0].kind]
        if len(group) == 1:
            return f"{word} {group[0].number}"
        return f"{word} {group[0].number}{RANGE_DASH}{group[-1].number}"

    # --- blocks (paragraphs and tables) ----------------------------------------------------------

    def _blocks(self, start: int, end: int) -> list[_Block]:
        blocks: list[_Block] = []
        index = start
        while index < end:
            if not self._lines[index].strip():
                index += 1
                continue
            is_table = self._lines[index].lstrip().startswith("|")
            block_end = index
            while (
                block_end < end
                and self._lines[block_end].strip()
                and self._lines[block_end].lstrip().startswith("|") == is_table
            ):
                block_end += 1
            blocks.append(_Block(index, block_end, is_table))
            index = block_end
        return blocks

    def _emit_blocks(self, start: int, end: int, section: Section, *, numbered: bool) -> None:
        """Pack the paragraphs and tables of lines [start, end) greedily into chunks."""
        base_path = "" if numbered else self._path(section)
        blocks = self._blocks(start, end)
        group: list[int] = []

        def label(first: int, last: int) -> str:
            if not numbered:
                return base_path
            if first == last:
                return f"{PLAIN_BLOCK_LABEL} {first + 1}"
            return f"{PLAIN_BLOCK_LABEL} {first + 1}{RANGE_DASH}{last + 1}"

        def flush() -> None:
            if group:
                first, last = blocks[group[0]], blocks[group[-1]]
                self._add(first.start, last.end, label(group[0], group[-1]), section)
                group.clear()

        for position, block in enumerate(blocks):
            if not self._fits(block.start, block.end):
                lead_start: int | None = None
                if group and self._is_lead(blocks[group[0]].start, block.start):
                    lead_start = blocks[group[0]].start
                    first = group[0]
                    group.clear()
                else:
                    flush()
                    first = position
                self._split_block(block, label(first, position), section, lead_start)
                continue
            if group and not self._fits(blocks[group[0]].start, block.end):
                flush()
            group.append(position)
        flush()

    def _is_lead(self, start: int, end: int) -> bool:
        return len(self._outline.text(start, end)) < self._max // LEAD_FRACTION

    def _split_block(self, block: _Block, path: str, section: Section, lead_start: int | None = None) -> None:
        """Cut a block too long for one chunk; `lead_start` starts a short lead-in to keep with it."""
        if block.is_table:
            self._split_table(block, path, section, lead_start)
            return
        start = block.start if lead_start is None else lead_start
        text = "\n".join(self._lines[start : block.end])
        line, position = start, 0
        for span_start, span_end in split_text(text, self._max):
            line += text.count("\n", position, span_start)  # spans run forward: count incrementally
            first_line = line
            last_line = line + text.count("\n", span_start, span_end)
            position = span_start
            self._add_text(text[span_start:span_end].strip(), path, first_line, last_line, section)

    def _split_table(self, block: _Block, path: str, section: Section, lead_start: int | None) -> None:
        """Cut a large table between rows, repeating its header row; a lead-in opens the first piece."""
        rows = list(range(block.start, block.end))
        header_rows = rows[:2] if len(rows) > 1 and set(self._lines[rows[1]]) <= set("|-: ") else rows[:1]
        header = "\n".join(self._lines[row] for row in header_rows)
        lead = self._outline.text(lead_start, block.start) if lead_start is not None else ""
        first_line = block.start if lead_start is None else lead_start
        current: list[int] = []
        for row in rows[len(header_rows) :]:
            if current and len(self._table_text(lead, header, [*current, row])) > self._max:
                self._add_split(
                    self._table_text(lead, header, current), path, first_line, current[-1], section
                )
                lead, current, first_line = "", [], row
            current.append(row)
        if current:
            self._add_split(self._table_text(lead, header, current), path, first_line, current[-1], section)

    def _table_text(self, lead: str, header: str, rows: list[int]) -> str:
        table = "\n".join([header, *(self._lines[row] for row in rows)])
        return f"{lead}\n\n{table}" if lead else table

    def _add_split(self, text: str, path: str, first_line: int, last_line: int, section: Section) -> None:
        """Add text as one chunk, or cut like prose when even one table row is too long."""
        for start, end in split_text(text, self._max):
            self._add_text(text[start:end].strip(), path, first_line, last_line, section)

    # --- output ----------------------------------------------------------------------------------

    def _add(self, start: int, end: int, path: str, section: Section) -> None:
        text = self._outline.text(start, end)
        if text:
            self._add_text(text, path, start, max(start, end - 1), section)

    def _add_text(self, text: str, path: str, first_line: int, last_line: int, section: Section) -> None:
        if text:
            self.pieces.append(_Piece(text, path, first_line, last_line, self._headings(section)))

    def page_label(self, piece: _Piece) -> str:
        if not self._page_starts:
            return ""
        first = bisect.bisect_right(self._page_starts, piece.first_line)
        last = bisect.bisect_right(self._page_starts, piece.last_line)
        return str(first) if first == last else f"{first}{RANGE_DASH}{last}"


def chunk_outline(
    outline: Outline, *, max_chars: int, page_starts: Sequence[int] = (), first_ordinal: int = 0
) -> list[Chunk]:
    """Chunks of an outlined document, in document order, numbered from `first_ordinal`.

    `page_starts` (the first line of each page, when the format has pages) adds
    `extra["page"]` ("3" or "3–4") to every chunk.
    """
    chunker = _OutlineChunker(outline, max_chars, page_starts)
    chunker.run()
    chunks = []
    for offset, piece in enumerate(chunker.pieces):
        extra: dict[str, str] = {}
        if piece.headings:
            extra[EXTRA_HEADINGS] = piece.headings
        if page := chunker.page_label(piece):
            extra[EXTRA_PAGE] = page
        chunks.append(Chunk(ordinal=first_ordinal + offset, text=piece.text, path=piece.path, extra=extra))
    return chunks


def chunk_faq(entries: Sequence[FaqEntry], *, max_answer_chars: int, first_ordinal: int = 0) -> list[Chunk]:
    """One FAQ chunk per entry: the question(s) in `question`, one a line; the answer in `text`.

    Curated answers stay whole up to `max_answer_chars`; a longer one is cut at sentence
    boundaries into several chunks with the same question, marked `extra["part"] = "2/3"`.
    """
    chunks: list[Chunk] = []
    for entry in entries:
        spans = split_text(entry.answer, max_answer_chars)
        for number, (start, end) in enumerate(spans, start=1):
            extra = dict(entry.extra)
            if len(spans) > 1:
                extra[EXTRA_PART] = f"{number}/{len(spans)}"
            chunks.append(
                Chunk(
                    ordinal=first_ordinal + len(chunks),
                    text=entry.answer[start:end].strip(),
                    path=entry.location,
                    kind=ChunkKind.FAQ,
                    question="\n".join(entry.questions),
                    extra=extra,
                )
            )
    return chunks


__all__ = ["chunk_faq", "chunk_outline", "split_text"]
