"""Random histories for property tests: operations applied one by one to a log."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from touchlog.domain.application import TouchpointLog
from touchlog.domain.errors import TouchlogError
from touchlog.projections.engine.runner import Projector

# apply(log, projector, ids, *operation): one operation; ``ids`` keeps the contact ids
# each customer got, so that later operations can amend or retract them.
Apply = Callable[..., None]


def play(apply: Apply, log: TouchpointLog, projector: Projector,
         operations: Iterable[tuple[Any, ...]]) -> None:
    """Applies every operation (a refused one records nothing), then catches up."""
    ids: dict[str, list[str]] = {}
    for operation in operations:
        try:
            apply(log, projector, ids, *operation)
        except TouchlogError:
            pass  # refused commands record nothing
    projector.catch_up()
