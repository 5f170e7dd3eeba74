"""Shared settings for the torch tests: tiny tensors, so one intra-op thread per test process
(pytest-xdist runs one process per core; more threads would only oversubscribe the cores)."""

import torch

torch.set_num_threads(1)
