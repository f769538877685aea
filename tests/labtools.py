"""Python handle on a running lab, shared by the pytest fixtures and molecule verifiers."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
LAB_PY = REPO / "tests" / "lab" / "lab.py"
COLLECTIONS = REPO / ".build" / "collections"


def ensure_collection_link() -> Path:
    """``ansible_collections/lvs/cluster`` -> this checkout, for ansible and imports."""
    link = COLLECTIONS / "ansible_collections" / "lvs" / "cluster"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(REPO, link)
        except FileExistsError:
            pass
    return COLLECTIONS


def lab_state_root() -> Path:
    return Path(os.environ.get("LVS_LAB_STATE", "/tmp/lvs-cluster-lab"))


def ansible_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    ensure_collection_link()
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "tests" / "lab" / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callback_plugins"),
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
        }
    )
    env.update(extra or {})
    return env


class LabHandle:
    """A running lab, driven through tests/lab/lab.py."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dir = lab_state_root() / name
        self.inventory = self.dir / "inventory.yml"
        self.control_dir = Path(tempfile.mkdtemp(prefix="lvs-cp-"))

    # -- lab verbs ---------------------------------------------------------
    def _lab(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(
            [sys.executable, str(LAB_PY), "--lab", self.name, *args], text=True, capture_output=True, check=False
        )
        if check and res.returncode != 0:
            raise RuntimeError("lab.py %s failed:\n%s%s" % (" ".join(args), res.stdout, res.stderr))
        return res

    def up(self, topology: Path, reuse: bool = False) -> None:
        self._lab("up", str(topology), *(["--reuse"] if reuse else []))

    def down(self) -> None:
        self.release()
        self._lab("down", check=False)

    def release(self) -> None:
        """Stop the SSH control masters and remove their directory (the handle is done)."""
        self.close_connections()
        shutil.rmtree(self.control_dir, ignore_errors=True)

    def reboot(self, host: str) -> None:
        self.close_connections()
        self._lab("reboot", host)

    def stop(self, host: str) -> None:
        self._lab("stop", host)

    def start(self, host: str) -> None:
        self._lab("start", host)

    def hosts(self) -> Dict[str, Any]:
        data = json.loads((self.dir / "lab.json").read_text())
        return {h["name"]: h for h in data["hosts"]}

    # -- commands ----------------------------------------------------------
    def ssh(self, host: str, cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        res = subprocess.run(self._ssh_argv(host, cmd), text=True, capture_output=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError("%s: %r failed (%d):\n%s%s" % (host, cmd, res.returncode, res.stdout, res.stderr))
        return res

    def upload(self, host: str, files: Dict[str, Path], guest_dir: str) -> None:
        """Put ``{relative path in guest_dir: local file}`` into a fresh ``guest_dir`` (tar over SSH)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, local in sorted(files.items()):
                tar.add(str(local), arcname=name)
        where = shlex.quote(guest_dir)
        cmd = f"rm -rf {where} && mkdir -p {where} && tar xzf - -C {where}"
        res = subprocess.run(
            self._ssh_argv(host, cmd), input=buf.getvalue(), capture_output=True, timeout=120, check=False
        )
        if res.returncode != 0:
            raise AssertionError("%s: upload to %s failed (%d): %r" % (host, guest_dir, res.returncode, res.stderr))

    def _ssh_argv(self, host: str, cmd: str) -> List[str]:
        info = self.hosts()[host]
        key = Path(os.environ.get("LVS_LAB_CACHE", Path.home() / ".cache" / "lvs-cluster-lab")) / "ssh" / "id_ed25519"
        argv = [
            "ssh",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPath=%s/%%C" % self.control_dir,
            "-o",
            "ControlPersist=60s",
            "-i",
            str(key),
            "-p",
            str(info["ssh_port"]),
            "root@127.0.0.1",
            cmd,
        ]
        return argv

    def netns(self, cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        res = subprocess.run(
            ["ip", "netns", "exec", "lvslab-" + self.name, "sh", "-c", cmd],
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            raise AssertionError("netns: %r failed (%d):\n%s%s" % (cmd, res.returncode, res.stdout, res.stderr))
        return res

    def close_connections(self) -> None:
        """Stop the SSH control masters this handle started (by their sockets)."""
        for sock in list(self.control_dir.glob("*")):
            subprocess.run(["ssh", "-o", "ControlPath=%s" % sock, "-O", "exit", "x"], capture_output=True, check=False)
            sock.unlink(missing_ok=True)

    # -- ansible -----------------------------------------------------------
    def _env(self, result_file: Optional[str] = None) -> Dict[str, str]:
        extra = {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir)}
        if result_file:
            extra.update(
                {
                    "LAB_RESULT_FILE": result_file,
                    "ANSIBLE_CALLBACKS_ENABLED": "lab_result",
                    "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                }
            )
        return ansible_env(extra)

    def playbook(
        self,
        path: Path | str,
        extra_vars: Optional[Dict[str, Any]] = None,
        check: bool = False,
        args: Optional[List[str]] = None,
        inventory: Optional[Path] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> subprocess.CompletedProcess:
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory or self.inventory),
            str(path),
        ]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv += ["--check"]
        argv += args or []
        return subprocess.run(
            argv, text=True, capture_output=True, env={**self._env(), **(env or {})}, cwd=str(REPO), check=False
        )

    def module(
        self, host: str, module: str, args: Dict[str, Any], check: bool = False, diff: bool = False
    ) -> Dict[str, Any]:
        """Run one module on one host; return its result dict (``failed`` set on failure)."""
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
            argv = [
                str(Path(sys.executable).parent / "ansible"),
                "-i",
                str(self.inventory),
                host,
                "-m",
                module,
                "-a",
                json.dumps(args),
                "-o",
            ]
            if check:
                argv.append("--check")
            if diff:
                argv.append("--diff")
            proc = subprocess.run(
                argv, text=True, capture_output=True, env=self._env(out.name), cwd=str(REPO), check=False
            )
            lines = [json.loads(line) for line in Path(out.name).read_text().splitlines() if line.strip()]
        if not lines:
            raise AssertionError("no result from %s on %s:\n%s%s" % (module, host, proc.stdout, proc.stderr))
        result: Dict[str, Any] = lines[-1]["result"]
        if lines[-1]["status"] != "ok":
            result.setdefault("failed", True)
        return result

    def four_steps(self, host: str, module: str, args: Dict[str, Any]) -> List[Dict[str, Any]]:
        """check (changed), apply (changed), repeat (unchanged), repeat in check mode (unchanged)."""
        results = [
            self.module(host, module, args, check=True, diff=True),
            self.module(host, module, args, diff=True),
            self.module(host, module, args, diff=True),
            self.module(host, module, args, check=True, diff=True),
        ]
        for step, res in zip(("check", "apply", "repeat", "repeat-check"), results):
            assert not res.get("failed"), "%s step of %s failed: %s" % (step, module, res.get("msg", res))
        assert [r.get("changed") for r in results] == [True, True, False, False], [
            (r.get("changed"), r.get("msg")) for r in results
        ]
        return results


def shell_quote(cmd: str) -> str:
    return shlex.quote(cmd)
