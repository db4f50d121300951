"""The static-token credentials of the local API server: its token file and one kubeconfig per user.

`admin` is in `system:masters`; every other user has no bindings until a test grants some.
"""

from __future__ import annotations

import secrets
from pathlib import Path

ADMIN = "admin"


def new_tokens(users: tuple[str, ...]) -> dict[str, str]:
    """A fresh random token for `admin` and for each of `users`."""
    return {name: secrets.token_hex(16) for name in (ADMIN, *users)}


def write_token_file(path: Path, tokens: dict[str, str]) -> None:
    """kube-apiserver's `--token-auth-file`: token, user, uid[, groups], readable by us only."""
    path.write_text(
        "".join(
            f'{token},{user},{user},"system:masters"\n'
            if user == ADMIN
            else f"{token},{user},{user}\n"
            for user, token in tokens.items()
        )
    )
    path.chmod(0o600)


def write_kubeconfigs(folder: Path, tokens: dict[str, str], *, url: str, ca_file: Path) -> None:
    """`<folder>/<user>.yaml` for every user: the server, its CA and the user's token."""
    folder.mkdir()
    for user, token in tokens.items():
        path = folder / f"{user}.yaml"
        path.write_text(
            f"""\
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {url}
    certificate-authority: {ca_file}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: {user}@local
  context:
    cluster: local
    user: {user}
current-context: {user}@local
"""
        )
        path.chmod(0o600)
