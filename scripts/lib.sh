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

# make_venv NAME REQUIREMENTS_FILE -> prints the venv's bin directory
make_venv() {
  local name="$1" req="$2" hash dir
  hash="$(cat "$req" <(python3 -V 2>&1) | sha256sum | cut -c1-12)"
  dir="$CACHE/venv-$name-$hash"
  if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
    say "creating virtualenv $name"
    rm -rf "$dir"
    python3 -m venv "$dir"
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
  export ANSIBLE_CONFIG="$REPO/ansible.cfg"
}

setup_common() {
  need_root
  install_host_packages
  VENV="$(make_venv main "$REPO/tests/requirements.txt")"
  export PATH="$VENV:$PATH"
  link_collection
}
