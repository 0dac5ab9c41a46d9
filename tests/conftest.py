"""Tests never touch the user's cache: the expression cache lives in a per-session temporary dir."""

import os
import tempfile

os.environ["SYMROOF_CACHE_DIR"] = tempfile.mkdtemp(prefix="symroof-test-cache-")
