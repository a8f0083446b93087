"""Identities: a customer's id from its reference, and a contact's id from its content.

Kept apart from the input models so that reading commands never load pydantic.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from touchlog.domain import values as v

# Fixed forever: customer ids and derived contact ids depend on it.
NAMESPACE = uuid.UUID("6f1c7d0e-2b4a-5c3e-9d8f-7a6b5c4d3e2f")


def customer_id(reference: str) -> uuid.UUID:
    """One reference is always one customer: the id is uuid5(NAMESPACE, reference)."""
    return uuid.uuid5(NAMESPACE, reference)


def customer_reference(value: object) -> str:
    """The one spelling of a customer reference: surrounding white space stripped, the rest
    in Unicode NFC. Every way in (the import, every command, every query) goes through it,
    so " ACME " and "ACME", or an accented letter typed as one character or as a letter and
    a combining accent, name one customer. Case and inner white space are kept."""
    reference = v.required_text(value, "customer").strip()
    return reference if reference.isascii() else unicodedata.normalize("NFC", reference)


def spellings(value: object) -> tuple[str, ...]:
    """The references under which a log may hold the customer ``value`` names, in the order
    a lookup tries them: ``customer_reference(value)``, which every customer registered
    since the rule has; then, for logs written before it, ``value`` as given (white space
    stripped) and the NFD form. Text in ASCII has one spelling."""
    reference = customer_reference(value)
    if reference.isascii():
        return (reference,)
    given = v.required_text(value, "customer").strip()
    return tuple(dict.fromkeys((reference, given, unicodedata.normalize("NFD", reference))))


def derived_contact_id(reference: str, card: Mapping[str, Any], occurrence: int = 0) -> str:
    """A contact id from a card's content, so that recording it again is a no-op.

    ``occurrence`` counts earlier identical cards of the same source (two identical
    purchases on one day are two contacts). The id is ``"c-"`` and the hex of
    ``uuid5(NAMESPACE, canonical_json(content))``, computed without building UUID objects.
    A reason category is part of the content only when there is one, and so are a person,
    attributes and a purchase flag, so that cards without them keep the ids they had before
    those existed.
    """
    content = [reference, card["occurred_at"], card["channel"], card["initiated_by"],
               card["purpose"], card["summary"], card["place"], card["actor"], card["outcome"],
               card["rating"], card["amount"], card["stage_signal"], occurrence]
    category = card.get("reason_category")
    if category is not None:
        content.append(category)
    extras = {name: card[name] for name in _EXTRAS if card.get(name)}
    if extras:
        content.append(extras)
    return "c-" + _uuid5_hex(content)


def derived_follow_up_id(reference: str, values: list[Any]) -> str:
    """A follow-up id from what a file's row says of it (when it was scheduled, due, owner,
    purpose, contact), so that importing the row again schedules nothing twice: ``"f-"``
    and the hex of ``uuid5(NAMESPACE, canonical_json([reference, *values]))``."""
    return "f-" + _uuid5_hex([reference, *values])


def _uuid5_hex(content: list[Any]) -> str:
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + orjson.dumps(content)).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


_NAMESPACE_BYTES = NAMESPACE.bytes
_EXTRAS = ("person", "attributes", "purchase")  # ContactLogged's fields since version 3


def folded(text: str) -> str:
    """Text as a search and a "did you mean" compare it: case folded, in Unicode NFC."""
    return unicodedata.normalize("NFC", text).casefold()


def _squashed(reference: str) -> str:
    """A reference with what people and spreadsheets change in one stripped: case, every
    character that is no letter or digit, and the leading zeros of each run of digits
    ("Kan code" and "kan-code", "2" and "00002", "CUST-2" and "cust 0002" are alike)."""
    kept = "".join(ch for ch in folded(reference) if ch.isalnum())
    return re.sub(r"(?<!\d)0+(?=\d)", "", kept)


def closest_references(reference: str, known: Iterable[str], *, most: int = 3) -> list[str]:
    """The references in ``known`` a mistyped ``reference`` most likely meant, best first:
    those alike but for case, punctuation, spaces and leading zeros, else those
    ``difflib`` finds close (a ratio of 0.75 or more, case folded). The one rule behind
    every "did you mean" (docs/cli.md "Customer references")."""
    known = [k for k in dict.fromkeys(known) if k != reference]
    key = _squashed(reference)
    alike = sorted(k for k in known if _squashed(k) == key)
    if alike:
        return alike[:most]
    by_folded: dict[str, list[str]] = {}
    for k in known:
        by_folded.setdefault(folded(k), []).append(k)
    close = difflib.get_close_matches(folded(reference), by_folded, n=most, cutoff=0.75)
    return [k for f in close for k in sorted(by_folded[f])][:most]


def matches_search(text: str, *values: str | None) -> bool:
    """Whether ``text`` occurs in any of ``values``, ignoring case (``customer list
    --search``: over the reference, the name and the email)."""
    wanted = folded(text)
    return any(value is not None and wanted in folded(value) for value in values)
