"""Rows of an uploaded spreadsheet (.xlsx or .csv), each with its line number in the sheet.

Only the first worksheet of a workbook is read. A CSV may be UTF-8 (with or without BOM) or
UTF-16 with BOM, separated by commas, semicolons or tabs (what Excel writes in Vietnamese locales).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence

import openpyxl

XLSX_MAGIC = b"PK\x03\x04"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
CSV_DELIMITERS = ",;\t"
SNIFF_CHARS = 4096


class UnreadableFile(ValueError):
    """The bytes are not a spreadsheet this reader understands; the message is Vietnamese."""


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "có" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(data: bytes) -> list[tuple[int, list[str]]]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UnreadableFile("Tệp Excel bị hỏng hoặc không đúng định dạng .xlsx.") from error
    try:
        sheet = workbook.worksheets[0]
        return [
            (line, [_cell_text(value) for value in values])
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _decode(data: bytes) -> str:
    try:
        if data.startswith(UTF16_BOMS):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile("Tệp CSV phải được lưu với mã hóa UTF-8 (CSV UTF-8 trong Excel).") from error


def _csv_rows(data: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:SNIFF_CHARS], CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for record in reader:
            rows.append((line, record))
            line = reader.line_num + 1  # a quoted cell may span lines: the next record starts after
    except csv.Error as error:
        raise UnreadableFile(f"Tệp CSV lỗi ở dòng {reader.line_num}: {error}.") from error
    return rows


def spreadsheet_rows(data: bytes, *, filename: str) -> Sequence[tuple[int, list[str]]]:
    """Numbered rows of an .xlsx or .csv file (told apart by content, then by name)."""
    if data.startswith(XLSX_MAGIC):
        return _xlsx_rows(data)
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise UnreadableFile("Tệp Excel bị hỏng hoặc không đúng định dạng .xlsx.")
    return _csv_rows(data)


__all__ = ["UnreadableFile", "spreadsheet_rows"]
