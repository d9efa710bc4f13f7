#!/usr/bin/env bash
# Regenerates Sources/StarveExport/OTLPGenerated/ from proto/ (opentelemetry-proto v1.11.0).
# Not part of the build: the generated code is committed, so neither protoc nor the
# protoc-gen-swift plugin (a 5-minute build) is needed to build starve. Run it only after
# updating proto/ (from github.com/open-telemetry/opentelemetry-proto) or swift-protobuf.
#
# Needs: protoc (Debian's protobuf-compiler, or PyPI's grpcio-tools: `python -m grpc_tools.protoc`)
# and protoc-gen-swift of the swift-protobuf version in Package.swift:
#   git clone https://github.com/apple/swift-protobuf && cd swift-protobuf && git checkout 1.39.0
#   swift build -c release --product protoc-gen-swift
# then: PROTOC_GEN_SWIFT=/path/to/.build/release/protoc-gen-swift scripts/gen-otlp.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLUGIN=${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to the protoc-gen-swift binary}
if command -v protoc >/dev/null 2>&1; then PROTOC=(protoc); else PROTOC=(python3 -m grpc_tools.protoc); fi
OUT="$ROOT/Sources/StarveExport/OTLPGenerated"
cd "$ROOT/proto"
"${PROTOC[@]}" -I. --plugin=protoc-gen-swift="$PLUGIN" --swift_opt=FileNaming=PathToUnderscores --swift_out="$OUT" \
  $(find opentelemetry -name '*.proto' | sort)
echo "regenerated $(ls "$OUT" | wc -l) files in $OUT"
