"""Unit tests of the managed_files logic: validation, planning, atomic apply, diffs.

They run against ``tmp_path``. Ownership is made meaningful by handing files to
uid/gid 65534 first (the tests run as root, which may chown) and checking that
the plan sees the difference and the apply hands them back to root.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._files import (
    FilesApplyError,
    FilesError,
    FilesPlan,
    apply_plan,
    check_contents,
    plan_diffs,
    plan_files,
    validate_files,
)

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")


@pytest.fixture(autouse=True)
def strict_umask() -> Iterator[None]:
    """A umask that would spoil the modes if the code relied on it."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def plan(files: List[Dict[str, Any]]) -> FilesPlan:
    return plan_files(validate_files(files))


def converge(files: List[Dict[str, Any]]) -> List[str]:
    changed = apply_plan(plan(files))
    assert plan(files).changed_paths == [], "not idempotent"
    return changed


def snapshot(root: Path) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = Path(path).read_bytes() if stat.S_ISREG(st.st_mode) else None
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            out[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_ino, data, link)
    return out


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files,message",
    [
        ([{"path": "etc/x", "content": ""}], r"files\[0\] \(etc/x\): path must be absolute"),
        ([{"path": "", "content": ""}], "path is required"),
        (
            [{"path": "/etc/x", "content": "a"}, {"path": "/etc//x/", "state": "absent"}],
            r"files\[1\] \(/etc//x/\): duplicate path \(also given as '/etc/x'\)",
        ),
        ([{"path": "/", "state": "directory"}], "refusing to manage /"),
        ([{"path": "/d", "state": "directory", "content": "x"}], "content is only used with state file"),
        ([{"path": "/l", "state": "link", "src": "/a", "content": "x"}], "content is only used with state file"),
        ([{"path": "/f", "content": "x", "src": "/a"}], "src is only used with state link"),
        ([{"path": "/l", "state": "link"}], "src is required with state link"),
        ([{"path": "/l", "state": "link", "src": ""}], "src is required with state link"),
        ([{"path": "/l", "state": "link", "src": "/a", "mode": "0644"}], "mode is not used with state link"),
        ([{"path": "/x", "state": "absent", "mode": "0644"}], "mode is not used with state absent"),
        ([{"path": "/f"}], "content is required with state file"),
        ([{"path": "/f", "content": 1}], "content must be a string"),
        ([{"path": "/f", "content": "", "mode": "0999"}], r"mode '0999' is not an octal mode"),
        ([{"path": "/f", "content": "", "mode": "u+rw"}], r"mode 'u\+rw' is not an octal mode"),
        ([{"path": "/f", "content": "", "mode": "12345"}], "is not an octal mode"),
        ([{"path": "/f", "content": "", "mode": 420}], "must be a quoted octal string"),
        ([{"path": "/f", "content": "", "owner": "no-such-user-here"}], "unknown owner 'no-such-user-here'"),
        ([{"path": "/f", "content": "", "group": "no-such-group-here"}], "unknown group 'no-such-group-here'"),
        ([{"path": "/f", "state": "fifo"}], "state 'fifo' is not one of"),
        ([{"path": "/f", "content": "", "colour": "red"}], "unknown key"),
        ([{"path": "/f", "content": "", "force": "no"}], "force must be a boolean"),
        ([{"path": "/d", "state": "directory", "force": False}], "force false is only used with state file"),
        ([{"path": "/f", "content": "", "validate": "nft -c -f"}], "validate is a command with %s"),
        ([{"path": "/d", "state": "directory", "validate": "true %s"}], "validate is a command with %s"),
        (
            [{"path": "/a", "content": ""}, {"path": "/a/b", "content": ""}],
            r"/a/b: inside /a, which is given with state file",
        ),
        (
            [{"path": "/a", "state": "absent"}, {"path": "/a/b", "state": "directory"}],
            "inside /a, which is given with state absent",
        ),
    ],
)
def test_validate_refuses(files: List[Dict[str, Any]], message: str) -> None:
    with pytest.raises(FilesError, match=message):
        validate_files(files)


def test_validate_defaults_and_lookups() -> None:
    specs = validate_files(
        [
            {"path": "/etc/a.conf", "content": "x\n"},
            {"path": "/srv/d/", "state": "directory", "owner": "www", "group": "adm", "mode": "2750"},
            {"path": "/etc/l", "state": "link", "src": "a.conf"},
            {"path": "/etc/gone", "state": "absent", "owner": "ignored-for-absent"},
        ],
        uid_of={"root": 0, "www": 33}.__getitem__,
        gid_of={"root": 0, "adm": 4}.__getitem__,
    )
    assert [(s.state, s.mode, s.uid, s.gid) for s in specs] == [
        ("file", 0o644, 0, 0),
        ("directory", 0o2750, 33, 4),
        ("link", None, 0, 0),
        ("absent", None, 0, 0),
    ]
    assert specs[0].content == b"x\n"
    assert (specs[1].path, specs[1].norm) == ("/srv/d/", "/srv/d")
    # numeric ids are accepted when no such name exists
    assert validate_files([{"path": "/f", "content": "", "owner": "12345", "group": "12346"}])[0].uid == 12345
    # nested entries under a directory entry are fine, in any order
    validate_files([{"path": "/a/b", "content": ""}, {"path": "/a", "state": "directory"}])


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


