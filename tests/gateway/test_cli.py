"""``servicewire gateway`` as an operator runs it: a real process serving the exposed actions
of services over SQLite until SIGTERM; its usage errors; and the core package never
importing the gateway's dependencies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.gateway.deployments import Deployment
from tests.support.processes import DEADLINE, ROOT
from tests.support.services import free_port
from tests.support.waiting import wait_until


def gateway_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "servicewire.cli", "gateway", *arguments]


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/openapi.json", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_the_command_serves_the_exposed_actions_until_sigterm(
    sqlite_gateway_deployment: Deployment, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = sqlite_gateway_deployment.client_transport["kwargs"]["url"]
    output = tmp_path / "gateway.log"
    with open(output, "wb") as log:
        process = subprocess.Popen(
            gateway_command(
                "--transport", database, "--expose", "shop:divide", "--port", str(port)
            ),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: answers(url) or process.poll() is not None, "the gateway to answer")
        assert process.poll() is None, output.read_text()
        response = httpx.post(f"{url}/shop/divide", json={"dividend": 8, "divisor": 4})
        assert response.json() == {"quotient": 2.0}
        assert httpx.post(f"{url}/shop/nap", json={}).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(DEADLINE)
    # uvicorn finishes the requests under way, shuts the application down (closing its
    # clients), then ends by the signal it was sent, as a process killed by it would.
    assert status == -signal.SIGTERM, output.read_text()
    assert "Application shutdown complete" in output.read_text()


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        ((), 2, "Missing option '--expose'"),
        (("--expose", ":divide"), 2, "--expose: ':divide' names no service"),
        (("--expose", "shop", "--timeout", "0"), 2, "--timeout"),
        (("--expose", "shop", "--transport", "ftp://x"), 3, "unknown scheme 'ftp'"),
        (("--expose", "shop", "--auth-file", "missing.json"), 3, "Cannot read settings file"),
    ],
    ids=["no-expose", "bad-expose", "bad-timeout", "bad-transport", "missing-auth-file"],
)
def test_usage_and_settings_errors_end_with_their_status(
    arguments: tuple[str, ...], status: int, message: str
) -> None:
    finished = subprocess.run(
        gateway_command(*arguments),
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert finished.returncode == status
    assert message in finished.stderr


def test_an_auth_file_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"tokens": {}}))
    finished = subprocess.run(
        gateway_command("--expose", "shop", "--auth-file", str(auth)),
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert finished.returncode == 3
    assert "bearer_tokens, signature_max_age_in_seconds, signing_keys" in finished.stderr


def test_the_core_package_and_the_command_line_do_not_import_starlette() -> None:
    check = (
        "import sys, servicewire, servicewire.cli, servicewire.cli.gateway; "
        "loaded = [m for m in ('starlette', 'uvicorn') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=True, timeout=DEADLINE)
