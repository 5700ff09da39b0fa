#!/usr/bin/env bash
# Makes a portable bundle of tspserve binaries: OUT/bin holds the executables, OUT/lib every
# shared library they load that is not part of the C runtime or the CUDA driver stack, and each
# file's rpath points at the libraries relative to itself ($ORIGIN), so the folder runs on any
# x86-64 Linux with glibc >= the build machine's and (for GPU builds) the CUDA driver and libraries.
#
#   deploy/bundle.sh OUT build/server/tspserve [more binaries...]
#
# Debug symbols are stripped (set TSPSERVE_BUNDLE_KEEP_DEBUG=1 to keep them). To move the folder
# as one file: `tar -C OUT/.. -cJf bundle.tar.xz $(basename OUT)`.
# Needs patchelf (Debian package `patchelf`).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR BINARY [BINARY...]" >&2
  exit 2
fi
out=$1
shift
command -v patchelf >/dev/null || { echo "bundle: patchelf is required (apt-get install patchelf)" >&2; exit 1; }

# Libraries every target machine provides: the C runtime, and the CUDA driver, toolkit and NCCL
# libraries that must match the machine's driver.
is_system_lib() {
  case "$(basename "$1")" in
    ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libresolv.so*|libutil.so*) return 0 ;;
    libgcc_s.so*|libstdc++.so*) return 1 ;;  # bundled: the target may have an older libstdc++
    libcuda.so*|libnvidia-*|libcudart.so*|libcublas*|libcublasLt*|libnccl.so*|libcudnn*|libnvrtc*) return 0 ;;
  esac
  return 1
}

mkdir -p "$out/bin" "$out/lib"
for binary in "$@"; do
  [ -x "$binary" ] || { echo "bundle: $binary is not an executable" >&2; exit 1; }
  cp -f "$binary" "$out/bin/"
  [ "${TSPSERVE_BUNDLE_KEEP_DEBUG:-0}" = 1 ] || strip --strip-debug "$out/bin/$(basename "$binary")"
  patchelf --set-rpath '$ORIGIN/../lib' "$out/bin/$(basename "$binary")"
  # ldd lists the whole closure; "not found" is fatal (the bundle would not run).
  if ldd "$binary" | grep -q "not found"; then
    ldd "$binary" | grep "not found" >&2
    echo "bundle: $binary has unresolved libraries" >&2
    exit 1
  fi
  ldd "$binary" | awk '/=> \// { print $3 }' | while read -r lib; do
    is_system_lib "$lib" && continue
    name=$(basename "$lib")
    if [ ! -e "$out/lib/$name" ]; then
      cp -fL "$lib" "$out/lib/$name"
      chmod u+w "$out/lib/$name"
      [ "${TSPSERVE_BUNDLE_KEEP_DEBUG:-0}" = 1 ] || strip --strip-debug "$out/lib/$name"
      patchelf --set-rpath '$ORIGIN' "$out/lib/$name"
    fi
  done
done
echo "bundle: $(ls "$out/bin" | wc -l) binaries, $(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1) in $out"