@needs_root
def test_file_created_with_parents_then_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "deep" / "x.conf"
    files = [{"path": str(target), "content": "hello\n", "mode": "0640"}]
    before = snapshot(tmp_path)
    p = plan(files)
    assert p.changed_paths == [str(target)]
    assert p.actions[0].missing_parents == [str(tmp_path / "etc"), str(tmp_path / "etc" / "deep")]
    assert snapshot(tmp_path) == before, "planning wrote something"

    assert converge(files) == [str(target)]
    assert target.read_text() == "hello\n"
    assert mode_of(target) == 0o640
    for parent in (tmp_path / "etc", tmp_path / "etc" / "deep"):
        assert mode_of(parent) == 0o755  # the umask 077 did not leak in
        assert (os.stat(parent).st_uid, os.stat(parent).st_gid) == (0, 0)
    assert sorted(os.listdir(target.parent)) == ["x.conf"], "temporary file left behind"
    assert mode_of(tmp_path / "etc") == 0o755


@needs_root
def test_default_file_mode_and_unicode(tmp_path: Path) -> None:
    target = tmp_path / "u.txt"
    converge([{"path": str(target), "content": "grüße\n"}])
    assert target.read_bytes() == "grüße\n".encode()
    assert mode_of(target) == 0o644


@needs_root
def test_force_false_creates_a_seed_once_and_then_leaves_it(tmp_path: Path) -> None:
    """force false (a seed): created when missing, then neither content, mode nor owner is compared."""
    target = tmp_path / "www" / "index.html"
    files = [{"path": str(target), "content": "seed\n", "mode": "0644", "force": False}]
    assert converge(files) == [str(target)]
    assert target.read_text() == "seed\n"
    target.write_text("edited by its users\n")
    os.chmod(target, 0o600)
    os.chown(target, NOBODY, NOBODY)
    p = plan(files)
    assert p.changed_paths == [] and plan_diffs(p) == []
    assert converge(files) == []
    assert target.read_text() == "edited by its users\n" and mode_of(target) == 0o600
    # a symlink or a directory there is still refused or replaced as with force true
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere")
    assert plan(files).changed_paths == [str(target)]
    target.unlink()
    target.mkdir()
    with pytest.raises(FilesError, match="exists as a directory"):
        plan(files)


@needs_root
def test_content_change_rewrites_atomically(tmp_path: Path) -> None:
    target = tmp_path / "x.conf"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    inode = os.stat(target).st_ino
    p = plan([{"path": str(target), "content": "new\n"}])
    assert p.actions[0].reasons == ["content"]
    assert plan_diffs(p) == [
        {"before_header": str(target), "after_header": str(target), "before": "old\n", "after": "new\n"}
    ]
    assert apply_plan(p) == [str(target)]
    assert target.read_text() == "new\n"
    assert os.stat(target).st_ino != inode, "not replaced by rename"
    assert os.listdir(tmp_path) == ["x.conf"]


@needs_root
def test_mode_and_ownership_fixed_in_place(tmp_path: Path) -> None:
    target = tmp_path / "x.conf"
    target.write_text("same\n")
    os.chmod(target, 0o600)
    os.chown(target, NOBODY, NOBODY)
    inode = os.stat(target).st_ino
    files = [{"path": str(target), "content": "same\n", "mode": "0644"}]
    p = plan(files)
    assert p.actions[0].reasons == ["mode", "ownership"]
    assert not p.actions[0].rewrite
    diff = plan_diffs(p)[0]
    assert diff["before"] == f"state: file\nmode: 0600\nowner: {NOBODY}\ngroup: {NOBODY}\n"
    assert diff["after"] == "state: file\nmode: 0644\nowner: 0\ngroup: 0\n"
    assert converge(files) == [str(target)]
    st = os.stat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino) == (0o644, 0, 0, inode)


@needs_root
def test_ownership_alone_is_a_change(tmp_path: Path) -> None:
    target = tmp_path / "x.conf"
    converge([{"path": str(target), "content": "a"}])
    os.chown(target, 0, NOBODY)
    assert plan([{"path": str(target), "content": "a"}]).actions[0].reasons == ["ownership"]
    # and a non-root owner is kept when asked for
    files = [{"path": str(target), "content": "a", "owner": str(NOBODY), "group": str(NOBODY)}]
    assert converge(files) == [str(target)]
    assert (os.stat(target).st_uid, os.stat(target).st_gid) == (NOBODY, NOBODY)


