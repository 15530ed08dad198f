#!/usr/bin/env bash
# Makes sure the programs the hub shells out to are present: Tesseract for card OCR.
set -euo pipefail
missing=()
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr tesseract-ocr-eng)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing ${missing[*]} (needed for insurance-card OCR)..."
if [ "$(id -u)" -eq 0 ]; then
  apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt_get=(sudo apt-get)
else
  echo "Cannot install ${missing[*]}: not root and no password-less sudo." >&2
  echo "Install them yourself (Debian/Ubuntu: apt-get install -y ${missing[*]}) and re-run." >&2
  exit 1
fi
if ! DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "${missing[@]}" >/dev/null 2>&1; then
  "${apt_get[@]}" update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "${missing[@]}" >/dev/null || {
    echo "apt-get could not install ${missing[*]}; install them and re-run." >&2
    exit 1
  }
fi
