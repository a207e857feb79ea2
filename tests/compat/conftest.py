"""PySOA code is run by the tests here, not collected: it imports ``pysoa``."""

collect_ignore = ["pysoa_code", "pysoa_side"]
