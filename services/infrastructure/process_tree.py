"""Stop a process tree without ever signalling a reused PID.

Each process is held by a pidfd (Linux 5.3+) opened while its start time still matched, so
signals and exit waits reach exactly that process even if its PID is recycled meanwhile.
The tree: SIGTERM to the root's process group (only when the root leads its own group) and
to every descendant; wait the grace period; SIGKILL whatever is left, including children
born during the grace period; wait until all have exited. An exited process (a zombie
included) counts as gone; the worker's own dead children are reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
from collections.abc import Iterable
from pathlib import Path

import psutil

from services.infrastructure.errors import InfrastructureError

KILL_WAIT_SECONDS = 10.0


def child_pids(pid: int) -> list[int]:
    """Direct children, from /proc/<pid>/task/*/children (no scan of every process)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        with contextlib.suppress(psutil.Error):
            return [c.pid for c in psutil.Process(pid).children()]
    return found


class PinnedProcess:
    """One process held by a pidfd."""

    def __init__(self, proc: psutil.Process, fd: int) -> None:
        self.proc = proc
        self.fd = fd

    @classmethod
    def pin(cls, proc: psutil.Process) -> PinnedProcess | None:
        """Hold `proc` if it is still that process and has not exited; None otherwise."""
        try:
            fd = os.pidfd_open(proc.pid)
        except (ProcessLookupError, OSError):
            return None
        pinned = cls(proc, fd)
        # The PID may have been reused before pidfd_open: is_running compares start times.
        if not proc.is_running() or pinned.exited():
            pinned.close()
            return None
        return pinned

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> bool:
        poller = select.poll()  # not select(): pidfds go beyond 1024 in a burst
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(0))

    def send(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.fd, sig)

    async def wait_exit(self) -> None:
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(self.fd, on_exit)
        try:
            await exited
        finally:
            loop.remove_reader(self.fd)

    def reap_if_ours(self) -> None:
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if self.proc.ppid() == os.getpid():
                os.waitpid(self.pid, os.WNOHANG)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def pin_descendants(roots: Iterable[PinnedProcess], known: set[int]) -> list[PinnedProcess]:
    """Pin every descendant of `roots` whose PID is not in `known` (updated)."""
    found: list[PinnedProcess] = []
    queue = [r.pid for r in roots]
    while queue:
        for pid in child_pids(queue.pop()):
            if pid in known:
                continue
            known.add(pid)
            queue.append(pid)
            with contextlib.suppress(psutil.Error):
                pinned = PinnedProcess.pin(psutil.Process(pid))
                if pinned is not None:
                    found.append(pinned)
    return found


async def _all_exit(procs: list[PinnedProcess], within: float) -> list[PinnedProcess]:
    """Wait up to `within` seconds for every process to exit; return those still running."""
    alive = [p for p in procs if not p.exited()]
    if not alive:
        return []
    waits = {asyncio.ensure_future(p.wait_exit()): p for p in alive}
    _, pending = await asyncio.wait(waits, timeout=within)
    for task in pending:
        task.cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    return [waits[t] for t in pending]


def _signal_tree(root: PinnedProcess, procs: list[PinnedProcess], sig: signal.Signals) -> None:
    # The group reaches members we never saw; only while the root (its leader) is alive,
    # so the group id cannot belong to anyone else, and never our own group.
    with contextlib.suppress(OSError):
        if not root.exited() and os.getpgid(root.pid) == root.pid != os.getpgrp():
            os.killpg(root.pid, sig)
    for proc in procs:
        proc.send(sig)


async def terminate_tree(root: PinnedProcess, grace_seconds: float, *, reap: bool = True) -> None:
    """SIGTERM the tree, wait the grace, SIGKILL what remains, confirm all have exited."""
    known = {root.pid}
    tree = [root, *pin_descendants([root], known)]
    try:
        _signal_tree(root, tree, signal.SIGTERM)
        alive = await _all_exit(tree, grace_seconds)
        if alive:
            late = pin_descendants(alive, known)
            tree.extend(late)
            alive.extend(late)
            _signal_tree(root, alive, signal.SIGKILL)
            alive = await _all_exit(alive, KILL_WAIT_SECONDS)
            if alive:
                pids = ", ".join(str(p.pid) for p in alive)
                raise InfrastructureError(f"still running after SIGKILL: pid {pids}")
        # An asyncio caller that awaits its own child (a launcher) reaps it itself.
        for proc in tree if reap else ():
            proc.reap_if_ours()
    finally:
        for proc in tree[1:]:
            proc.close()
