# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of ``lvs.cluster.managed_files``: many files, directories and links in one task.

``validate_files`` turns the module's ``files`` list into ``FileSpec`` objects
(every check that needs no write), ``plan_files`` compares them with the
filesystem (nothing written), ``apply_plan`` makes the changes in input order
and ``plan_diffs`` renders the diff mode output.  Errors are ``FilesError``
(nothing changed) or ``FilesApplyError`` (a write failed; ``changed_paths``
lists what had already changed).
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import shlex
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

STATES = ("file", "directory", "link", "absent")
DEFAULT_MODES = {"file": 0o644, "directory": 0o755}
PARENT_MODE = 0o755
MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
KNOWN_KEYS = {"path", "state", "content", "src", "mode", "owner", "group", "force", "validate"}


class FilesError(Exception):
    """Invalid request or state found on the host (nothing was changed)."""


class FilesApplyError(FilesError):
    """A change failed; ``changed_paths`` were already changed before it."""

    def __init__(self, message: str, changed_paths: Sequence[str]) -> None:
        super().__init__(message)
        self.changed_paths = list(changed_paths)


@dataclass(frozen=True)
class FileSpec:
    """One validated entry of ``files``."""

    path: str  # as given (returned in changed_paths)
    norm: str  # normalised absolute path (what is touched)
    state: str
    content: Optional[bytes] = None
    src: Optional[str] = None
    mode: Optional[int] = None
    uid: int = 0
    gid: int = 0
    force: bool = True  # False: a file that exists is left as it is (content, mode, owner: a seed)
    validate: Optional[str] = None  # a command with %s, run on the new content before any write


@dataclass
class Action:
    """What one entry needs; ``reasons`` is empty when the entry already matches."""

    spec: FileSpec
    reasons: List[str] = field(default_factory=list)
    before_kind: str = "absent"  # absent, file, directory, link, other
    before_content: Optional[bytes] = None
    before_mode: Optional[int] = None
    before_uid: Optional[int] = None
    before_gid: Optional[int] = None
    before_src: Optional[str] = None
    missing_parents: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.reasons)

    @property
    def rewrite(self) -> bool:
        """A file entry whose content (or type) differs: written anew."""
        return self.spec.state == "file" and (self.before_kind != "file" or self.before_content != self.spec.content)


