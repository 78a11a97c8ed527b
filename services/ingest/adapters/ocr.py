"""Reading scanned PDF pages: render each page to an image, then Tesseract OCR in Vietnamese.

Pages are rendered by `pdftoppm` (Debian `poppler-utils`) when it is installed; otherwise the
page's largest embedded image is used (pypdf), which is what a scanner puts on a page. OCR is
Tesseract through pytesseract with the `vie` language data (Debian `tesseract-ocr-vie`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Protocol

import pytesseract
from PIL import Image
from pypdf import PdfReader

from services.ingest.domain.model import IngestError, IngestErrorCode

OCR_LANGUAGE = "vie"
RENDER_DPI = 300
PAGE_OCR_TIMEOUT_SECONDS = 120.0
PAGE_RENDER_TIMEOUT_SECONDS = 60.0
PDFTOPPM = "pdftoppm"
TESSERACT = "tesseract"


class ScannedPageReader(Protocol):
    """Reads the text of PDF pages that have no text layer."""

    def read_pages(self, pdf: bytes, page_indexes: Sequence[int]) -> dict[int, str]:
        """Text of each requested page (0-based), or `IngestError` when OCR cannot run."""
        ...


def _ocr_unavailable(detail: str) -> IngestError:
    return IngestError(
        IngestErrorCode.OCR_UNAVAILABLE,
        "Văn bản là bản quét (không có lớp chữ) nhưng máy chủ chưa cài công cụ nhận dạng chữ "
        "tiếng Việt. Hãy báo quản trị viên hệ thống, hoặc gửi tệp có lớp chữ (PDF xuất từ Word, "
        "tệp .docx).",
        detail=detail,
    )


class TesseractPageReader:
    """OCR of scanned PDF pages with Tesseract (Vietnamese), pages rendered by pdftoppm."""

    def __init__(
        self,
        *,
        language: str = OCR_LANGUAGE,
        dpi: int = RENDER_DPI,
        page_timeout_seconds: float = PAGE_OCR_TIMEOUT_SECONDS,
        tesseract_cmd: str = TESSERACT,
        pdftoppm_cmd: str = PDFTOPPM,
    ) -> None:
        self._language = language
        self._dpi = dpi
        self._page_timeout = page_timeout_seconds
        self._tesseract_cmd = tesseract_cmd
        self._pdftoppm_cmd = pdftoppm_cmd
        self._checked = False

    def _ensure_available(self) -> None:
        if self._checked:
            return
        tesseract = shutil.which(self._tesseract_cmd)
        if tesseract is None:
            raise _ocr_unavailable(f"{self._tesseract_cmd} not found on PATH")
        if self._tesseract_cmd != TESSERACT:
            pytesseract.pytesseract.tesseract_cmd = tesseract
        try:
            languages = pytesseract.get_languages(config="")
        except (pytesseract.TesseractError, OSError) as error:
            raise _ocr_unavailable(f"tesseract --list-langs failed: {error}") from error
        if self._language not in languages:
            raise _ocr_unavailable(f"tesseract language data {self._language!r} not installed")
        self._checked = True

    def read_pages(self, pdf: bytes, page_indexes: Sequence[int]) -> dict[int, str]:
        """Render and OCR each requested page (0-based); pages are read one at a time."""
        self._ensure_available()
        texts: dict[int, str] = {}
        with tempfile.TemporaryDirectory(prefix="trolyao-ocr-") as work_dir:
            work = Path(work_dir)
            pdf_path = work / "document.pdf"
            pdf_path.write_bytes(pdf)
            renderer = shutil.which(self._pdftoppm_cmd)
            reader = None if renderer else PdfReader(BytesIO(pdf))
            for index in page_indexes:
                if renderer:
                    image_path = self._render(renderer, pdf_path, index, work)
                    texts[index] = self._recognise(str(image_path))
                elif reader is not None:
                    image = _largest_image(reader, index)
                    texts[index] = self._recognise(image) if image is not None else ""
        return texts

    def _render(self, renderer: str, pdf_path: Path, index: int, work: Path) -> Path:
        page_number = str(index + 1)
        output_root = work / f"page-{page_number}"
        command = [
            renderer,
            "-r",
            str(self._dpi),
            "-gray",
            "-png",
            "-f",
            page_number,
            "-l",
            page_number,
            "-singlefile",
            str(pdf_path),
            str(output_root),
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PAGE_RENDER_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as error:
            raise IngestError(
                IngestErrorCode.OCR_FAILED,
                "Không dựng được hình trang văn bản quét để nhận dạng chữ trong thời gian cho phép.",
                retryable=True,
                detail=f"pdftoppm timeout on page {page_number}",
            ) from error
        except subprocess.CalledProcessError as error:
            raise IngestError(
                IngestErrorCode.PARSE_ERROR,
                "Không đọc được trang văn bản quét: tệp PDF có thể bị hỏng.",
                detail=f"pdftoppm failed on page {page_number}: {error.stderr!r}",
            ) from error
        return output_root.with_suffix(".png")

    def _recognise(self, image: str | Image.Image) -> str:
        try:
            return str(pytesseract.image_to_string(image, lang=self._language, timeout=self._page_timeout))
        except pytesseract.TesseractError as error:
            raise IngestError(
                IngestErrorCode.OCR_FAILED,
                "Không nhận dạng được chữ trên văn bản quét.",
                detail=str(error),
            ) from error
        except RuntimeError as error:  # pytesseract's timeout: a bare RuntimeError
            raise IngestError(
                IngestErrorCode.OCR_FAILED,
                "Nhận dạng chữ trên văn bản quét quá thời gian cho phép; hệ thống sẽ thử lại sau.",
                retryable=True,
                detail=str(error),
            ) from error


def _largest_image(reader: PdfReader, index: int) -> Image.Image | None:
    """The biggest picture on a page: the scan itself, when there is no renderer."""
    images = [file.image for file in reader.pages[index].images if file.image is not None]
    if not images:
        return None
    return max(images, key=lambda image: image.width * image.height)


__all__ = ["ScannedPageReader", "TesseractPageReader"]
