"""The ``--attr KEY=VALUE`` option: attributes to record, or to filter by."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from touchlog.domain.errors import InvalidInput

if TYPE_CHECKING:
    from touchlog.domain.attributes import Declared

F = TypeVar("F", bound=Callable[..., Any])


def attr_option(help_text: str) -> Callable[[F], F]:
    """``--attr KEY=VALUE``, repeatable, given to the command as ``attrs`` (a tuple)."""
    return click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help=help_text)


def given_attributes(attrs: tuple[str, ...]) -> dict[str, str]:
    """The ``--attr`` texts as name -> value text (checked when recorded)."""
    from touchlog.domain.attributes import attribute_pairs

    return attribute_pairs(attrs)


def attribute_filter(declared: Declared, attrs: tuple[str, ...], scope: str
                     ) -> dict[str, Any] | None:
    """The ``--attr`` filters as name -> the stored value they match (typed like the
    attribute, so ``employees=050`` finds 50); None without any."""
    from touchlog.domain.attributes import attribute_pairs, attribute_values

    if not attrs:
        return None
    pairs = attribute_pairs(attrs)
    for name, value in pairs.items():
        if not value.strip():
            raise InvalidInput("--attr", f"{name}=", "a filter needs a value")
    return attribute_values(declared, pairs, scope)
