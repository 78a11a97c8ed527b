"""Ports of the ingest domain: what preparing a document needs from the outside world."""

from __future__ import annotations

from typing import Protocol

from services.ingest.domain.model import IngestLimits, ParsedDocument


class DocumentParser(Protocol):
    """Reads one file format into a `ParsedDocument`.

    Raises `IngestError` for anything wrong with the file (corrupt, encrypted, over a limit it can
    see first, such as the page count); it never lets a library's own exception escape.
    """

    @property
    def format_name(self) -> str:
        """Short human name of the format ("PDF", "Word (.docx)"), used in messages."""
        ...

    def parse(self, data: bytes, *, limits: IngestLimits) -> ParsedDocument:
        """Parse the file's bytes."""
        ...


class ParserLookup(Protocol):
    """Chooses the parser for a file; `adapters.parsers.ParserRegistry` is the implementation."""

    def parser_for(self, filename: str, media_type: str, data: bytes = b"") -> DocumentParser:
        """The parser for this file, or `IngestError("unsupported_format")` naming what is accepted.

        The file name's extension decides first, then the media type, then the content itself.
        """
        ...
