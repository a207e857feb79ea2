"""``django_main``: Django set up from ``-s``/``--settings`` or ``DJANGO_SETTINGS_MODULE``,
then the server's ``main()``, in a process of its own as a service would run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SETTINGS_MODULE = "tests.server.django.django_settings"

SERVICE = """
import json, os, sys
from django.apps import apps
from servicewire import Server
from servicewire.server.django import DjangoServer, django_main

class Service(Server):
    service_name = "djangoish"

    @classmethod
    def main(cls):
        from django.conf import settings
        print(json.dumps({
            "settings_module": os.environ["DJANGO_SETTINGS_MODULE"],
            "marker": settings.MARKER,
            "with_django_hooks": issubclass(cls, DjangoServer),
            "name": cls.__name__,
            "argv": sys.argv[1:],
            "apps_ready_for_getter": READY[0],
        }))

READY = []

def get_server():
    READY.append(apps.ready)
    return Service

django_main(get_server)
"""


def run_service(*arguments: str, settings_variable: str | None = None) -> Any:
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    if settings_variable:
        environment["DJANGO_SETTINGS_MODULE"] = settings_variable
    return subprocess.run(
        [sys.executable, "-c", SERVICE, *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_settings_argument_sets_django_up_before_main_runs() -> None:
    completed = run_service("-s", SETTINGS_MODULE, "--fork", "2")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "settings_module": SETTINGS_MODULE,
        "marker": "servicewire test settings",
        "with_django_hooks": True,
        "name": "Service",
        "argv": ["-s", SETTINGS_MODULE, "--fork", "2"],
        "apps_ready_for_getter": True,
    }


def test_the_long_settings_argument_works_too() -> None:
    completed = run_service(f"--settings={SETTINGS_MODULE}")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["marker"] == "servicewire test settings"


def test_the_environment_variable_names_the_settings_without_an_argument() -> None:
    completed = run_service(settings_variable=SETTINGS_MODULE)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["settings_module"] == SETTINGS_MODULE


def test_without_settings_the_service_exits_with_an_error() -> None:
    completed = run_service()
    assert completed.returncode != 0
    assert "-s/--settings or set DJANGO_SETTINGS_MODULE" in completed.stderr
    assert completed.stdout == ""
