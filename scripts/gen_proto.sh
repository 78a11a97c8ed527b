#!/usr/bin/env bash
# Regenerate trolyao/v1 from proto/ with the pinned grpcio-tools and mypy-protobuf.
# Output is checked in; tests/test_proto_drift.py fails when it differs from this script's output.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root}"
py="${PYTHON:-$root/.venv/bin/python}"
mkdir -p "$out/trolyao/v1"
PATH="$(dirname "$py"):$PATH" "$py" -m grpc_tools.protoc \
  -I "$root/proto" \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --mypy_out="$out" \
  --mypy_grpc_out="$out" \
  "$root"/proto/trolyao/v1/*.proto
touch "$out/trolyao/v1/__init__.py"
