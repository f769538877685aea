"""Local stand-in for the pip bootstrap script ansible-test downloads.

ansible-test creates its sanity virtual environments without pip and then runs
a cached ``get_pip_<version>.py`` (normally fetched from the internet) as
``python get_pip.py [pip options] pip==X [--no-setuptools] [--no-wheel]``.
This machine reaches only the package registries, so the test command places
this script in that cache: it installs pip from the interpreter's bundled
``ensurepip`` wheel, then lets that pip install the requested packages from
the configured package index.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    saved = dict(os.environ)
    ensurepip.bootstrap(upgrade=True, default_pip=True)
    # ensurepip hides pip's configuration (PIP_CONFIG_FILE=/dev/null) for its own run; undo
    # that so the install below uses the machine's index and CA settings
    os.environ.clear()
    os.environ.update(saved)
    wanted = [arg for arg in argv if arg not in ("--no-setuptools", "--no-wheel")]
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *wanted])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
