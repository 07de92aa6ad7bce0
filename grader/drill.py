"""`resnet-kata drill`: the interview questions as flashcards, scheduled by FSRS.

The scheduler is the `fsrs` package (a maintained implementation of the Free Spaced
Repetition Scheduler); nothing here computes an interval. Each card's FSRS state lives
in the workspace state under "drill", changed only under the workspace's lock. A failed
check makes the cards of that exercise due now; an interview's oral scores are reviews.
The clock is `now()`: `RESNET_KATA_NOW` (an ISO time) replaces it in tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from . import cards as C
from . import workspace as ws
from .i18n import N_, _, ngettext

RATINGS = {"1": 1, "again": 1, "a": 1, "2": 2, "hard": 2, "h": 2, "3": 3, "good": 3, "g": 3,
           "4": 4, "easy": 4, "e": 4}
RATING_NAMES = {1: N_("again"), 2: N_("hard"), 3: N_("good"), 4: N_("easy")}
NOW_ENV = "RESNET_KATA_NOW"


def now() -> datetime:
    fixed = os.environ.get(NOW_ENV)
    if fixed:
        moment = datetime.fromisoformat(fixed)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def _scheduler() -> Any:
    import fsrs

    return fsrs.Scheduler(enable_fuzzing=False)


def schedule(space: ws.Workspace) -> dict[str, dict[str, Any]]:
    """card id -> FSRS card (as a dict) for every card reviewed at least once."""
    return dict(space.state.get("drill", {}))


def due(space: ws.Workspace, at: datetime | None = None, new: int = 10,
        topic: str | None = None) -> list[C.Card]:
    """The cards to review now: those whose FSRS due time has come, then up to `new` unseen."""
    at = at or now()
    seen = schedule(space)
    items = [c for c in C.all_cards() if _matches(c, topic)]
    ready = sorted((c for c in items if c.id in seen and _due_of(seen[c.id]) <= at),
                   key=lambda c: _due_of(seen[c.id]))
    fresh = [c for c in items if c.id not in seen][:max(0, new)]
    return ready + fresh


def _matches(card: C.Card, topic: str | None) -> bool:
    if not topic:
        return True
    key = topic.lower()
    return key in card.id.lower() or any(key in e for e in card.exercises)


def _due_of(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["due"])


def review(space: ws.Workspace, card_id: str, rating: int, at: datetime | None = None) -> datetime:
    """Record a self-rating (1 again .. 4 easy) of a card; return when it is due next."""
    import fsrs

    at = at or now()
    with space.update() as state:
        table = state.setdefault("drill", {})
        card = fsrs.Card.from_dict(table[card_id]) if card_id in table else fsrs.Card(due=at)
        card, _log = _scheduler().review_card(card, fsrs.Rating(rating), review_datetime=at)
        table[card_id] = card.to_dict()
        return card.due


def mark_due(space: ws.Workspace, exercise: str, at: datetime | None = None) -> int:
    """Make the scheduled cards of `exercise` due now (a check of it failed); how many."""
    at = at or now()
    ids = {c.id for c in C.for_exercise(exercise)}
    if not ids & set(schedule(space)):
        return 0
    count = 0
    with space.update() as state:
        for card_id, entry in state.get("drill", {}).items():
            if card_id in ids and _due_of(entry) > at:
                entry["due"] = at.isoformat()
                count += 1
    return count


def listing(space: ws.Workspace, at: datetime | None = None) -> list[dict[str, Any]]:
    """Every card, with its exercises and when it is due (None: never reviewed)."""
    at = at or now()
    seen = schedule(space)
    rows = []
    for card in C.all_cards():
        entry = seen.get(card.id)
        rows.append({
            "id": card.id, "question": card.question, "exercises": list(card.exercises),
            "due": entry["due"] if entry else None,
            "due_now": bool(entry is None or _due_of(entry) <= at),
            "reviewed": entry is not None,
        })
    return rows


def when(moment: str | None, at: datetime) -> str:
    """'new', 'now', 'in 3 days', 'in 5 h'."""
    if moment is None:
        return _("new")
    delta = (datetime.fromisoformat(moment) - at).total_seconds()
    if delta <= 0:
        return _("now")
    if delta < 3600:
        return _("in {n} min").format(n=max(1, round(delta / 60)))
    if delta < 86400:
        return _("in {n} h").format(n=round(delta / 3600))
    n = round(delta / 86400)
    return ngettext("in {n} day", "in {n} days", n).format(n=n)


def parse_rating(text: str) -> int | None:
    return RATINGS.get(text.strip().lower())


def cards_due_count(space: ws.Workspace, at: datetime | None = None) -> int:
    at = at or now()
    return sum(1 for e in schedule(space).values() if _due_of(e) <= at)


def as_json(items: Iterable[C.Card]) -> list[dict[str, Any]]:
    return [{"id": c.id, "question": c.question, "source": c.source, "exercises": list(c.exercises)}
            for c in items]