@dataclass
class FilesPlan:
    actions: List[Action]

    @property
    def changed_paths(self) -> List[str]:
        return [a.spec.path for a in self.actions if a.changed]

    @property
    def changed(self) -> bool:
        return any(a.changed for a in self.actions)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def parse_mode(value: Any, where: str) -> int:
    """An octal mode given as a string (``"0644"``, ``"644"``, ``"1777"``)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise FilesError(
            f"{where}: mode {value!r} must be a quoted octal string like '0644' "
            "(YAML reads an unquoted 0644 as the number 420)"
        )
    if not MODE_RE.match(value):
        raise FilesError(f"{where}: mode {value!r} is not an octal mode like '0644'")
    return int(value, 8)


def lookup_uid(owner: str) -> int:
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        if owner.isdigit():
            return int(owner)
        raise FilesError(f"unknown owner {owner!r}") from None


def lookup_gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if group.isdigit():
            return int(group)
        raise FilesError(f"unknown group {group!r}") from None


def validate_files(
    files: Sequence[Mapping[str, Any]],
    uid_of: Callable[[str], int] = lookup_uid,
    gid_of: Callable[[str], int] = lookup_gid,
) -> List[FileSpec]:
    """Check every entry without touching the filesystem; raise FilesError on the first problem."""
    specs: List[FileSpec] = []
    seen: Dict[str, str] = {}
    for index, entry in enumerate(files):
        where = f"files[{index}]"
        unknown = sorted(set(entry) - KNOWN_KEYS)
        if unknown:
            raise FilesError(f"{where}: unknown key(s) {', '.join(unknown)}")
        path = entry.get("path")
        if not isinstance(path, str) or not path:
            raise FilesError(f"{where}: path is required")
        where = f"{where} ({path})"
        if not os.path.isabs(path):
            raise FilesError(f"{where}: path must be absolute")
        if "\0" in path:
            raise FilesError(f"{where}: path contains a NUL byte")
        norm = os.path.normpath(path)
        if norm.startswith("//"):
            norm = "/" + norm.lstrip("/")
        if norm == "/":
            raise FilesError(f"{where}: refusing to manage /")
        if norm in seen:
            raise FilesError(f"{where}: duplicate path (also given as {seen[norm]!r})")
        seen[norm] = path
        state = entry.get("state") or "file"
        if state not in STATES:
            raise FilesError(f"{where}: state {state!r} is not one of {', '.join(STATES)}")
        content = entry.get("content")
        src = entry.get("src")
        mode_value = entry.get("mode")
        force = entry.get("force")
        if force is None:
            force = True
        if not isinstance(force, bool):
            raise FilesError(f"{where}: force must be a boolean")
        if not force and state != "file":
            raise FilesError(f"{where}: force false is only used with state file (state is {state})")
        if content is not None and state != "file":
            raise FilesError(f"{where}: content is only used with state file (state is {state})")
        if src is not None and state != "link":
            raise FilesError(f"{where}: src is only used with state link (state is {state})")
        if mode_value is not None and state not in DEFAULT_MODES:
            raise FilesError(f"{where}: mode is not used with state {state}")
        if state == "file" and content is None:
            raise FilesError(f"{where}: content is required with state file")
        if state == "file" and not isinstance(content, str):
            raise FilesError(f"{where}: content must be a string")
        if state == "link" and (not isinstance(src, str) or not src):
            raise FilesError(f"{where}: src is required with state link")
        validate = entry.get("validate")
        if validate is not None and (state != "file" or not isinstance(validate, str) or "%s" not in validate):
            raise FilesError(f"{where}: validate is a command with %s (the new content's path), for state file only")
        mode = parse_mode(mode_value, where) if mode_value is not None else DEFAULT_MODES.get(state)
        uid = gid = 0
        if state != "absent":
            try:
                uid = uid_of(str(entry.get("owner") or "root"))
                gid = gid_of(str(entry.get("group") or "root"))
            except FilesError as exc:
                raise FilesError(f"{where}: {exc}") from None
        specs.append(
            FileSpec(
                path=path,
                norm=norm,
                state=state,
                content=content.encode("utf-8") if isinstance(content, str) else None,
                src=src,
                mode=mode,
                uid=uid,
                gid=gid,
                force=force,
                validate=validate,
            )
        )
    _check_nesting(specs)
    return specs


def _check_nesting(specs: Sequence[FileSpec]) -> None:
    """An entry inside another entry's path needs that entry to be a directory (or both absent)."""
    by_norm = {spec.norm: spec for spec in specs}
    for spec in specs:
        parent = os.path.dirname(spec.norm)
        while parent and parent != "/":
            outer = by_norm.get(parent)
            if outer is not None and outer.state != "directory" and not (outer.state == spec.state == "absent"):
                raise FilesError(f"{spec.path}: inside {outer.path}, which is given with state {outer.state}")
            parent = os.path.dirname(parent)


# ---------------------------------------------------------------------------
# planning (reads only)
# ---------------------------------------------------------------------------


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    return "other"


def _missing_parents(path: str) -> List[str]:
    """Parent directories of ``path`` that do not exist, outermost first; raise if one is not a directory."""
    missing: List[str] = []
    parent = os.path.dirname(path)
    while parent and parent != "/":
        try:
            st = os.stat(parent)  # follows links: /var/www -> /srv/www is a fine parent
        except FileNotFoundError:
            missing.append(parent)
            parent = os.path.dirname(parent)
            continue
        except NotADirectoryError:
            missing.clear()  # an outer component is a file; reported when reached
            parent = os.path.dirname(parent)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise FilesError(f"{path}: parent {parent} exists and is not a directory")
        break
    return list(reversed(missing))


