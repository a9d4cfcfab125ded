#!/usr/bin/env bash
# Install the Debian packages the embedded synthetic corpus uses (TTS engines + public-domain text).
# Idempotent: packages already installed are skipped. When apt-get cannot run (not root, no
# network) it says which engines/text sources will be missing and exits 0, because the corpus
# still builds with eSpeak NG from PyPI and a --text file.
set -u

PKGS=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts bible-kjv r-cran-janeaustenr r-cran-tokenizers)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present (${PKGS[*]})"
  exit 0
fi

echo "system deps: installing ${missing[*]}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  fi
fi

warn_skip() {
  echo "WARNING: could not install: ${missing[*]} ($1)." >&2
  echo "  The corpus will be built without them: flite/festival voices are skipped and" >&2
  echo "  bible-kjv/janeaustenr text is unavailable (pass --text FILE), and without r-cran-tokenizers (Moby Dick)" >&2
  echo "  there are no test-confirm splits (pass --confirm-text FILE). eSpeak NG (PyPI) still works." >&2
  exit 0
}

if ! command -v apt-get >/dev/null 2>&1; then
  warn_skip "apt-get not found"
fi
if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
  warn_skip "not root and no passwordless sudo"
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
  warn_skip "apt-get update failed (no network?)"
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  warn_skip "apt-get install failed"
fi
echo "system deps: installed ${missing[*]}"
