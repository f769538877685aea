# shellcheck shell=bash
# Shared set-up of scripts/test and scripts/demo: host packages, virtualenvs,
# the collection link. Everything is cached where it is safe to reuse it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LVS_CACHE:-$HOME/.cache/lvs-cluster}"
HOST_PACKAGES=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs iproute2 openssh-client rsync
               iputils-ping arping curl ca-certificates git shellcheck)

say() { printf '\n=== %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "the lab needs root (network namespaces, taps, mmdebstrap): run with sudo" >&2
    exit 2
  fi
}

install_host_packages() {
  local missing=()
  for pkg in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing host packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
    apt-get update -qq
  fi
}

# The controller's Python: ansible-core 2.20 and later (the main venv pins 2.21)
# need Python >= 3.12 on the controller. Taken in this order: the system python3
# if new enough, python3.13 or python3.12 on PATH, pyenv's newest >= 3.12.
CONTROLLER_PYTHON_MIN=3.12

# find_python MIN -> prints the real path of an interpreter >= MIN, or fails
find_python() {
  local min="$1" c root
  local check="import sys; sys.exit(0 if sys.version_info[:2] >= tuple(map(int, '$min'.split('.'))) else 1)"
  local candidates=(python3 python3.13 python3.12)
  # pyenv's own versions, newest first (its shims only answer for the selected version)
  root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  if [ -d "$root/versions" ]; then
    while IFS= read -r c; do candidates+=("$c"); done < <(
      find "$root/versions" -mindepth 3 -maxdepth 3 -path '*/bin/python3' 2>/dev/null | sort -rV)
  fi
  for c in "${candidates[@]}"; do
    if "$c" -c "$check" >/dev/null 2>&1 && "$c" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

controller_python() {
  if [ -z "${CONTROLLER_PYTHON:-}" ]; then
    if ! CONTROLLER_PYTHON="$(find_python "$CONTROLLER_PYTHON_MIN")"; then
      echo "ansible-core 2.21 (tests/requirements.txt) needs Python >= $CONTROLLER_PYTHON_MIN on the controller;" \
           "found none (python3 is $(python3 -V 2>&1 || echo missing); no python3.13/python3.12 on PATH or in pyenv)." \
           "Install one (Debian 13: apt-get install python3 python3-venv; or: pyenv install 3.13) and run again." >&2
      exit 2
    fi
  fi
  echo "$CONTROLLER_PYTHON"
}

# make_venv NAME REQUIREMENTS_FILE [PYTHON] -> prints the venv's bin directory
# (PYTHON: the controller's Python by default; the hash covers its path and version)
make_venv() {
  local name="$1" req="$2" py="${3:-}" hash dir lock
  [ -n "$py" ] || py="$(controller_python)"
  hash="$(cat "$req" <("$py" -V 2>&1) <(echo "$py") | sha256sum | cut -c1-12)"
  dir="$CACHE/venv-$name-$hash"
  # one creator at a time: test and demo runs in parallel share the cache
  mkdir -p "$CACHE"
  exec {lock}>"$dir.lock"
  flock "$lock"
  if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
    say "creating virtualenv $name ($("$py" -V 2>&1), $py)"
    rm -rf "$dir"
    "$py" -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip >&2
    "$dir/bin/pip" install -q -r "$req" >&2
    touch "$dir/.complete"
  fi
  echo "$dir/bin"
}

link_collection() {
  local link="$REPO/.build/collections/ansible_collections/lvs/cluster"
  mkdir -p "$(dirname "$link")"
  [ -e "$link" ] || ln -s "$REPO" "$link"
  export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
  export ANSIBLE_CONFIG="$REPO/tests/lab/ansible.cfg"  # the lab's settings (the root ansible.cfg is for real hosts)
}

setup_common() {
  need_root
  install_host_packages
  CONTROLLER_PYTHON="$(controller_python)"
  VENV="$(make_venv main "$REPO/tests/requirements.txt")"
  export PATH="$VENV:$PATH"
  link_collection
}
