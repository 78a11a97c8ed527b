"""`UnitModelRepository` on disk: one gzip'd JSON file per unit under a directory."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from services.retrieval.domain.unit_model import UnitLanguageModel

logger = logging.getLogger(__name__)

FILE_SUFFIX = ".unit-model.json.gz"


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
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return UnitLanguageModel.from_json(json.load(handle))
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
                with gzip.open(temporary, "wt", encoding="utf-8") as handle:
                    json.dump(model.to_json(), handle, ensure_ascii=False)
                os.replace(temporary, path)
                logger.info("unit_model.flushed", extra={"chunks": model.chunk_count})


__all__ = ["FileUnitModelRepository"]
