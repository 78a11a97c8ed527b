"""`UnitModelRepository` on disk: one gzip'd JSON file per unit under a directory."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from services.retrieval.domain.unit_model import UnitLanguageModel

logger = logging.getLogger(__name__)

FILE_SUFFIX = ".unit-model.json.gz"
# Model files are written inside the unit's indexing lock at a snapshot's cut: fast over small.
GZIP_LEVEL = 6


class FileUnitModelRepository:
    """Unit models loaded lazily from, and flushed atomically to, `root/<hash>.unit-model.json.gz`.

    File names are a hash of the unit id, so any unit id is safe as a name. A file that cannot be
    read is logged and replaced by an empty model: the caller should then rebuild the unit's model
    from its chunks (`AnswerEngine.rebuild_unit_model`).
    """

    def __init__(self, root: Path | str) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._models: dict[str, UnitLanguageModel] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()

    def _path(self, unit: str) -> Path:
        digest = hashlib.sha256(unit.encode("utf-8")).hexdigest()[:32]
        return self._root / f"{digest}{FILE_SUFFIX}"

    def get(self, unit: str) -> UnitLanguageModel:
        """The unit's model, loaded from disk on first use (empty when there is no file)."""
        with self._lock:
            model = self._models.get(unit)
            if model is None:
                model = self._load(unit)
                self._models[unit] = model
            return model

    def _load(self, unit: str) -> UnitLanguageModel:
        path = self._path(unit)
        if not path.exists():
            return UnitLanguageModel()
        try:
            return read_model_file(path)
        except (OSError, ValueError, KeyError) as error:
            logger.warning("unit_model.unreadable", extra={"path": str(path), "error": str(error)})
            return UnitLanguageModel()

    def changed(self, unit: str) -> None:
        """Mark the unit's model for the next `flush`."""
        with self._lock:
            self._dirty.add(unit)

    def drop(self, unit: str) -> None:
        """Forget the unit's model and delete its file."""
        with self._lock:
            self._models.pop(unit, None)
            self._dirty.discard(unit)
            self._path(unit).unlink(missing_ok=True)

    def flush(self) -> None:
        """Write every changed model (temp file + rename: a crash never leaves half a file)."""
        with self._lock:
            dirty = [(unit, self._models[unit]) for unit in self._dirty if unit in self._models]
            self._dirty.clear()
            for unit, model in dirty:
                path = self._path(unit)
                temporary = path.with_suffix(".tmp")
                _write_model(model, temporary)
                os.replace(temporary, path)
                logger.info("unit_model.flushed", extra={"chunks": model.chunk_count})

    # --- snapshots: the model travels as its file ---------------------------------------------

    def export(self, unit: str, destination: Path) -> int:
        """Write the unit's model as it is now into `destination` (the caller holds the unit's
        indexing lock, so it matches the index cut); returns its chunk count. A model unchanged
        since its last flush is copied as its file, a changed one is written from memory."""
        with self._lock:
            model = self._models.get(unit)
            path = self._path(unit)
            if unit not in self._dirty and path.exists():
                shutil.copyfile(path, destination)
                return model.chunk_count if model is not None else read_model_file(destination).chunk_count
            model = model if model is not None else self._load(unit)
            _write_model(model, destination)
            return model.chunk_count

    def install(self, unit: str, source: Path, model: UnitLanguageModel) -> None:
        """Make `source` (a file read with `read_model_file` into `model`, on the same file system)
        the unit's model file, by rename, and `model` its model in memory: nothing is recounted."""
        path = self._path(unit)
        with self._lock:
            try:
                os.replace(source, path)
            except OSError as error:
                if error.errno != errno.EXDEV:
                    raise
                temporary = path.with_suffix(".tmp")  # another file system: copy, then rename
                shutil.copyfile(source, temporary)
                os.replace(temporary, path)
            self._models[unit] = model
            self._dirty.discard(unit)


def read_model_file(path: Path) -> UnitLanguageModel:
    """A model file's model; ValueError (or OSError) when it is damaged or of another format."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return UnitLanguageModel.from_json(json.load(handle))


def _write_model(model: UnitLanguageModel, path: Path) -> None:
    """Serialised whole, then compressed in one call: `json.dump` into a gzip stream writes in
    small pieces and was several times slower on large models."""
    text = json.dumps(model.to_json(), ensure_ascii=False)
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=GZIP_LEVEL, mtime=0))


__all__ = ["FileUnitModelRepository", "read_model_file"]
