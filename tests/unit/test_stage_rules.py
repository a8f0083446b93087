"""The stage history's rules (domain/stages.py), one test each, and its properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from touchlog.domain.customer import Customer
from touchlog.domain.stages import StageFact, StageFacts, stage_history, stay_at

T0 = datetime(2018, 1, 1, tzinfo=UTC)
STAGES = ["discovery", "exploration", "expansion", "commitment", "dissolution"]


def t(day: int) -> str:
    return (T0 + timedelta(days=day)).isoformat()


def signal(day: int, stage: str, contact_id: str = "c", category: str | None = None
           ) -> StageFact:
    return StageFact(t(day), stage, contact_id, actor="ann", category=category)


def explicit(day: int, stage: str, reason: str = "decided", category: str | None = None
             ) -> StageFact:
    return StageFact(t(day), stage, None, reason, "bob", category)


def path(*facts: StageFact, start: int = 0) -> list[tuple[int, str]]:
    return [(s.cycle, s.to_stage) for s in stage_history(t(start), facts)]


def test_the_relationship_starts_in_discovery_in_cycle_one() -> None:
    (stay,) = stage_history(t(3), [])
    assert (stay.seq, stay.cycle, stay.from_stage, stay.to_stage, stay.entered_at,
            stay.reason) == (1, 1, None, "discovery", t(3), "registered")


def test_a_signal_ahead_of_the_stage_moves_forward_naming_contact_and_actor() -> None:
    history = stage_history(t(0), [signal(2, "expansion", "c-9")])
    assert history[-1].row() == {
        "seq": 2, "cycle": 1, "from_stage": "discovery", "to_stage": "expansion",
        "entered_at": t(2), "left_at": None, "duration_seconds": None,
        "reason": "stage signal of contact c-9", "reason_category": None, "actor": "ann",
        "contact_id": "c-9"}
    assert (history[0].left_at, history[0].duration_seconds) == (t(2), 2 * 86400)


def test_a_signal_at_or_behind_the_stage_changes_nothing() -> None:
    assert path(signal(1, "expansion", "a"), signal(2, "expansion", "b"),
                signal(3, "exploration", "c")) == [(1, "discovery"), (1, "expansion")]


def test_dissolution_can_follow_any_stage() -> None:
    for stage in STAGES[1:4]:
        assert path(signal(1, stage, "a"), signal(2, "dissolution", "b"))[-1] == (
            1, "dissolution")


def test_after_dissolution_a_signal_reopens_at_its_stage_in_a_new_cycle() -> None:
    assert path(signal(1, "dissolution", "a"), signal(2, "dissolution", "b"),
                signal(3, "exploration", "c")) == [
        (1, "discovery"), (1, "dissolution"), (2, "exploration")]


def test_an_explicit_change_goes_anywhere_and_what_follows_is_judged_from_there() -> None:
    assert path(signal(1, "commitment", "a"), explicit(2, "exploration"),
                signal(3, "expansion", "b")) == [
        (1, "discovery"), (1, "commitment"), (1, "exploration"), (1, "expansion")]
    assert path(explicit(1, "dissolution"), explicit(2, "discovery")) == [
        (1, "discovery"), (1, "dissolution"), (2, "discovery")]
    assert path(explicit(1, "discovery")) == [(1, "discovery")]  # already there: nothing


def test_facts_fold_in_the_order_they_happened_not_the_order_given() -> None:
    late, early = signal(5, "commitment", "a"), signal(2, "dissolution", "b")
    assert path(late, early) == path(early, late) == [
        (1, "discovery"), (1, "dissolution"), (2, "commitment")]


def test_ties_at_one_instant_go_signals_first_by_contact_id_then_explicit_changes() -> None:
    same = [explicit(1, "exploration", "x"), signal(1, "commitment", "b"),
            signal(1, "dissolution", "a")]
    assert path(*same) == path(*reversed(same)) == [
        (1, "discovery"), (1, "dissolution"), (2, "commitment"), (2, "exploration")]


def test_the_start_is_the_earliest_live_fact_or_an_earlier_registration() -> None:
    facts = StageFacts(t(5))  # registered explicitly on day 5
    facts.contact_logged("a", t(9), "exploration", "ann")
    assert facts.history()[0].entered_at == t(5)
    facts.contact_logged("b", t(1), None, "ann")  # backdated, without a signal
    assert facts.history()[0].entered_at == t(1)


def test_a_customer_registered_by_its_first_contact_starts_at_its_earliest_live_contact(
        ) -> None:
    facts = StageFacts(t(4))
    facts.contact_logged("a", t(4), None, "ann")  # registered the customer
    facts.contact_logged("b", t(6), "expansion", "ann")
    facts.contact_retracted("a")
    assert facts.history()[0].entered_at == t(6)


def test_retracting_the_signalling_contact_re_derives_the_history() -> None:
    facts = StageFacts(t(0))
    facts.contact_logged("a", t(1), "expansion", "ann")
    facts.contact_logged("b", t(2), "dissolution", "ann")
    facts.contact_retracted("b")
    assert [s.to_stage for s in facts.history()] == ["discovery", "expansion"]


def test_amending_a_contacts_time_moves_the_change_it_triggered() -> None:
    facts = StageFacts(t(0))
    facts.contact_logged("a", t(3), "expansion", "ann")
    facts.contact_amended("a", {"occurred_at": t(1), "actor": "bob"})
    assert (facts.history()[1].entered_at, facts.history()[1].actor) == (t(1), "bob")


def test_a_stage_change_naming_a_contact_is_an_old_logs_echo_and_adds_nothing() -> None:
    customer = Customer(reference="ACME", at=t(0))
    customer.log_contact({"contact_id": "a", "occurred_at": t(2), "channel": "phone",
                          "initiated_by": "company", "purpose": None, "summary": None,
                          "place": None, "actor": "ann", "outcome": None, "rating": None,
                          "amount": None, "stage_signal": "expansion", "reason_category": None,
                          "deliberate": True,
                          "hard": False, "active": True})
    # What logs written before stages were derived recorded after such a contact:
    customer.trigger_event(Customer.StageChanged, from_stage="discovery",
                           to_stage="expansion", at=t(2), reason="stage signal of contact a",
                           actor="ann", contact_id="a", cycle=1, reason_category=None, source=None)
    assert [(s.to_stage, s.entered_at) for s in customer.stage_history] == [
        ("discovery", t(0)), ("expansion", t(2))]


def test_a_dissolution_keeps_the_reason_category_of_the_fact_that_began_it() -> None:
    history = stage_history(t(0), [
        signal(1, "dissolution", "a", "moved_away"), signal(2, "dissolution", "b", "died"),
        signal(3, "expansion", "c"), explicit(4, "dissolution", "lost", "competition")])
    assert [(s.to_stage, s.reason_category) for s in history] == [
        ("discovery", None), ("dissolution", "moved_away"), ("expansion", None),
        ("dissolution", "competition")]


def test_explicit_changes_at_one_instant_differing_in_category_alone_fold_alike() -> None:
    same = [explicit(1, "dissolution", "left", "died"),
            explicit(1, "dissolution", "left", "moved_away")]
    assert stage_history(t(0), same) == stage_history(t(0), list(reversed(same)))
    assert stage_history(t(0), same)[-1].reason_category == "died"


def test_amending_a_contacts_reason_category_re_derives_the_history() -> None:
    facts = StageFacts(t(0))
    facts.contact_logged("a", t(1), "dissolution", "ann", "other")
    assert facts.history()[-1].reason_category == "other"
    facts.contact_amended("a", {"reason_category": "competition"})
    assert facts.history()[-1].reason_category == "competition"


def test_the_stay_at_a_moment_is_the_one_in_force_then() -> None:
    history = stage_history(t(1), [signal(3, "expansion")])
    assert stay_at(history, T0) is None
    assert stay_at(history, T0 + timedelta(days=2)) == history[0]
    assert stay_at(history, T0 + timedelta(days=3)) == history[1]


# -- properties -----------------------------------------------------------------------------

FACTS = st.lists(st.tuples(
    st.sampled_from(["log", "retract", "amend", "set", "categorise"]), st.integers(0, 5),
    st.integers(0, 60), st.sampled_from([None, *STAGES])), max_size=25)
CATEGORIES = ["moved_away", "died"]


def feed(facts: StageFacts, steps: list[tuple[str, int, int, Any]], *, ask: bool) -> None:
    """Applies the steps as events would; with ``ask`` the history is derived after each,
    so the extension of the cached history (the fast path) is used."""
    for kind, n, day, stage in steps:
        contact = f"c{n}"
        category = CATEGORIES[day % 2] if stage == "dissolution" else None
        if kind == "log" and contact not in facts.contacts:
            facts.contact_logged(contact, t(day), stage, f"actor{n}", category)
        elif kind == "retract" and contact in facts.contacts:
            facts.contact_retracted(contact)
        elif kind == "amend" and contact in facts.contacts:
            facts.contact_amended(contact, {"occurred_at": t(day)})
        elif kind == "categorise" and contact in facts.contacts:
            facts.contact_amended(contact, {"reason_category": CATEGORIES[day % 2]})
        elif kind == "set" and stage is not None:
            facts.stage_changed(stage, t(day), f"why {n % 2}", "bob", None, category)
        if ask:
            facts.history()


@settings(max_examples=300, deadline=None)
@given(FACTS)
def test_the_history_kept_while_facts_arrive_equals_the_one_derived_from_scratch(
        steps: list[tuple[str, int, int, Any]]) -> None:
    incremental, at_once = StageFacts(t(30)), StageFacts(t(30))
    feed(incremental, steps, ask=True)
    feed(at_once, steps, ask=False)
    facts = at_once.facts()
    assert incremental.history() == stage_history(at_once.start(facts), facts)
    assert incremental.history() == at_once.history()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.sampled_from(STAGES), st.booleans()),
                max_size=12), st.randoms(use_true_random=False))
def test_no_stay_is_negative_and_any_order_gives_the_same_history(
        drawn: list[tuple[int, str, bool]], rnd: Any) -> None:
    def category(n: int, stage: str) -> str | None:
        return CATEGORIES[n % 2] if stage == "dissolution" else None

    facts = [signal(day, stage, f"c{n}", category(n, stage)) if is_signal
             else explicit(day, stage, f"r{n % 2}", category(n, stage))
             for n, (day, stage, is_signal) in enumerate(drawn)]
    start = min([f.at for f in facts] + [t(61)])
    history = stage_history(start, facts)
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    assert stage_history(start, shuffled) == history
    assert all(s.duration_seconds is None or s.duration_seconds >= 0 for s in history)
    assert [s.seq for s in history] == list(range(1, len(history) + 1))
