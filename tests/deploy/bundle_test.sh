#!/usr/bin/env bash
# deploy/bundle.sh makes a folder that runs with an empty environment: every library the binary
# loads comes from the bundle or the C runtime.
set -euo pipefail
binary=$1
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$source_dir/deploy/bundle.sh" "$out/bundle" "$binary"
env -i "$out/bundle/bin/tspserve" make-model --list | grep -q '^tiny'
# Every library the loader maps, apart from the C runtime and (in a CUDA build) the CUDA runtime,
# cuBLASLt and NCCL, which must match the target machine's driver, must come from the bundle.
outside=$(env -i LD_DEBUG=libs "$out/bundle/bin/tspserve" make-model --list 2>&1 >/dev/null |
  grep 'calling init:' | grep -v "$out/bundle/" |
  grep -vE '/(ld-linux[^/]*|libc\.so[^/]*|libm\.so[^/]*|libpthread\.so[^/]*|libdl\.so[^/]*|librt\.so[^/]*)$' |
  grep -vE '/(libcudart|libcublas|libcublasLt|libnccl|libcuda)\.so[^/]*$' || true)
if [ -n "$outside" ]; then
  echo "libraries loaded from outside the bundle:" >&2
  echo "$outside" >&2
  exit 1
fi
echo "bundle_test: ok"
