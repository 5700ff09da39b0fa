#!/usr/bin/env bash
# Installs tspserve's build and test dependencies from Debian 12 packages. Idempotent: packages
# already present are left alone, and nothing is fetched when all of them are.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libabsl-dev libgoogle-glog-dev nlohmann-json3-dev libpcre2-dev libopenblas-dev libcli11-dev
  libgtest-dev libgmock-dev
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc libcpp-httplib-dev
  python3 python3-grpcio python3-yaml docker-compose patchelf openssl
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