@needs_root
def test_file_replaces_a_symlink_but_not_a_directory(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("keep\n")
    link = tmp_path / "x.conf"
    link.symlink_to(real)
    assert converge([{"path": str(link), "content": "mine\n"}]) == [str(link)]
    assert not link.is_symlink() and link.read_text() == "mine\n"
    assert real.read_text() == "keep\n", "wrote through the link"

    (tmp_path / "dir").mkdir()
    with pytest.raises(FilesError, match="state file, but it exists as a directory"):
        plan([{"path": str(tmp_path / "dir"), "content": "x"}])


@needs_root
def test_conflict_later_in_the_list_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    files = [
        {"path": str(tmp_path / "a.conf"), "content": "a"},
        {"path": str(tmp_path / "dir"), "content": "x"},
    ]
    before = snapshot(tmp_path)
    with pytest.raises(FilesError, match="exists as a directory"):
        plan(files)
    assert snapshot(tmp_path) == before


def test_validate_runs_on_the_new_content_before_any_write(tmp_path: Path) -> None:
    """Every changed file's command sees its new content; a refusal later in the list changes nothing."""
    files = [
        {"path": str(tmp_path / "a.nft"), "content": "good", "validate": "check %s"},
        {"path": str(tmp_path / "same"), "content": "kept", "validate": "check %s"},
        {"path": str(tmp_path / "b.nft"), "content": "bad", "validate": "check --strict %s"},
    ]
    (tmp_path / "same").write_text("kept")
    (tmp_path / "same").chmod(0o644)
    seen: List[List[str]] = []

    def run(argv: List[str]) -> Any:
        content = Path(argv[-1]).read_text()
        seen.append(argv[:-1] + [content])
        return (1, "", "line 1: %s is bad" % argv[-1]) if content == "bad" else (0, "", "")

    before = snapshot(tmp_path)
    with pytest.raises(FilesError, match=r"b\.nft: the new content was refused by 'check --strict %s' \(rc 1\)") as exc:
        check_contents(plan(files), run)
    assert str(tmp_path / "b.nft") + " is bad" in str(exc.value)  # the temporary path is named as the real one
    assert seen == [["check", "good"], ["check", "--strict", "bad"]]  # an unchanged file is not validated
    assert snapshot(tmp_path) == before and not list(Path("/tmp").glob(".lvs-validate-*"))
    files[2]["content"] = "fine"
    p = plan(files)
    check_contents(p, run)
    assert apply_plan(p) == [files[0]["path"], files[2]["path"]]


@needs_root
def test_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(FilesError, match="not a directory"):
        plan([{"path": str(tmp_path / "f" / "x"), "content": ""}])


# ---------------------------------------------------------------------------
# directories, links, absent
# ---------------------------------------------------------------------------


@needs_root
def test_directory_created_and_mode_fixed(tmp_path: Path) -> None:
    d = tmp_path / "srv" / "www"
    assert converge([{"path": str(d), "state": "directory", "mode": "0750"}]) == [str(d)]
    assert d.is_dir() and mode_of(d) == 0o750
    os.chmod(d, 0o700)
    assert converge([{"path": str(d), "state": "directory", "mode": "0750"}]) == [str(d)]
    assert mode_of(d) == 0o750
    assert converge([{"path": str(d), "state": "directory", "mode": "0750"}]) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(FilesError, match="state directory, but it exists as a file"):
        plan([{"path": str(tmp_path / "f"), "state": "directory"}])


@needs_root
def test_directory_listed_after_its_file(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    files = [
        {"path": str(d / "a.conf"), "content": "a"},
        {"path": str(d), "state": "directory", "mode": "0700"},
    ]
    assert converge(files) == [str(d / "a.conf"), str(d)]
    assert mode_of(d) == 0o700


@needs_root
def test_links(tmp_path: Path) -> None:
    link = tmp_path / "wants" / "x.service"
    files = [{"path": str(link), "state": "link", "src": "/etc/systemd/system/x.service"}]
    assert converge(files) == [str(link)]
    assert os.readlink(link) == "/etc/systemd/system/x.service"
    files[0]["src"] = "../x.service"
    p = plan(files)
    assert p.actions[0].reasons == ["link target"]
    assert plan_diffs(p)[0]["after"] == "state: link\nsrc: ../x.service\nowner: 0\ngroup: 0\n"
    assert converge(files) == [str(link)]
    assert os.readlink(link) == "../x.service"
    assert sorted(os.listdir(link.parent)) == ["x.service"]
    os.lchown(link, NOBODY, NOBODY)
    assert plan(files).actions[0].reasons == ["ownership"]
    assert converge(files) == [str(link)]
    assert os.lstat(link).st_uid == 0

    (tmp_path / "plain").write_text("data")
    with pytest.raises(FilesError, match="state link, but it exists as a file"):
        plan([{"path": str(tmp_path / "plain"), "state": "link", "src": "/x"}])


@needs_root
def test_absent(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("bye\n")
    (tmp_path / "l").symlink_to("/nonexistent")
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    files = [{"path": str(tmp_path / name), "state": "absent"} for name in ("f", "l", "empty", "never-was", "full/x")]
    p = plan(files)
    assert p.changed_paths == [str(tmp_path / n) for n in ("f", "l", "empty", "full/x")]
    assert plan_diffs(p)[0] == {
        "before_header": str(tmp_path / "f"),
        "after_header": str(tmp_path / "f"),
        "before": "bye\n",
        "after": "",
    }
    assert converge(files) == p.changed_paths
    assert sorted(os.listdir(tmp_path)) == ["full"]
    (tmp_path / "full" / "y").write_text("")
    with pytest.raises(FilesError, match="non-empty directory"):
        plan([{"path": str(tmp_path / "full"), "state": "absent"}])


# ---------------------------------------------------------------------------
# the whole list
# ---------------------------------------------------------------------------


@needs_root
def test_only_the_changed_path_is_reported(tmp_path: Path) -> None:
    files: List[Dict[str, Any]] = [
        {"path": str(tmp_path / "modules-load.d" / "lvs.conf"), "content": "ip_vs\n"},
        {"path": str(tmp_path / "sysctl.d" / "90-lvs.conf"), "content": "net.ipv4.ip_forward = 1\n"},
        {"path": str(tmp_path / "system" / "x.service"), "content": "[Service]\n"},
        {"path": str(tmp_path / "wants" / "x.service"), "state": "link", "src": "../system/x.service"},
        {"path": str(tmp_path / "www"), "state": "directory"},
    ]
    assert converge(files) == [f["path"] for f in files]  # input order
    files[2]["content"] = "[Service]\nType=oneshot\n"
    p = plan(files)
    assert p.changed_paths == [str(tmp_path / "system" / "x.service")]
    assert [d["after_header"] for d in plan_diffs(p)] == p.changed_paths
    assert apply_plan(p) == p.changed_paths


@needs_root
def test_failure_halfway_reports_what_changed(tmp_path: Path) -> None:
    files = [
        {"path": str(tmp_path / "a.conf"), "content": "a"},
        {"path": str(tmp_path / "sub" / "b.conf"), "content": "b"},
        {"path": str(tmp_path / "c.conf"), "content": "c"},
    ]
    p = plan(files)
    (tmp_path / "sub").write_text("a file appeared where a directory is needed")
    with pytest.raises(FilesApplyError) as info:
        apply_plan(p)
    assert info.value.changed_paths == [str(tmp_path / "a.conf")]
    assert f"already changed: {tmp_path / 'a.conf'}" in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "sub" / "b.conf"))
    assert not (tmp_path / "c.conf").exists()


@needs_root
def test_binary_content_in_diff(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    target.write_bytes(b"\xff\xfe\x00")
    p = plan([{"path": str(target), "content": "text\n"}])
    assert plan_diffs(p)[0]["before"] == "(binary or non-UTF-8 content)\n"


# -- the one atomic writer: the directory is fsynced after the rename ---------------------------


def test_write_file_fsyncs_the_directory_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils import _files

    synced: List[Any] = []
    target = tmp_path / "f"
    monkeypatch.setattr(_files, "_fsync_dir", lambda d: synced.append((d, target.read_bytes())))
    _files.write_file(str(target), b"new\n", 0o600, -1, -1)
    assert synced == [(str(tmp_path), b"new\n")]  # called once the new file is in place


def test_write_file_keeps_the_owner_with_minus_one(tmp_path: Path) -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils._files import write_file

    target = tmp_path / "f"
    write_file(str(target), b"x", 0o640, -1, -1)
    st = target.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), os.getegid(), 0o640)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_ipvs_rules_file_writes_through_the_atomic_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ansible.module_utils.basic")
    from ansible_collections.lvs.cluster.plugins.module_utils import _files
    from ansible_collections.lvs.cluster.plugins.modules import ipvs_rules_file

    synced: List[str] = []
    monkeypatch.setattr(_files, "_fsync_dir", synced.append)
    path = tmp_path / "etc" / "ipvsadm.rules"
    ipvs_rules_file.write_atomic(str(path), "-A -t 192.0.2.1:80 -s wlc\n")
    assert path.read_text() == "-A -t 192.0.2.1:80 -s wlc\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert synced == [str(path.parent)]
    assert [p.name for p in path.parent.iterdir()] == ["ipvsadm.rules"]
