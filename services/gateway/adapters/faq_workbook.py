"""An FAQ entry as a one-row Excel sheet, the FAQ form ingest's sheet parser reads.

Excel rather than CSV: ingest sniffs a CSV's delimiter, which a comma- or semicolon-rich answer can
mislead; a workbook has cells. Every cell is written as a string (an answer starting with "=" is
text, not a formula) and characters Excel cannot hold are replaced by spaces.
"""

from __future__ import annotations

import io

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from services.gateway.domain.faq import FaqEntry, faq_sheet_rows

FAQ_SHEET_TITLE = "Hỏi đáp"
FAQ_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STRING_CELL = "s"


def faq_workbook(entry: FaqEntry) -> bytes:
    """The .xlsx bytes of the entry's FAQ sheet."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(FAQ_SHEET_TITLE)
    for values in faq_sheet_rows(entry):
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub(" ", value))
            cell.data_type = STRING_CELL
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def faq_filename(entry: FaqEntry) -> str:
    """The file name the original is stored under."""
    return f"{entry.document_id}.xlsx"


__all__ = ["FAQ_MEDIA_TYPE", "faq_filename", "faq_workbook"]
