"""The cancelling timeout: our variable, Prefect's name as an alias (ours wins), bad values."""

from __future__ import annotations

import os
import subprocess

import pytest
from pydantic import ValidationError

from services.localinfra.service_process import CANCELBUS
from services.timeout.settings import (
    PREFECT_TIMEOUT_ENV,
    TIMEOUT_ENV,
    TimeoutSettings,
    settings_error,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    monkeypatch.delenv(PREFECT_TIMEOUT_ENV, raising=False)


def test_the_default_is_five_minutes() -> None:
    assert TimeoutSettings().cancelling_timeout_seconds == 300


def test_our_variable_sets_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "42.5")
    assert TimeoutSettings().cancelling_timeout_seconds == 42.5


def test_prefects_name_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFECT_TIMEOUT_ENV, "120")
    assert TimeoutSettings().cancelling_timeout_seconds == 120


def test_ours_wins_when_both_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFECT_TIMEOUT_ENV, "120")
    monkeypatch.setenv(TIMEOUT_ENV, "7")
    assert TimeoutSettings().cancelling_timeout_seconds == 7


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf", "nan"])
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(ValidationError) as caught:
        TimeoutSettings()
    message = settings_error(caught.value)
    assert message.startswith(f"{TIMEOUT_ENV}: ")
    assert repr(value) in message
    assert "\n" not in message


def run_timeout_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (TIMEOUT_ENV, PREFECT_TIMEOUT_ENV)}
    return subprocess.run(
        [CANCELBUS, "timeout"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_service_refuses_to_start_with_a_bad_timeout() -> None:
    done = run_timeout_command({TIMEOUT_ENV: "0"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {TIMEOUT_ENV}: Input should be greater than 0 (got '0')"
    ]


def test_a_bad_value_under_prefects_name_is_reported_under_that_name() -> None:
    done = run_timeout_command({PREFECT_TIMEOUT_ENV: "five minutes"})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {PREFECT_TIMEOUT_ENV}: Input should be a valid number")
