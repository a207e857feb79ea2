"""What the lazily imported test modules report: how often they were imported, and a latch
that holds their import until the test releases it."""

from __future__ import annotations

import threading

imports = 0
importing = threading.Event()
release = threading.Event()
release.set()
