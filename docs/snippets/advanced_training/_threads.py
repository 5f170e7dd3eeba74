"""One thread for the tiny models of these pages, restored afterwards (no process-wide change)."""

from contextlib import contextmanager

import torch


@contextmanager
def one_thread():
    """Run a tiny model on one thread: as fast as two at this size, and on a shared machine
    immune to the stalls of threads waiting for each other (and the same numbers everywhere)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
