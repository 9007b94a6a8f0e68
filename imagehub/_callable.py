"""Subpackages that share their name with a public function.

`imagehub.check`, `imagehub.scan` and `imagehub.embed` are subpackages
and functions (`imagehub.check(path)`, `imagehub.scan(path)`,
`imagehub.embed(model, inputs)`). Importing a
subpackage sets it as an attribute of its parent, which hides the lazily
imported function of the same name; so such a subpackage makes itself
callable, forwarding to its function.
"""

from __future__ import annotations

import inspect
import sys
import types
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
