"""The NumPy module pattern: parameters, gradients, train/eval and state dicts.

Every layer in :mod:`transformer_anatomy.numpy` is a :class:`Module`. A module owns its
parameters (``params``) and, after ``backward``, their gradients (``grads``); both are dicts
keyed exactly like the ``state_dict`` keys of the matching PyTorch module, so a
``torch.nn.Transformer`` state dict loads with ``strict=True``.

``forward`` stores what ``backward`` needs in one typed cache per module (a ``NamedTuple``
such as :class:`~transformer_anatomy.numpy.attention.AttentionCache`: the input of a
``Linear``, the normalised input of a ``LayerNorm``, the attention probabilities of an
attention layer), with :meth:`Module._forwarded`; ``backward`` reads it with
:meth:`Module._cached`, which raises :class:`BackwardError` when no forward ran. A second
``forward`` replaces the cache (inference and numerical gradient checks call ``forward`` many
times without a ``backward``), so ``backward`` always differentiates the latest ``forward``.
``backward`` overwrites the gradients; it does not accumulate.

Page: ``docs/backprop.md``.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator, Mapping

import numpy as np

from transformer_anatomy.modes import eval_mode  # noqa: F401  (one home for both backends)
from transformer_anatomy.errors import (  # noqa: F401  (the error classes are re-exported here)
    BackwardError,
    BackwardShapeError,
    StateDictError,
    check_positive_int,
    check_state_dict,
)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise ``ValueError``."""
    dt = np.dtype(dtype)
    if dt not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def make_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``np.random.Generator`` from a generator (returned as is), a seed, or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def check_positive(name: str, value: int) -> int:
    """``int(value)`` if it is a positive integer; else ``ValueError`` (``<= 0``) or
    ``TypeError`` (a bool, a float, a string) naming ``name`` (see
    :func:`transformer_anatomy.errors.check_positive_int`, shared with the torch backend)."""
    return check_positive_int(name, value)


def as_float_input(name: str, x: Any, dtype: np.dtype) -> np.ndarray:
    """``x`` as an array of the module's ``dtype``: the boundary rule for NumPy modules.

    A real floating array of another precision (float16, float64 into a float32 module, or
    float32 into a float64 one) is cast to ``dtype``, so the output and every gradient have
    the module's dtype (as ``Module.load_state_dict`` casts values). Anything else — integers,
    bools, complex numbers, objects, strings — is refused: a ``TypeError`` that names both
    dtypes, ``"src has dtype complex128, the model is float32 (expected a real floating
    array)"``. (torch refuses any dtype mismatch; casting floats keeps the documented uses that
    feed float64 data to a float32 model working.)
    """
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {x.dtype}, the model is {np.dtype(dtype)} (expected a real floating array)"
        )
    return x if x.dtype == dtype else x.astype(dtype)


def num_parameters(module: "Module") -> int:
    """Number of scalars in ``module``'s parameters; a tied array counts once (the torch
    backend's function of the same name; also the method :meth:`Module.num_parameters`).

    Shape:
        module: any :class:`Module` -> int.

    Examples:
        >>> from transformer_anatomy.numpy import Linear
        >>> num_parameters(Linear(4, 3))  # 4 * 3 weights + 3 biases
        15
    """
    return module.num_parameters()


