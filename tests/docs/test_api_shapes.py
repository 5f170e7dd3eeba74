"""The API reference promises a ``Shape:`` section for every public function and class.

Walks the ``__all__`` of the four subpackages and checks each public function and class
docstring for ``Shape:``. Objects that take and return no arrays at all are listed, with the
reason, in ``NO_ARRAYS``; that list is checked too, so it cannot go stale: every name in it
must exist, and none of them may have a ``Shape:`` section (then it belongs off the list).
"""

from __future__ import annotations

import importlib
import inspect

SUBPACKAGES = (
    "transformer_anatomy.numpy",
    "transformer_anatomy.torch",
    "transformer_anatomy.tasks",
    "transformer_anatomy.training",
)

NO_ARRAYS = {
    "transformer_anatomy.numpy.StateDictError",  # exception class
    "transformer_anatomy.numpy.TokenIdError",  # exception class
    "transformer_anatomy.torch.StateDictError",  # exception class
    "transformer_anatomy.torch.num_parameters",  # nn.Module -> int
    "transformer_anatomy.tasks.grammar_bow_ceiling",  # () -> float
    "transformer_anatomy.tasks.headline",  # metric and baseline dicts -> dict of floats
    "transformer_anatomy.tasks.number_to_digits",  # int -> list[str]
    "transformer_anatomy.tasks.number_to_words",  # int -> list[str]
    "transformer_anatomy.tasks.sentence_label",  # str | list[str] -> int
    "transformer_anatomy.tasks.words_to_number",  # str | list[str] -> int
    "transformer_anatomy.training.CheckpointError",  # exception class
    "transformer_anatomy.training.TrainConfig",  # dataclass of scalar hyperparameters
    "transformer_anatomy.training.atomic_write",  # path + byte-writer callback -> Path
    "transformer_anatomy.training.resolve_device",  # str -> str
    "transformer_anatomy.training.seed_everything",  # int -> None
}


def public_api() -> dict[str, object]:
    """Every public function and class (``__all__``) of the four subpackages, by qualified name."""
    found: dict[str, object] = {}
    for modname in SUBPACKAGES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or callable(obj):  # functions, classes, lru_cache wrappers
                found[f"{modname}.{name}"] = obj
    return found


def own_doc(obj: object) -> str:
    """The object's own docstring, cleaned (``inspect.getdoc`` would inherit a base class's)."""
    return (inspect.getdoc(obj) or "") if getattr(obj, "__doc__", None) else ""


def test_every_public_function_and_class_has_a_shape_section():
    missing = sorted(
        q for q, obj in public_api().items() if q not in NO_ARRAYS and "Shape:" not in own_doc(obj)
    )
    assert not missing, f"public names without a 'Shape:' section in their docstring: {missing}"


def test_every_public_function_and_class_has_its_own_docstring():
    undocumented = sorted(q for q, obj in public_api().items() if not own_doc(obj).strip())
    assert not undocumented, f"public names without a docstring: {undocumented}"


def test_no_arrays_names_exist():
    api = public_api()
    stale = sorted(q for q in NO_ARRAYS if q not in api)
    assert not stale, f"NO_ARRAYS names that are no public function or class (remove them): {stale}"


def test_no_arrays_names_have_no_shape_section():
    api = public_api()
    shaped = sorted(q for q in NO_ARRAYS if q in api and "Shape:" in own_doc(api[q]))
    assert not shaped, f"these have a 'Shape:' section; remove them from NO_ARRAYS: {shaped}"