def _plan_one(spec: FileSpec) -> Action:
    action = Action(spec=spec)
    try:
        st: Optional[os.stat_result] = os.lstat(spec.norm)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise FilesError(f"{spec.path}: a parent directory exists and is not a directory") from None
    if st is None:
        if spec.state == "absent":
            return action
        action.missing_parents = _missing_parents(spec.norm)
        action.reasons.append("create")
        return action

    kind = action.before_kind = _kind(st)
    action.before_mode = stat.S_IMODE(st.st_mode)
    action.before_uid, action.before_gid = st.st_uid, st.st_gid
    if kind == "link":
        action.before_src = os.readlink(spec.norm)
    elif kind == "file" and (spec.state == "absent" or (spec.state == "file" and spec.force)):
        with open(spec.norm, "rb") as handle:
            action.before_content = handle.read()

    if spec.state == "absent":
        if kind == "directory":
            if os.listdir(spec.norm):
                raise FilesError(f"{spec.path}: state absent, but it is a non-empty directory")
        elif kind == "other":
            raise FilesError(f"{spec.path}: state absent, but it is not a file, link or directory")
        action.reasons.append("remove")
        return action

    if spec.state == "file":
        if kind == "directory":
            raise FilesError(f"{spec.path}: state file, but it exists as a directory")
        if kind == "other":
            raise FilesError(f"{spec.path}: state file, but it exists and is not a regular file")
        if not spec.force and kind == "file":
            return action  # a seed that exists is left as it is (not even read)
        if kind == "link":
            action.reasons.append("replace link")
            return action
        if action.before_content != spec.content:
            action.reasons.append("content")
    elif spec.state == "directory":
        if kind != "directory":
            raise FilesError(f"{spec.path}: state directory, but it exists as a {kind}")
    elif spec.state == "link":
        if kind != "link":
            raise FilesError(f"{spec.path}: state link, but it exists as a {kind} (remove it first)")
        if action.before_src != spec.src:
            action.reasons.append("link target")
            return action
        # a link's own mode means nothing on Linux; only its ownership is compared
        if (st.st_uid, st.st_gid) != (spec.uid, spec.gid):
            action.reasons.append("ownership")
        return action
    if spec.mode is not None and action.before_mode != spec.mode:
        action.reasons.append("mode")
    if (st.st_uid, st.st_gid) != (spec.uid, spec.gid):
        action.reasons.append("ownership")
    return action


