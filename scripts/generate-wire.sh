#!/usr/bin/env bash
# Regenerates Sources/KubeHeroWire/Generated/*.swift from Sources/KubeHeroWire/kubehero_wire.proto.
#
# Needs protoc (Debian: protobuf-compiler) and the two Swift plugins, built from the same
# package versions Package.swift uses:
#   protoc-gen-swift          (apple/swift-protobuf)
#   protoc-gen-grpc-swift-2   (grpc/grpc-swift-protobuf)
# The script builds both from .build's checkouts when they are not on PATH (a few minutes once).
# The generated code is committed, so a normal build never needs any of this.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }

PLUGIN_DIR=.build-protoc
if ! command -v protoc-gen-swift >/dev/null || ! command -v protoc-gen-grpc-swift-2 >/dev/null; then
  swift package resolve >/dev/null
  if [ ! -x "$PLUGIN_DIR/debug/protoc-gen-grpc-swift-2" ] || [ ! -x "$PLUGIN_DIR/debug/protoc-gen-swift" ]; then
    echo "building protoc plugins into $PLUGIN_DIR (once)..." >&2
    (cd .build/checkouts/grpc-swift-protobuf && swift build --scratch-path "$OLDPWD/$PLUGIN_DIR" \
        --product protoc-gen-grpc-swift-2 && swift build --scratch-path "$OLDPWD/$PLUGIN_DIR" --product protoc-gen-swift)
  fi
  export PATH="$PWD/$PLUGIN_DIR/debug:$PATH"
fi

OUT=Sources/KubeHeroWire/Generated
mkdir -p "$OUT"
protoc --proto_path=Sources/KubeHeroWire \
  --swift_out="$OUT" --swift_opt=Visibility=Public \
  --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true \
  kubehero_wire.proto
echo "generated: $(ls "$OUT")"
