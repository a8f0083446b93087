"""Errors the domain raises; each message names what was wrong."""

from __future__ import annotations

from collections.abc import Sequence


class TouchlogError(Exception):
    """Base of every error touchlog reports to a user (exit code 1, no traceback)."""


class InvalidInput(TouchlogError):
    """A value was refused before anything was recorded."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason} (got {value!r})")


class ContactChanged(InvalidInput):
    """A contact whose id is already stored with other content: never a silent duplicate.
    ``differing`` names each field that differs, with the stored and the given value."""

    def __init__(self, contact_id: str, differing: dict[str, tuple[object, object]],
                 hint: str) -> None:
        self.contact_id = contact_id
        self.differing = differing
        shown = "; ".join(f"{name} stored {old!r}, given {new!r}"
                          for name, (old, new) in differing.items())
        super().__init__(", ".join(differing), None,
                         f"contact {contact_id!r} is already stored with a different "
                         f"{', '.join(differing)} ({shown}); {hint}")
        self.args = (self.reason,)


class CustomerNotFound(TouchlogError):
    """No customer has the reference; ``suggestions`` are the closest existing ones
    (domain/identity.py ``closest_references``), which the message offers."""

    def __init__(self, reference: str, suggestions: Sequence[str] = ()) -> None:
        self.reference = reference
        self.suggestions = tuple(suggestions)
        hint = ""
        if self.suggestions:
            hint = "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(f"no customer {reference!r}{hint}")


class ContactNotFound(TouchlogError):
    def __init__(self, contact_id: str) -> None:
        self.contact_id = contact_id
        super().__init__(f"no contact with id {contact_id!r}")


class ContactAlreadyRetracted(TouchlogError):
    def __init__(self, contact_id: str) -> None:
        super().__init__(f"contact {contact_id!r} is already retracted")


class ImportNotFound(TouchlogError):
    def __init__(self, import_id: str) -> None:
        self.import_id = import_id
        super().__init__(f"no import with id {import_id!r} ('touchlog imports list' lists "
                         "them)")


class CustomerErased(TouchlogError):
    def __init__(self, reference: str) -> None:
        super().__init__(
            f"customer {reference!r} was erased: nothing more is recorded for it unless a "
            f"new relationship is started ('touchlog customer renew {reference}', "
            "docs/privacy.md)")
        self.reference = reference


class FollowUpError(TouchlogError):
    """A follow-up command that does not fit the follow-up's state."""


class StoreError(TouchlogError):
    """The database cannot be opened or written (missing, read-only, locked)."""


class KeyUnavailable(StoreError):
    """A customer's key cannot be read: the master key is missing or not the one that
    wrapped it (docs/privacy.md). Reading shows a marker; writing is refused."""


class ConnectionLost(StoreError):
    """The connection to a database server was lost (the server restarted, or an
    administrator ended it): what it was doing was rolled back, and it may be opened again."""


class FileWriteError(TouchlogError):
    """A file touchlog writes for a user (an export, a rejects file, a checkpoint) or for
    its own work (an import's spool) was refused or could not be written."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")


class UnreadableEvent(TouchlogError):
    """A stored event that no touchlog run writes (an unknown topic, an id in another
    spelling, a state that is not the event's): readers refuse it rather than guess, nothing
    it names is imported, and ``touchlog verify`` lists it as a break."""

    def __init__(self, customer_id: object, version: object, reason: str) -> None:
        self.customer_id = customer_id
        self.version = version
        self.reason = reason
        super().__init__(
            f"cannot read the event at version {version!r} of customer id {customer_id}: "
            f"{reason}. The database was changed outside touchlog; 'touchlog verify' lists "
            "every such event")


class MappingError(TouchlogError):
    """A mapping file (docs/import.md "Mapping files") that cannot be used: every problem
    found, each with its place in the file. Nothing was read or recorded."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        where = f"mapping {path}" if path else "mapping"
        if len(problems) == 1:
            message = f"{where}: {problems[0][0]}: {problems[0][1]}"
        else:
            lines = "".join(f"\n  {place}: {problem}" for place, problem in problems)
            message = f"{where}: {len(problems)} problems{lines}"
        super().__init__(message)
