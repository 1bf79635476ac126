#!/usr/bin/env bash
# Installs the Debian packages named on the command line when they are missing.
# Used by the Makefile so that a fresh machine needs nothing installed by hand.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "offseq: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo -n"; else
  echo "offseq: cannot install ${missing[*]}: not root and no sudo. Install them with apt-get and retry." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the lock (parallel builds): wait for it rather than fail.
for i in $(seq 1 60); do
  if $sudo apt-get install -y -q "${missing[@]}" >/tmp/offseq-apt.log 2>&1; then exit 0; fi
  if grep -q "Unable to locate package\|has no installation candidate" /tmp/offseq-apt.log; then
    $sudo apt-get update -q >/dev/null 2>&1 || true
    $sudo apt-get install -y -q "${missing[@]}" >/tmp/offseq-apt.log 2>&1 && exit 0
    break
  fi
  grep -q "Could not get lock\|dpkg frontend lock" /tmp/offseq-apt.log || break
  sleep 5
done
cat /tmp/offseq-apt.log >&2
echo "offseq: could not install ${missing[*]} (see above). Install them with apt-get and retry." >&2
exit 1
