"""``touchlog customer erase``: erase a customer's personal data and certify it
(docs/privacy.md).

The steps, each safe to interrupt, and all of them safe to run again:
1. the customer's chain is verified (an erasure of a tampered history certifies nothing);
2. the erasure is recorded (``Customer.Erased``, no personal data; skipped when it is);
   a customer merged into it keeps its own stream and key, and is erased with it (each
   step covers every such stream);
3. the projections are brought up to date: applying the erasure sets the customer's
   personal columns to ERASED, and their old values are scrubbed from the reporting
   database's files (``Dialect.scrub``);
4. the customer's keys are destroyed: its sealed values in the log, and in every backup of
   it, no longer open;
5. the certificate is written.
The projections lose the plain values before the keys go, so an interruption never leaves
a destroyed key with projections still showing them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from touchlog.domain.chain import canonical_json_bytes
from touchlog.domain.customer import EVENT_CLASSES, Customer
from touchlog.domain.errors import InvalidInput, StoreError
from touchlog.domain.sealing import in_the_clear
from touchlog.domain.storage.events import event_rows
from touchlog.domain.storage.files import NewFiles
from touchlog.projections.audit.verify import verify_chains
from touchlog.projections.engine.runner import Projector, protected_databases
from touchlog.projections.engine.schema import ALL_TABLES

if TYPE_CHECKING:
    from touchlog.domain.application import TouchpointLog

FORMAT = "touchlog-erasure-certificate/1"
BASIS = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # gdpr-17, pipl-47, ccpa-1798.105 no


def erase_customer(log: TouchpointLog, reference: str, basis: str, request: str, *,
                   by: str | None = None, certificate: Path | None = None) -> dict[str, Any]:
    """Erases the customer's personal data (the steps of the module's docstring) and
    returns the certificate, written to ``certificate`` (default
    ``erasure-<request>.json``)."""
    basis = basis.strip().lower()
    if not BASIS.fullmatch(basis):
        raise InvalidInput("basis", basis, "a legal basis is a name like gdpr-17 or pipl-47")
    references = log.merged_references(reference)
    for stream in references:
        report, _ = verify_chains(log, stream)
        if not report.intact:
            raise StoreError(f"the chain of customer {stream!r} does not verify "
                             f"({len(report.breaks)} breaks; 'touchlog verify {stream}' "
                             "names them): an erasure would certify a tampered history, so "
                             "none is made")
    customers = log.record_erasure(reference, basis, request, by=by)
    projector = Projector(log)
    try:
        projector.catch_up()
        projector.db.dialect.scrub(projector.db, [t.name for t in ALL_TABLES
                                                  if t.personal or t.personal_attributes])
    finally:
        projector.close()
    destroyed = sum(log.destroy_keys(customer) for customer in customers)
    erasures = [_erasure(log, stream) for stream in references]
    erased = erasures[0]
    after, _ = verify_chains(log, references[0])
    head = next(iter(after.heads.values()))
    body = {
        "format": FORMAT,
        "customer_id": str(customers[0].id),
        "request": erased.request,
        "basis": erased.basis,
        "by": erased.by,
        "erased_at": erased.at,
        "erasure_event_version": erased.originator_version,
        "events_covered": {"from_version": 1, "to_version": erased.events},
        # The customers merged into this one keep their own streams and keys: each is
        # erased with it (docs/privacy.md, "Merged customers").
        "merged_customers": [
            {"customer_id": str(customer.id), "erasure_event_version": e.originator_version,
             "events_covered": {"from_version": 1, "to_version": e.events}}
            for customer, e in zip(customers[1:], erasures[1:], strict=True)],
        "keys_destroyed_now": destroyed,
        # Events written before sealing keep their personal values in the clear in the
        # log's file (every read shows them erased): docs/privacy.md, "Logs written before".
        "events_in_the_clear": sum(_in_the_clear(log, customer, e.originator_version)
                                   for customer, e in zip(customers, erasures, strict=True)),
        "chain": {"intact": after.intact, "head_version": head.version,
                  "head_link": head.link},
        "certified_at": datetime.now(UTC).isoformat(),
        "personal_data": False,
    }
    document = {**body, "sha256": hashlib.sha256(canonical_json_bytes(body)).hexdigest()}
    target = certificate or Path(f"erasure-{_file_part(erased.request)}.json")
    with NewFiles(force=True, protected=protected_databases(log.settings)) as files:
        files.open(target).write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return {**document, "certificate": str(target)}


def _erasure(log: TouchpointLog, reference: str) -> Customer.Erased:
    """The last erasure recorded on the customer's own stream."""
    return next(e for e in reversed(log.history(reference))
                if isinstance(e, Customer.Erased))


def _in_the_clear(log: TouchpointLog, customer: Customer, before: int) -> int:
    return sum(1 for _, version, topic, state in event_rows(log, [customer.id])
               if version < before and topic in EVENT_CLASSES
               and in_the_clear(EVENT_CLASSES[topic], orjson.loads(state), log.settings))


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "request"
