"""Subpackages that share their name with a public function, and lazy names.

`imagehub.check`, `imagehub.scan` and `imagehub.embed` are subpackages
and functions (`imagehub.check(path)`, `imagehub.scan(path)`,
`imagehub.embed(model, inputs)`). Importing a
subpackage sets it as an attribute of its parent, which hides the lazily
imported function of the same name; so such a subpackage makes itself
callable, forwarding to its function.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any


def make_module_callable(module_name: str, function_name: str) -> None:
    """Makes `sys.modules[module_name](...)` call its `function_name`."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, function_name)(*args, **kwargs)

        @property
        def __signature__(self) -> inspect.Signature:
            # What `inspect.signature`, IDEs and notebooks show for
            # `imagehub.embed(`: the function's arguments, not *args.
            return inspect.signature(getattr(self, function_name))

    sys.modules[module_name].__class__ = _CallableModule


def lazy_attributes(
    module_name: str, lazy: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of a package with lazy public names.

    Args:
        module_name: The package (its `__name__`).
        lazy: Public name -> the private module of the package defining it,
            imported on first access so the package imports fast.
        public: The package's `__all__`.

    Returns:
        (`__getattr__`, `__dir__`) to assign at the package's top level.
    """

    def __getattr__(name: str) -> Any:
        if name in lazy:
            module = importlib.import_module(f"{module_name}.{lazy[name]}")
            value = getattr(module, name)
            setattr(sys.modules[module_name], name, value)
            return value
        raise AttributeError(
            f"module {module_name!r} has no attribute {name!r}"
        )

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__
