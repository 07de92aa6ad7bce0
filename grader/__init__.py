"""resnet-kata: ResNet interview katas, graded by behaviour.

The Python API (`check`, `hint`, `start`, `docs`, `statement`) and the IPython extension
(`%load_ext resnet_kata`) are imported on first use, so `import resnet_kata` (and the
command line) load neither a framework nor IPython.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["check", "docs", "hint", "language", "start", "statement", "load_ipython_extension"]


def check(*args: Any, **kwargs: Any) -> Any:
    from .api import check as _check

    return _check(*args, **kwargs)


def hint(*args: Any, **kwargs: Any) -> str:
    from .api import hint as _hint

    return _hint(*args, **kwargs)


def start(*args: Any, **kwargs: Any) -> Any:
    from .api import start as _start

    return _start(*args, **kwargs)


def statement(*args: Any, **kwargs: Any) -> str:
    from .api import statement as _statement

    return _statement(*args, **kwargs)


def docs(*args: Any, **kwargs: Any) -> str:
    from .api import docs as _docs

    return _docs(*args, **kwargs)


def language(*args: Any, **kwargs: Any) -> str:
    """The language the kit speaks ('en' or 'zh'); `language("zh")` switches to Chinese."""
    from .api import language as _language

    return _language(*args, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext resnet_kata`: the `%%kata` cell magic and the `%kata` line magic."""
    from .magics import register

    register(ipython)
