"""Naming a learner's mistake: match what their code produced against known wrong versions.

Every check that says "it matches: <mistake>" goes through `name_mistake`: the
candidates are computed lazily, in order, and the first that agrees with the
learner's result names the mistake. A candidate that does not apply to the case
(it raises) is passed over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..i18n import _
from . import close

T = TypeVar("T")
Candidate = tuple[str, Callable[[], Any]]


def name_mistake(got: T, candidates: Iterable[Candidate],
                 same: Callable[[T, Any], bool] = close) -> str:
    """The name of the first candidate whose value `same` finds equal to `got`, or ''.

    `candidates` yields `(name, thunk)`; each thunk computes that wrong version's result.
    """
    for name, compute in candidates:
        try:
            value = compute()
        except Exception:  # noqa: BLE001 - a wrong version that does not apply to this input
            continue
        try:
            if same(got, value):
                return name
        except Exception:  # noqa: BLE001 - incomparable results are no match
            continue
    return ""


def matches(name: str) -> str:
    """A found mistake as a sentence to append to a failure ('' when none was found)."""
    return " " + _("It matches: {mistake}.").format(mistake=_(name)) if name else ""
