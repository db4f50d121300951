"""`python -m tests.worker.launch_apart API_URL SCOPE COMMAND...`: the launcher in a process of
its own, printing `started <run id> <target>` and then `result <json>`.

For tests whose workers run in the test's process: a worker reaps the processes it killed
when they are its own children, so the launcher that waits for them must be another process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from uuid import UUID

from schemas.infrastructure import InfrastructureId
from schemas.states import StateType
from services.launcher.process import LaunchResult, launch_process

ROOT = Path(__file__).parents[2]


async def launch_apart(
    command: Sequence[str],
    *,
    api_url: str,
    scope: str,
    on_started: Callable[[UUID, InfrastructureId], None],
) -> LaunchResult:
    """`launch_process` run by this module in a child process; the same result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        api_url,
        scope,
        *command,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async for line in proc.stdout:
            word, _, rest = line.decode().strip().partition(" ")
            if word == "started":
                run_id, target = rest.split(" ", 1)
                on_started(UUID(run_id), InfrastructureId.parse(target))
            elif word == "result":
                fields = json.loads(rest)
                state = StateType(fields["state"]) if fields["state"] else None
                return LaunchResult(
                    UUID(fields["flow_run_id"]), state, fields["returncode"], fields["exit_code"]
                )
        raise AssertionError(f"the launcher exited with {await proc.wait()} and no result")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def main(api_url: str, scope: str, *command: str) -> None:
    def started(run_id: UUID, target: InfrastructureId) -> None:
        print("started", run_id, target, flush=True)

    result = asyncio.run(launch_process(command, api_url=api_url, scope=scope, on_started=started))
    print("result", json.dumps(dataclasses.asdict(result), default=str), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
