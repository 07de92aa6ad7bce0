"""Keep `torch.optim` from importing torch._dynamo in a grading process that never compiles.

Every optimizer's `__init__`, `zero_grad` and `step` touch `torch._dynamo` (to mark
themselves as not compiled and to break graphs), and the first touch imports it: about
1.5 s here, more than a whole check of exercises 09-11 takes. Outside `torch.compile`
the two functions they use do nothing: `disable(fn)` runs `fn`, `graph_break()` returns.

`install()` puts a stand-in at `torch._dynamo` that answers those two while nothing is
being compiled. Any other name (`torch.compile` asks for `optimize`, for example) loads
the real module, which then takes the stand-in's place, so the learner's code sees
torch unchanged. Only the worker installs it, never a learner's own interpreter.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

NAME = "torch._dynamo"


class _Standin(types.ModuleType):
    def disable(self, fn: Any = None, recursive: bool = True, **kwargs: Any) -> Any:
        if _compiling():
            return self._real().disable(fn, recursive, **kwargs)
        if fn is None:  # the decorator form, disable(recursive=False)
            return lambda f: f
        return fn

    def graph_break(self, msg: str = "") -> None:
        if _compiling():
            self._real().graph_break(msg)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)

    @staticmethod
    def _real() -> types.ModuleType:
        import torch

        if isinstance(sys.modules.get(NAME), _Standin):
            del sys.modules[NAME]
            torch.__dict__.pop("_dynamo", None)
        module = importlib.import_module(NAME)
        torch._dynamo = module
        return module


def _compiling() -> bool:
    import torch

    return bool(torch.compiler.is_compiling())


def install() -> bool:
    """Put the stand-in in place unless the real module is already loaded; True if it is."""
    import torch

    if NAME in sys.modules:
        return isinstance(sys.modules[NAME], _Standin)
    found = importlib.util.find_spec(NAME)  # where it lies; nothing of it runs
    if found is None or found.submodule_search_locations is None:
        return False
    standin = _Standin(NAME, __doc__)
    standin.__path__ = list(found.submodule_search_locations)  # `import torch._dynamo.config`
    sys.modules[NAME] = standin
    torch._dynamo = standin
    return True


def loaded() -> bool:
    """Whether the real torch._dynamo has been imported."""
    module = sys.modules.get(NAME)
    return module is not None and not isinstance(module, _Standin)
