"""Print the source of a function or class of our library (for code with no named section)."""

import inspect
import textwrap


def show(obj):
    """Print ``obj``'s source exactly as it is in ``src/``, dedented."""
    print(textwrap.dedent(inspect.getsource(obj)).rstrip())
