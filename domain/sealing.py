"""Sealing: each customer's personal fields are stored encrypted under that customer's own
key, so that destroying the key erases them everywhere the log is kept (docs/privacy.md).

A sealed value is text, ``"sealed:<epoch>:<base64 of nonce + AES-256-GCM ciphertext>"``,
of the canonical JSON of the value; ``None`` stays ``None``. The associated data binds it to
its customer, its event's version, its field's path and the key's epoch, so a sealed value
moved to another customer, event or field does not open. The key's ``epoch`` counts the
customer's relationships: an erased customer restarted as a new relationship gets a new key.

The paths holding personal data are ``personal_paths`` of an event (domain/personal.py:
its class's ``personal_fields`` and the attributes the settings declare personal), the one
place that says what is sealed.
A value whose key is gone opens as ``ERASED``; one whose key the master key in use cannot
open as ``UNAVAILABLE``; one that does not open (changed, moved) as ``UNREADABLE``: reading
never fails on a sealed value.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from touchlog.domain.chain import canonical_json_bytes
from touchlog.domain.errors import KeyUnavailable
from touchlog.domain.personal import personal_places

if TYPE_CHECKING:
    from touchlog.domain.settings import Settings

SEALED = "sealed:"
ERASED = "[erased]"  # a personal field whose customer's key was destroyed
UNREADABLE = "[unreadable]"  # a sealed value that does not open with its key
UNAVAILABLE = "[key unavailable]"  # its key is stored, but the master key cannot open it
KEY_BYTES = 32
NONCE_BYTES = 12

# (customer id, epoch) -> the customer's key, or None when it is gone (erased) or never was.
KeyLookup = Callable[[UUID, int], "AESGCM | None"]
# (customer id, epoch) -> the customer's key, made when it has none yet.
KeyMaker = Callable[[UUID, int], AESGCM]


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def associated_data(customer: UUID, version: int, path: str, epoch: int) -> bytes:
    """What a sealed value is bound to: its customer, event, field and key epoch."""
    return f"{customer}|{version}|{path}|{epoch}".encode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


def open_value(keys: KeyLookup, customer: UUID, version: int, path: str, value: Any) -> Any:
    """The plain value of a sealed one; ``ERASED`` when its key is gone, ``UNREADABLE``
    when it does not open. Anything not sealed (a log written before sealing) as it is."""
    if not is_sealed(value):
        return value
    state: dict[str, Any] = {}
    holder = state
    *parents, last = path.split(".")
    for part in parents:
        holder = holder.setdefault(part, {})
    holder[last] = value
    open_state(object, state, keys, customer, version)
    return holder[last]


def seal_state(event_class: type, state: dict[str, Any], keys: KeyMaker, customer: UUID,
               version: int, epoch: int, settings: Settings | None = None) -> dict[str, Any]:
    """``state`` with every personal value (not None) sealed; ``state`` itself when it has
    none. The key is asked for only when there is something to seal, once per event."""
    sealed: dict[str, Any] | None = None
    copies: set[int] = set()  # the ids of the dicts copied so far
    for path, holder, name in personal_places(event_class.__name__, state, settings):
        value = holder[name]
        if value is None or (value.__class__ is str and value.startswith(SEALED)):
            continue
        if sealed is None:
            encrypt = keys(customer, epoch).encrypt
            bound, tail, head = f"{customer}|{version}|", f"|{epoch}", f"{SEALED}{epoch}:"
            sealed = dict(state)
        nonce = os.urandom(NONCE_BYTES)
        text = head + binascii.b2a_base64(nonce + encrypt(
            nonce, canonical_json_bytes(value), f"{bound}{path}{tail}".encode()),
            newline=False).decode()
        if holder is state:
            sealed[name] = text
        else:  # a nested value: the dicts on its path are copied, each once
            _copy_path(sealed, path, copies)[name] = text
    return state if sealed is None else sealed


def open_state(event_class: type, state: dict[str, Any], keys: KeyLookup, customer: UUID,
               version: int, *, customer_text: str | None = None) -> dict[str, Any]:
    """Opens every sealed value of a decoded ``state`` in place; returns it. Sealed values
    are found by their form, wherever they are, so that reading needs no settings (a
    personal attribute later removed from touchlog.toml still opens).

    A rebuild opens every sealed value of the log: the key is looked up once per state,
    and the customer's id text is given when the caller has it."""
    found = _sealed(state, "")
    if not found:
        return state
    bound = f"{customer_text or customer}|{version}|"
    epochs: dict[str, Any] = {}
    decode, loads = binascii.a2b_base64, orjson.loads
    for holder, name, path in found:
        epoch, _, payload = holder[name][7:].partition(":")  # after SEALED
        key = epochs.get(epoch, _UNKNOWN)
        if key is _UNKNOWN:
            key = epochs[epoch] = _key(keys, customer, epoch)
        if key is None or key.__class__ is str:
            holder[name] = ERASED if key is None else key
            continue
        try:
            blob = decode(payload, strict_mode=True)
            holder[name] = loads(key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                             f"{bound}{path}|{epoch}".encode()))
        except (ValueError, InvalidTag, orjson.JSONDecodeError, binascii.Error):
            holder[name] = UNREADABLE
    return state


_UNKNOWN = object()


def _key(keys: KeyLookup, customer: UUID, epoch: str) -> AESGCM | str | None:
    """The key of ``epoch`` (text), None when gone, or the marker of why it cannot be had."""
    try:
        return keys(customer, int(epoch))
    except KeyUnavailable:
        return UNAVAILABLE
    except ValueError:
        return UNREADABLE


def erased_state(event_class: type, state: dict[str, Any],
                 settings: Settings | None = None) -> dict[str, Any]:
    """Sets every personal value (not None) of ``state`` to ERASED in place, the declared
    ones and every sealed one; returns it: what an erased customer's earlier events show,
    whether or not their key is gone yet and whether or not they were written sealed."""
    for sealed, name, _ in _sealed(state, ""):
        sealed[name] = ERASED
    for _, holder, name in personal_places(event_class.__name__, state, settings):
        if holder[name] is not None:
            holder[name] = ERASED
    return state


def in_the_clear(event_class: type, state: dict[str, Any],
                 settings: Settings | None = None) -> bool:
    """Whether ``state`` holds a personal value stored unsealed (written before sealing)."""
    return any(holder[name] is not None and not is_sealed(holder[name])
               for _, holder, name in personal_places(event_class.__name__, state, settings))


def holds_sealed(state: dict[str, Any]) -> bool:
    """Whether any value of ``state``'s nested dicts is sealed."""
    return bool(_sealed(state, ""))


def _sealed(state: dict[str, Any], prefix: str
            ) -> list[tuple[dict[str, Any], str, str]]:
    """(dict, key, dotted path) of every sealed value in ``state``'s nested dicts."""
    found = []
    for name, value in state.items():
        kind = value.__class__
        if kind is str:
            if value.startswith(SEALED):
                found.append((state, name, prefix + name))
        elif kind is dict:
            found += _sealed(value, f"{prefix}{name}.")
    return found


def _copy_path(state: dict[str, Any], path: str, copies: set[int]) -> dict[str, Any]:
    """Replaces the dicts along ``path`` in ``state`` by copies, except those that are copies
    already (their ids in ``copies``, which gets the new ones); returns the innermost."""
    holder = state
    for part in path.split(".")[:-1]:
        child = holder[part]
        if id(child) not in copies:
            child = holder[part] = dict(child)
            copies.add(id(child))
        holder = child
    return holder
