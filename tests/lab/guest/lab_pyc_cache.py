"""Lab-only: cache bytecode of modules imported from zip files (Ansible's module payloads).

Ansible ships each module with its module_utils in a zip that Python imports
with zipimport, which never caches bytecode, so every task recompiles the
same sources. This hook, loaded by a .pth file in the lab guest image only,
keeps compiled code keyed by a hash of the source. Nothing in the collection
depends on it.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import zipimport
from types import CodeType

_DIR = "/var/cache/lab-pyc"
_compile = zipimport._compile_source  # type: ignore[attr-defined]


def _cached_compile(pathname: str, source: bytes) -> CodeType:
    path = os.path.join(_DIR, hashlib.sha256(source).hexdigest())
    try:
        with open(path, "rb") as fh:
            code = marshal.load(fh)
        if isinstance(code, CodeType):
            return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = _compile(pathname, source)
    try:
        os.makedirs(_DIR, mode=0o700, exist_ok=True)
        tmp = "%s.%d" % (path, os.getpid())
        with open(tmp, "wb") as fh:
            marshal.dump(code, fh)
        os.replace(tmp, path)
    except OSError:
        pass
    return code


zipimport._compile_source = _cached_compile  # type: ignore[attr-defined]
