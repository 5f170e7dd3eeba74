"""Shared test setup: tests run without a screen and with Keras on the torch backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