def plan_files(specs: Sequence[FileSpec]) -> FilesPlan:
    """Compare every entry with the filesystem. Nothing is written; FilesError on a conflict."""
    try:
        return FilesPlan(actions=[_plan_one(spec) for spec in specs])
    except FilesError:
        raise
    except OSError as exc:
        raise FilesError(f"cannot inspect {exc.filename or ''}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------
# applying
# ---------------------------------------------------------------------------


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_parents(path: str) -> None:
    """Create the missing parent directories of ``path`` (0755, root:root)."""
    for parent in _missing_parents(path):
        try:
            os.mkdir(parent, PARENT_MODE)
        except FileExistsError:
            continue
        os.chmod(parent, PARENT_MODE)  # not subject to the umask
        os.chown(parent, 0, 0)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _rename_into_place(tmp: str, path: str) -> None:
    """Rename the finished temporary ``tmp`` over ``path`` (removing ``tmp`` if that fails), then
    fsync the directory so the rename survives a crash."""
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(os.path.dirname(path))


def write_file(path: str, content: bytes, mode: int, uid: int, gid: int) -> None:
    """Atomically replace ``path``: temp file in the same directory, fsync, chmod/chown, rename, fsync
    of the directory.  ``uid``/``gid`` -1 keep the owner the file was created with."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)  # after chown, which may clear setuid bits
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _rename_into_place(tmp, path)


def make_link(path: str, src: str, uid: int, gid: int) -> None:
    """Create or atomically replace the symlink ``path`` -> ``src``."""
    directory = os.path.dirname(path)
    for attempt in range(100):
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{attempt}.tmp")
        try:
            os.symlink(src, tmp)
            break
        except FileExistsError:
            continue
    else:
        raise OSError(errno.EEXIST, "no free temporary name", path)
    try:
        os.lchown(tmp, uid, gid)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _rename_into_place(tmp, path)


def _apply_one(action: Action) -> None:
    spec = action.spec
    if spec.state == "absent":
        try:
            st = os.lstat(spec.norm)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(spec.norm)
        else:
            os.unlink(spec.norm)
        return
    make_parents(spec.norm)
    # validate_files guarantees content (file), mode (file, directory) and src (link)
    mode = spec.mode if spec.mode is not None else DEFAULT_MODES.get(spec.state, 0)
    if spec.state == "file":
        if action.rewrite:
            write_file(spec.norm, spec.content or b"", mode, spec.uid, spec.gid)
            return
        st = os.lstat(spec.norm)
        if (st.st_uid, st.st_gid) != (spec.uid, spec.gid):
            os.chown(spec.norm, spec.uid, spec.gid)
        os.chmod(spec.norm, mode)
    elif spec.state == "directory":
        try:
            os.mkdir(spec.norm, mode)
        except FileExistsError:
            pass
        st = os.lstat(spec.norm)
        if (st.st_uid, st.st_gid) != (spec.uid, spec.gid):
            os.chown(spec.norm, spec.uid, spec.gid)
        os.chmod(spec.norm, mode)
    elif spec.state == "link":
        if action.before_kind == "link" and action.before_src == spec.src:
            os.lchown(spec.norm, spec.uid, spec.gid)
        else:
            make_link(spec.norm, spec.src or "", spec.uid, spec.gid)


def check_contents(plan: FilesPlan, run: Callable[[List[str]], Tuple[int, str, str]]) -> None:
    """Run the ``validate`` command of every file to be rewritten on its new content (a private
    temporary file), all of them before the first write: a refused content changes nothing.

    ``run(argv)`` returns (rc, stdout, stderr); raise FilesError naming the path on a refusal."""
    for action in plan.actions:
        spec = action.spec
        if not (action.changed and action.rewrite and spec.validate):
            continue
        fd, tmp = tempfile.mkstemp(prefix=".lvs-validate-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(spec.content or b"")
            argv = [word.replace("%s", tmp) for word in shlex.split(spec.validate)]
            rc, out, err = run(argv)
        finally:
            _unlink_quietly(tmp)
        if rc != 0:
            detail = (err or out).strip().replace(tmp, spec.path)[-2000:]
            raise FilesError(f"{spec.path}: the new content was refused by {spec.validate!r} (rc {rc}): {detail}")


def apply_plan(plan: FilesPlan) -> List[str]:
    """Make the planned changes in input order; return the changed paths.

    On a failure raise FilesApplyError naming the failed path and carrying the
    paths already changed.
    """
    done: List[str] = []
    for action in plan.actions:
        if not action.changed:
            continue
        try:
            _apply_one(action)
        except (OSError, FilesError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            already = f"; already changed: {', '.join(done)}" if done else "; nothing was changed before it"
            raise FilesApplyError(
                f"{action.spec.path}: {', '.join(action.reasons)} failed: {reason}{already}", done
            ) from None
        done.append(action.spec.path)
    return done


# ---------------------------------------------------------------------------
# diff mode
# ---------------------------------------------------------------------------


def _text(content: Optional[bytes]) -> str:
    if content is None:
        return ""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return "(binary or non-UTF-8 content)\n"


def _summary(kind: str, mode: Optional[int], uid: Optional[int], gid: Optional[int], src: Optional[str]) -> str:
    if kind == "absent":
        return "state: absent\n"
    lines = [f"state: {kind}\n"]
    if src is not None:
        lines.append(f"src: {src}\n")
    elif mode is not None:
        lines.append(f"mode: {mode:04o}\n")
    if uid is not None:
        lines.append(f"owner: {uid}\ngroup: {gid}\n")
    return "".join(lines)


def plan_diffs(plan: FilesPlan) -> List[Dict[str, str]]:
    """One diff per changed entry: the content for files, a short state summary for the rest."""
    diffs: List[Dict[str, str]] = []
    for action in plan.actions:
        if not action.changed:
            continue
        spec = action.spec
        if spec.state == "file" and action.rewrite:
            before, after = _text(action.before_content), _text(spec.content)
        elif spec.state == "absent" and action.before_kind == "file":
            before, after = _text(action.before_content), ""
        else:
            before = _summary(
                action.before_kind, action.before_mode, action.before_uid, action.before_gid, action.before_src
            )
            after_mode = spec.mode if spec.state in DEFAULT_MODES else None
            after = _summary(
                spec.state,
                after_mode,
                None if spec.state == "absent" else spec.uid,
                spec.gid,
                spec.src,
            )
        diffs.append({"before_header": spec.path, "after_header": spec.path, "before": before, "after": after})
    return diffs


def converge_files(
    files: Sequence[Mapping[str, Any]], check_mode: bool, diff: bool
) -> Tuple[List[str], List[Dict[str, str]]]:
    """Validate, plan and (unless ``check_mode``) apply ``files``: the changed paths, and the
    diffs when ``diff`` (what a module that also saves files does)."""
    plan = plan_files(validate_files(files))
    diffs = plan_diffs(plan) if diff else []
    return (plan.changed_paths if check_mode else apply_plan(plan)), diffs
