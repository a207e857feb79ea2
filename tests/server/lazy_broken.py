"""A module whose import fails, as one with a missing dependency does."""

raise RuntimeError("the report engine is not installed")
