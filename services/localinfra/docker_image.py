"""A tiny test image built FROM scratch with a static busybox (no registry is reachable here).

One image, the command chosen per container:

- `EXITS_ON_SIGTERM`: a shell that exits 0 at once on SIGTERM;
- `IGNORES_SIGTERM`: a shell that ignores SIGTERM (only SIGKILL stops it);
- `SLEEP`: busybox `sleep` as PID 1, which also ignores SIGTERM, because the kernel does not
  apply default signal actions to a namespace's PID 1 that has installed no handler.

Every busybox applet is linked into /bin, so `sh`, `sleep`, `echo`... are on Docker's PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from services.localinfra.processes import InfraStartError

TEST_IMAGE = "cancelbus-test/busybox:1"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))

EXITS_ON_SIGTERM = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1000 & wait $!; done"]
IGNORES_SIGTERM = ["sh", "-c", "trap '' TERM; while :; do sleep 1000 & wait $!; done"]
SLEEP = ["sleep", "1000"]

_DOCKERFILE = """\
FROM scratch
COPY bin/ /bin/
CMD ["sleep", "1000"]
"""


def build_test_image(docker_url: str, tag: str = TEST_IMAGE) -> str:
    """Build the busybox image on the engine at `docker_url`; return its tag."""
    import docker  # imported here: no client library work at import

    busybox = find_static_busybox()
    with tempfile.TemporaryDirectory(prefix="cancelbus-image-") as context:
        bin_dir = Path(context) / "bin"
        bin_dir.mkdir()
        shutil.copy2(busybox, bin_dir / "busybox")
        for applet in _applets(busybox):
            if applet != "busybox":
                os.symlink("busybox", bin_dir / applet)
        (Path(context) / "Dockerfile").write_text(_DOCKERFILE)
        with contextlib.closing(docker.DockerClient(base_url=docker_url, timeout=120)) as client:
            client.images.build(path=context, tag=tag, rm=True, network_mode="none")
    return tag


def find_static_busybox() -> Path:
    for path in BUSYBOX_CANDIDATES:
        if path.is_file() and is_static_elf(path):
            return path
    raise InfraStartError(
        "no statically linked busybox found at "
        f"{', '.join(map(str, BUSYBOX_CANDIDATES))}: install Debian's busybox-static "
        "(scripts/ensure-system-deps.sh does, as root)"
    )


def is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF without a program interpreter (PT_INTERP)."""
    with path.open("rb") as f:
        header = f.read(64)
        if header[:6] != b"\x7fELF\x02\x01":
            return False
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def _applets(busybox: Path) -> list[str]:
    done = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=10
    )
    return [name for name in done.stdout.split() if name and "/" not in name]
