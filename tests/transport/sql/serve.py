"""Run a test server in this process until SIGTERM:
``python -m tests.transport.sql.serve package.module:ServerClass '<settings as JSON>'``."""

from __future__ import annotations

import json
import sys

from examples.serving import serve

from servicewire.settings import import_path

if __name__ == "__main__":
    serve(import_path(sys.argv[1]), json.loads(sys.argv[2]))