class Module:
    """Base class: a tree of modules with parameters, gradients and a train/eval flag.

    Examples:
        >>> from transformer_anatomy.numpy import Linear
        >>> lin = Linear(3, 2, rng=0)
        >>> sorted(lin.params), lin.num_parameters()
        (['bias', 'weight'], 8)
        >>> y = lin(np.ones((4, 3)))
        >>> dx = lin.backward(np.ones_like(y))
        >>> lin.grads["bias"].tolist()
        [4.0, 4.0]

    Sub-modules assigned as attributes are registered in order (as in ``torch.nn.Module``),
    so ``params`` of a ``TransformerEncoderLayer`` has the keys ``self_attn.in_proj_weight``,
    ..., ``norm2.bias``. Parameters are registered with :meth:`register_parameter` and read
    as attributes (``self.weight``).

    ``params`` and ``grads`` are dicts built on access; their arrays are the module's own
    arrays, so an optimizer that updates ``params[k]`` in place updates the module. An array
    shared by two modules (tied weights) appears once in ``params`` (under its first name, as
    ``named_parameters`` in PyTorch) but under every name in :meth:`state_dict`.

    Shape:
        defined by each subclass: ``forward`` inputs -> outputs, ``backward`` output
        gradients -> input gradients (same shapes as the inputs).
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_grads", {})
        object.__setattr__(self, "_modules", {})
        self.training = True

    # -- registration -------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: parameters live in self._params
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def register_parameter(self, name: str, value: np.ndarray) -> None:
        """Register ``value`` as parameter ``name`` with a zero gradient of the same shape."""
        self._params[name] = value
        self._grads[name] = np.zeros_like(value)

    # -- traversal ----------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """Yield ``(name, module)`` for this module and every descendant, depth first."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}{name}.")

    def _named_tensors(self, which: str, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name, value in getattr(self, which).items():
            yield prefix + name, value
        for name, child in self._modules.items():
            yield from child._named_tensors(which, f"{prefix}{name}.")

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(key, array)`` for every parameter; a shared array only under its first key."""
        seen: set[int] = set()
        for key, value in self._named_tensors("_params"):
            if id(value) not in seen:
                seen.add(id(value))
                yield key, value

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Parameter name -> array (the module's own arrays, not copies)."""
        return dict(self.named_parameters())

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Parameter name -> gradient from the last ``backward``; same keys as ``params``."""
        keys = set(self.params)
        return {k: g for k, g in self._named_tensors("_grads") if k in keys}

    def num_parameters(self) -> int:
        """The number of scalars in the parameters; a tied array counts once (as
        ``sum(p.numel() for p in torch_module.parameters())``).

        Examples:
            >>> from transformer_anatomy.numpy import LayerNorm
            >>> LayerNorm(8).num_parameters()
            16
        """
        return int(sum(p.size for _, p in self.named_parameters()))

    @property
    def dtype(self) -> np.dtype:
        """The floating dtype of the parameters (float32 unless converted)."""
        for _, p in self._named_tensors("_params"):
            return p.dtype
        return self.__dict__.get("_dtype", np.dtype(np.float32))

    # -- modes --------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active) on this module and all descendants."""
        for _, m in self.named_modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        """Set evaluation mode (dropout off); returns ``self``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Set every gradient to zero (in place)."""
        for _, g in self._named_tensors("_grads"):
            g[...] = 0

    def to(self, dtype: Any) -> "Module":
        """Cast every parameter and gradient to ``dtype`` (float32 or float64); returns ``self``.

        Tied parameters stay tied.
        """
        dt = check_dtype(dtype)
        cast: dict[int, np.ndarray] = {}
        for _, m in self.named_modules():
            for name, p in m._params.items():
                if id(p) not in cast:
                    cast[id(p)] = np.ascontiguousarray(p, dtype=dt).copy()
                m._params[name] = cast[id(p)]
                m._grads[name] = np.zeros_like(cast[id(p)])
            object.__setattr__(m, "_dtype", dt)
            if hasattr(m, "_on_dtype_change"):
                m._on_dtype_change(dt)
        return self

    # -- state dicts --------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters keyed like the PyTorch ``state_dict`` (tied ones twice)."""
        return {k: v.copy() for k, v in self._named_tensors("_params")}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Copy values into the parameters in place.

        Values may be NumPy arrays or anything ``np.asarray`` accepts (CPU torch tensors from
        ``module.state_dict()``); they are cast to the parameters' dtype.

        Raises:
            StateDictError: with ``strict=True`` if keys are missing or unexpected, and always
                if a value has the wrong shape; the message lists every offending key.
        """
        own = dict(self._named_tensors("_params"))
        check_state_dict(type(self).__name__, {k: v.shape for k, v in own.items()}, state_dict, strict)
        values = {k: np.asarray(state_dict[k]) for k in own if k in state_dict}
        for k, v in values.items():
            if v.shape != own[k].shape:  # a value check_state_dict could not size (no shape attribute)
                check_state_dict(type(self).__name__, {k: own[k].shape}, {k: v}, strict=False)
        for k, v in values.items():
            np.copyto(own[k], v, casting="unsafe")

    def clone(self) -> "Module":
        """A deep copy that shares the random generators of its dropout layers."""
        memo: dict[int, Any] = {}
        for _, m in self.named_modules():
            rng = m.__dict__.get("rng")
            if isinstance(rng, np.random.Generator):
                memo[id(rng)] = rng
        return copy.deepcopy(self, memo)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- boundary checks (see transformer_anatomy.errors) --------------------------------
    def _input(self, name: str, x: Any, cast: bool = True) -> np.ndarray:
        """``x`` cast to this module's dtype (see :func:`as_float_input`); with ``cast=False``
        (modules without parameters: activations, dropout) only the dtype kind is checked."""
        if not cast:
            x = np.asarray(x)
            return as_float_input(name, x, x.dtype if x.dtype.kind == "f" else self.dtype)
        return as_float_input(name, x, self.dtype)

    def _forwarded(self, out: np.ndarray, *more: Any, cache: Any = None) -> Any:
        """Remember this ``forward``'s cache (a module's typed ``NamedTuple``) and its output
        shape(s), for :meth:`_cached` and the shape checks in ``backward``."""
        object.__setattr__(self, "_out_shapes", tuple(np.shape(o) for o in (out, *more)))
        object.__setattr__(self, "_cache", cache)
        return (out, *more) if more else out

    def _cached(self) -> Any:
        """The cache of the last ``forward``; :class:`BackwardError` if there was none."""
        if self.__dict__.get("_out_shapes") is None:
            raise BackwardError(f"{type(self).__name__}.backward called before forward (nothing is cached)")
        return self.__dict__.get("_cache")

    def _grad_input(self, name: str, d: Any, i: int = 0) -> np.ndarray:
        """Check that ``forward`` ran and that ``d`` has the shape of output ``i``; cast it."""
        shapes = self.__dict__.get("_out_shapes")
        if shapes is None:
            raise BackwardError(f"{type(self).__name__}.backward called before forward (nothing is cached)")
        d = np.asarray(d)
        d = as_float_input(name, d, self.dtype if self._params or d.dtype.kind != "f" else d.dtype)
        if d.shape != shapes[i]:
            raise BackwardShapeError(
                f"{name} has shape {d.shape}, expected {shapes[i]} (the shape of the last forward's output)"
            )
        return d

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = [f"{type(self).__name__}({extra}" + (")" if not self._modules else "")]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        if self._modules:
            lines.append(")")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        """One-line description of the module's configuration, used by ``repr``."""
        return ""
