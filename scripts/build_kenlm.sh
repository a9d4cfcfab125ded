#!/usr/bin/env bash
# Build KenLM's lmplz (estimates an ARPA n-gram, modified Kneser-Ney) and build_binary (ARPA ->
# mmap-able binary that loads in a millisecond) into DEST (default .venv/bin), for `make lm`.
# Idempotent: a build of this version already in DEST (its stamp file) is kept.
#
# Source: the kenlm sdist on PyPI, pinned and sha256-checked, because it carries the full C++
# tree (lm/builder included) while PyPI has no wheel with the estimator; it is fetched with the
# venv's pip (the ordinary client), built with Debian's cmake and Boost. The Debian packages the
# build needs are installed when missing, as scripts/install_system_deps.sh does for the voices;
# unlike the voices they are not optional, so failing to install them is an error.
set -euo pipefail

DEST=${1:-.venv/bin}
PIP=${PIP:-.venv/bin/pip}
VERSION=0.3.0
SHA256=c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8
STAMP="$DEST/.kenlm-$VERSION"
if [ -x "$DEST/lmplz" ] && [ -x "$DEST/build_binary" ] && [ -f "$STAMP" ]; then
  echo "kenlm $VERSION: already built in $DEST"
  exit 0
fi
PKGS=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
      zlib1g-dev libbz2-dev liblzma-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kenlm: installing build dependencies ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  fi
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    echo "error: kenlm needs ${missing[*]}: install them (apt-get install ${missing[*]}) and rerun make lm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } || {
    echo "error: apt-get could not install ${missing[*]}; install them and rerun make lm" >&2
    exit 1
  }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PIP" download -q --no-deps --no-binary kenlm --no-build-isolation "kenlm==$VERSION" -d "$work"
archive="$work/kenlm-$VERSION.tar.gz"
echo "$SHA256  $archive" | sha256sum -c --quiet - || {
  echo "error: $archive does not have the pinned sha256 $SHA256; refusing to build it" >&2
  exit 1
}
tar -xzf "$archive" -C "$work"
cmake -S "$work/kenlm-$VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 >/dev/null
cmake --build "$work/build" --target lmplz build_binary -j "${JOBS:-2}"
mkdir -p "$DEST"
install -m 755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$DEST/"
touch "$STAMP"
echo "kenlm $VERSION: $DEST/lmplz $DEST/build_binary"
