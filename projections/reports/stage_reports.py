"""The reports on relationship stages: stages, funnel, time in stage, dissolutions.

Each reads the stays of ``stays.STAYS``; docs/reporting.md "Reports" states each rule.
"""

from __future__ import annotations

from collections.abc import Callable

from touchlog.projections.engine.schema import duration_span
from touchlog.projections.reports.frame import OWNERS, STAGE_ORDER, STAGES, Frame, count_where
from touchlog.projections.reports.report import AS_OF, OWNER, PER_OWNER, PERIOD, Report
from touchlog.projections.reports.stays import OPEN_STAYS, STAYS

RANK = "CASE to_stage " + " ".join(
    f"WHEN '{s}' THEN {rank}" for rank, s in enumerate(STAGE_ORDER, 1)) + " END"


def _stays(f: Frame) -> str:
    """CTEs: stages, owners, every stay, and ``chosen``: the stays of the owner's customers."""
    return (f"WITH RECURSIVE {STAGES}, {OWNERS}, {STAYS}, "
            f"chosen AS NOT MATERIALIZED (SELECT * FROM stays WHERE {f.owned('customer')})")


# What the stages report selects from ``months``, ``stages`` and ``per_month``.
_STAGES_SELECT = (
    "SELECT mo.month AS period, st.stage, "
    "CAST(coalesce((SELECT sum(p.entries) FROM per_month p WHERE p.stage = st.stage "
    "AND p.month = mo.month), 0) AS INTEGER) AS entries, "
    "CAST(coalesce((SELECT sum(p.net) FROM per_month p WHERE p.stage = st.stage "
    "AND p.month <= mo.month), 0) AS INTEGER) AS customers "
    "FROM months mo CROSS JOIN stages st ORDER BY mo.month, st.stage_rank")


def stages(f: Frame) -> str:
    """Per month and stage: entries in the period, and customers in the stage at the month's
    end (or at the reading time, in its month). A stay counts from ``entered_at`` to
    ``left_at`` (a stay that ended before it began, which a backdated signal made, counts
    from its start to its start).

    Without an owner, the days before the reading time's are read from the stages
    projection's ``report_stage_days``, and only the stays of that day itself from
    ``stage_history`` (when there are any); the two forms give the same numbers
    (tests/integration/test_report_summaries.py)."""
    d = f.d
    left = d.greatest("entered_at", "left_at")
    if not f.summarised:
        return _stages_from_stays(f)
    start, today = d.day_start(f.as_of), d.day(f.as_of)
    # The days before the reading time's from the summary; that day's own stays from
    # stage_history (one pass over it: an index for them would cost every write), read
    # only when the summary has a row for that day (``moved``, first in the joins, is
    # empty otherwise).
    moves = (
        "moved AS MATERIALIZED (SELECT 1 AS open WHERE EXISTS (SELECT 1 FROM "
        f"report_stage_days WHERE day = {today})), "
        "moves AS (SELECT stage, day, entries - exits AS delta, CASE WHEN "
        f"{f.period_days('day')} THEN entries ELSE 0 END AS entry FROM report_stage_days "
        f"WHERE day < {today} UNION ALL SELECT to_stage, {d.day('entered_at')}, 1, "
        f"CASE WHEN {f.period('entered_at')} THEN 1 ELSE 0 END FROM moved CROSS JOIN "
        f"stage_history WHERE entered_at >= {start} AND entered_at <= {f.as_of} UNION ALL "
        f"SELECT to_stage, {d.day(left)}, -1, 0 FROM moved CROSS JOIN stage_history WHERE "
        f"(left_at >= {start} AND left_at <= {f.as_of} AND left_at >= entered_at) OR "
        f"(entered_at >= {start} AND entered_at <= {f.as_of} AND left_at < entered_at))")
    first = f.first_month("(SELECT min(substr(day, 1, 7)) FROM report_stage_days "
                          "WHERE entries > 0)")
    return (
        f"WITH RECURSIVE {STAGES}, {moves}, {f.months(first, f.last_month())}, "
        "per_month AS (SELECT CASE WHEN substr(m.day, 1, 7) < span.first_month THEN '' "
        "ELSE substr(m.day, 1, 7) END AS month, m.stage, sum(m.delta) AS net, "
        "sum(m.entry) AS entries FROM moves m, span GROUP BY 1, 2) "
        f"{_STAGES_SELECT}")


def _stages_from_stays(f: Frame) -> str:
    """``stages`` for an owner, from the stays themselves."""
    d = f.d
    left = d.greatest("entered_at", "left_at")
    first = f.first_month(f"(SELECT min({d.month('entered_at')}) FROM chosen)")
    def month(at: str) -> str:  # the month of a move; '' before the first month shown
        return (f"CASE WHEN {at} < {d.month_start('span.first_month')} THEN '' "
                f"ELSE {d.month(at)} END")
    # Entries and exits are counted per month apiece, then added up: no row per move.
    return (
        f"{_stays(f)}, "
        f"{f.months(first, f.last_month())}, "
        f"moves AS (SELECT {month('entered_at')} AS month, to_stage AS stage, "
        f"count(*) AS net, {count_where(f.period('entered_at'))} AS entries FROM chosen, span "
        f"WHERE entered_at <= {f.as_of} GROUP BY 1, 2 UNION ALL "
        f"SELECT {month(left)}, to_stage, -count(*), 0 FROM chosen, span "
        f"WHERE left_at IS NOT NULL AND {left} <= {f.as_of} GROUP BY 1, 2), "
        "per_month AS (SELECT month, stage, sum(net) AS net, sum(entries) AS entries "
        "FROM moves GROUP BY month, stage) "
        f"{_STAGES_SELECT}")


def funnel(f: Frame) -> str:
    """Of the customers who entered discovery in the period: how many reached each stage
    (or a later one) by the reading time, conversions, dissolutions from each stage and how
    many of those were won back.

    Without an owner, the customers are counted from the stages projection's
    ``report_funnel_starts``, which counts each one as its whole history stands. Only
    customers with a stay entered or left after the reading time (none, unless it lies in
    the past or a stay in the future) are counted from ``stage_history``: their rows in
    the summary are taken away and their counts as of the reading time added. The two
    forms give the same numbers (tests/integration/test_report_summaries.py)."""
    if not f.summarised:
        return (f"{_stays(f)}, {_funnel_counts(f, 'chosen', '', bounded=True)}, "
                f"{_funnel_select(f)}")
    late = ("late AS MATERIALIZED (SELECT DISTINCT customer FROM after), "
            "late_stays AS NOT MATERIALIZED (SELECT * FROM stays "
            "WHERE customer IN (SELECT customer FROM late))")
    before = ("(r.previous_day = '' OR r.previous_day < :since_day)" if "since" in f.params
              else "r.previous_day = ''")
    kept = f"{f.period_days('r.day')} AND {before}"  # the period's first entries
    return (
        f"WITH RECURSIVE {STAGES}, {STAYS}, {_after(f)}, {late}, "
        f"{_funnel_counts(f, 'late_stays', 'now_', bounded=True)}, "
        f"{_funnel_counts(f, 'late_stays', 'all_', bounded=False)}, "
        "tops AS MATERIALIZED (SELECT top, sum(customers) AS customers FROM ("
        "SELECT st.stage_rank AS top, r.customers_furthest AS customers "
        f"FROM report_funnel_starts r JOIN stages st ON st.stage = r.stage WHERE {kept} "
        "UNION ALL SELECT top, customers FROM now_tops "
        "UNION ALL SELECT top, -customers FROM all_tops) t GROUP BY top), "
        "ended AS MATERIALIZED (SELECT stage, sum(dissolved) AS dissolved, "
        "sum(won_back) AS won_back FROM ("
        f"SELECT r.stage, r.dissolved, r.won_back FROM report_funnel_starts r WHERE {kept} "
        "UNION ALL SELECT stage, dissolved, won_back FROM now_ended "
        "UNION ALL SELECT stage, -dissolved, -won_back FROM all_ended) e GROUP BY stage), "
        f"{_funnel_select(f)}")


def _after(f: Frame) -> str:
    """CTEs ``gate`` and ``after``: the stays entered or left after the reading time, which
    the summaries (counting every stay) count too soon. There are such stays only if
    report_stage_days (which counts entries and exits) has a day on or after the reading
    time's: else ``gate`` is empty, and stage_history is not read at all (``gate`` comes
    first in the join)."""
    return ("gate AS MATERIALIZED (SELECT 1 AS open WHERE (SELECT max(day) FROM "
            f"report_stage_days) >= {f.d.day(f.as_of)}), "
            "after AS MATERIALIZED (SELECT h.* FROM gate CROSS JOIN stays h "
            f"WHERE h.entered_at > {f.as_of} OR h.left_at > {f.as_of})")


def _funnel_counts(f: Frame, stays: str, prefix: str, *, bounded: bool) -> str:
    """CTEs ``{prefix}tops`` (top, customers): the customers of ``stays`` who entered
    discovery in the period, by the rank of the furthest stage they reached since, and
    ``{prefix}ended`` (stage, dissolved, won_back): their dissolutions since, by the stage
    they left. ``bounded``: what had happened by the reading time; else everything."""
    p = prefix
    by_then = f" AND h.entered_at <= {f.as_of}" if bounded else ""
    # Each customer's start, then its stays since: seeks in the customer's stays, no sort
    # of every stay by customer.
    after_start = f"h.customer = s.customer AND h.entered_at >= s.started{by_then}"
    back = (f"left_at IS NOT NULL AND left_at <= {f.as_of}" if bounded
            else "left_at IS NOT NULL")
    return (
        f"{p}starts AS MATERIALIZED (SELECT customer, min(entered_at) AS started "
        f"FROM {stays} h WHERE to_stage = 'discovery' AND {f.period('entered_at')}"
        f"{by_then} GROUP BY customer), "
        f"{p}since AS (SELECT h.customer, h.to_stage, h.from_stage, h.left_at "
        f"FROM {p}starts s JOIN {stays} h ON {after_start}), "
        f"{p}reached AS (SELECT (SELECT max({RANK}) FROM {stays} h WHERE {after_start} "
        f"AND h.to_stage <> 'dissolution') AS top FROM {p}starts s), "
        f"{p}tops AS MATERIALIZED (SELECT top, count(*) AS customers FROM {p}reached "
        "GROUP BY top), "
        f"{p}ended AS (SELECT from_stage AS stage, count(*) AS dissolved, "
        f"sum(CASE WHEN {back} THEN 1 ELSE 0 END) AS won_back FROM {p}since "
        "WHERE to_stage = 'dissolution' GROUP BY from_stage)")


def _funnel_select(f: Frame) -> str:
    """The funnel's rows from ``tops`` and ``ended`` (``_funnel_counts``)."""
    return (
        "counts AS (SELECT st.stage, st.stage_rank, (SELECT coalesce(sum(t.customers), 0) "
        "FROM tops t WHERE t.top >= st.stage_rank) AS customers FROM stages st "
        "WHERE st.stage <> 'dissolution') "
        "SELECT c.stage, CAST(c.customers AS INTEGER) AS customers, "
        f"{f.share('c.customers', 'lag(c.customers) OVER w')} AS conversion, "
        f"{f.share('c.customers', 'first_value(c.customers) OVER w')} AS cumulative, "
        "CAST(coalesce(e.dissolved, 0) AS INTEGER) AS dissolved, "
        "CAST(coalesce(e.won_back, 0) AS INTEGER) AS won_back "
        "FROM counts c LEFT JOIN ended e ON e.stage = c.stage "
        "WINDOW w AS (ORDER BY c.stage_rank) ORDER BY c.stage_rank")


def time_in_stage(f: Frame) -> str:
    """Per stage (and owner, with ``per_owner``), the stays entered in the period: how many,
    how many are open at the reading time, and of the closed ones the median, the 90th
    percentile (nearest rank) and the longest, in days; the longest open one so far.

    Without an owner, a period or ``per_owner``, the counts are read from the summaries
    (``_stay_totals``); else from the stays (``_stay_totals_of_stays``). The two forms
    give the same numbers (tests/integration/test_report_summaries.py)."""
    keys = ["stage", "owner"] if f.w.per_owner else ["stage"]

    def joined(side: str, other: str) -> str:
        return " AND ".join(f"{side}.{key} IS NOT DISTINCT FROM {other}.{key}"
                            for key in keys)
    totals = (_stay_totals(f) if f.summarised and not f.has_period and not f.w.per_owner
              else _stay_totals_of_stays(f, keys, joined))
    return (
        f"{totals}, "
        "keys AS (" + ("SELECT DISTINCT g.stage, g.owner, st.stage_rank FROM (SELECT stage, "
                       "owner FROM closed_totals UNION SELECT stage, owner FROM open_totals) g "
                       "JOIN stages st ON st.stage = g.stage" if f.w.per_owner
                       else "SELECT stage, NULL AS owner, stage_rank FROM stages") + ") "
        "SELECT k.owner, k.stage, "
        "CAST(coalesce(c.stays, 0) + coalesce(o.stays, 0) AS INTEGER) AS stays, "
        "CAST(coalesce(o.stays, 0) AS INTEGER) AS open_stays, "
        f"{f.days('d.median')} AS median_days, {f.days('d.p90')} AS p90_days, "
        f"{f.days('c.longest')} AS longest_days, "
        f"{f.d.rounded('o.longest', 2)} AS longest_open_days FROM keys k "
        f"LEFT JOIN closed_totals c ON {joined('c', 'k')} "
        f"LEFT JOIN open_totals o ON {joined('o', 'k')} "
        f"LEFT JOIN done d ON {joined('d', 'k')} "
        "ORDER BY " + (f"k.owner{f.d.collate('text')} NULLS LAST, " if f.w.per_owner
                       else "") + "k.stage_rank")


def _stay_totals_of_stays(f: Frame, keys: list[str], joined: Callable[[str, str], str]) -> str:
    """CTEs ``closed_totals`` (stays, longest), ``open_totals`` (stays, longest in days) and
    ``done`` (median, p90) per group of ``keys``, counted from the stays."""
    by = ", ".join(keys)
    # Each stay's owner only when asked for per owner: a seek per stay
    owner, owners = (("o.owner", " LEFT JOIN owners o ON o.customer = s.customer")
                     if f.w.per_owner else ("NULL AS owner", ""))
    entered = f"{f.period('s.entered_at')} AND s.entered_at <= {f.as_of}"
    # Without owners, the closed stays are read in stage and duration order from
    # stage_history's index of them (schema.CLOSED_STAYS), each rank's entry reached by
    # walking it (_durations_at_ranks); per owner, they are numbered per group.
    closed = "MATERIALIZED" if f.w.per_owner else "NOT MATERIALIZED"
    return (
        f"{_stays(f)}, "
        f"closed AS {closed} (SELECT s.to_stage AS stage, {owner}, s.duration_seconds "
        f"FROM chosen s{owners} WHERE s.left_at IS NOT NULL AND s.left_at <= {f.as_of} "
        f"AND {entered}), "
        f"open AS (SELECT s.to_stage AS stage, {owner}, s.entered_at FROM chosen s{owners} "
        f"WHERE (s.left_at IS NULL OR s.left_at > {f.as_of}) AND {entered}), "
        f"closed_totals AS MATERIALIZED (SELECT {by}, count(*) AS stays, "
        f"max(duration_seconds) AS longest FROM closed GROUP BY {by}), "
        # the longest open stay is the earliest entered: its days counted once per group
        f"open_totals AS (SELECT {by}, count(*) AS stays, "
        f"{f.d.days_between('min(entered_at)', f.as_of)} AS longest FROM open GROUP BY {by}), "
        f"{_ranked_durations(keys, joined) if f.w.per_owner else _durations_at_ranks()}")


def _stay_totals(f: Frame) -> str:
    """CTEs ``closed_totals``, ``open_totals`` and ``done`` per stage (as
    ``_stay_totals_of_stays``) from the summaries, for every stay entered by the reading
    time: the stays from report_stage_days' entries, the closed ones from
    report_stay_durations, each less the stays entered or left after the reading time
    (``after``). A rank's duration is sought among the closed stays of its span of
    duration alone (the spans before it counted by the summary), and is 0 without a search
    in the span of stays that lasted no time; the longest closed stay is the last in the
    index of closed stays, the longest open one the earliest entered of stage_current's
    and of ``after``'s."""
    t = f.as_of
    by_then = f"h.left_at IS NOT NULL AND h.left_at <= {t} AND h.entered_at <= {t}"

    def closed(stage: str) -> str:  # the closed stays of a stage (SQL) by then, indexed
        return f"stays h WHERE h.to_stage = {stage} AND {by_then}"

    def at(stage: str, rank: Callable[[str], str]) -> str:
        literal = f"'{stage}'"
        span = (f"FROM spans m JOIN closed_counts c ON c.stage = m.stage WHERE m.stage = "
                f"{literal} AND m.upto >= {rank('c.stays')} AND m.before < {rank('c.stays')}")
        sought = (f"(SELECT h.duration_seconds FROM {closed(literal)} AND h.duration_seconds "
                  f">= (SELECT m.from_seconds {span}) ORDER BY h.duration_seconds LIMIT 1 "
                  f"OFFSET (SELECT coalesce(max({rank('c.stays')} - 1 - m.before), 0) {span}))")
        return f"CASE WHEN (SELECT m.from_seconds {span}) = 0 THEN 0 ELSE {sought} END"
    earliest_open = (
        f"(SELECT min(h.entered_at) FROM open_stays h WHERE h.to_stage = st.stage "
        f"AND h.entered_at <= {t})",
        f"(SELECT min(h.entered_at) FROM after h WHERE h.to_stage = st.stage "
        f"AND h.entered_at <= {t} AND h.left_at > {t})")
    earliest = f"coalesce({f.d.least(*earliest_open)}, {', '.join(earliest_open)})"
    return (
        f"WITH RECURSIVE {STAGES}, {STAYS}, {OPEN_STAYS}, {_after(f)}, "
        "durations AS MATERIALIZED (SELECT stage, from_seconds, sum(stays) AS stays FROM ("
        "SELECT stage, from_seconds, stays FROM report_stay_durations UNION ALL "
        f"SELECT to_stage, {duration_span('duration_seconds')}, -1 FROM after "
        "WHERE left_at IS NOT NULL) x GROUP BY stage, from_seconds HAVING sum(stays) > 0), "
        "spans AS MATERIALIZED (SELECT stage, from_seconds, "
        "CAST(sum(stays) OVER w AS INTEGER) AS upto, "
        "CAST(sum(stays) OVER w - stays AS INTEGER) AS before "
        "FROM durations WINDOW w AS (PARTITION BY stage ORDER BY from_seconds)), "
        "closed_counts AS MATERIALIZED (SELECT stage, CAST(sum(stays) AS INTEGER) AS stays "
        "FROM durations GROUP BY stage), "
        "entered AS MATERIALIZED (SELECT stage, CAST(sum(entries) AS INTEGER) AS stays "
        "FROM report_stage_days GROUP BY stage), "
        "closed_totals AS (SELECT st.stage, c.stays, (SELECT h.duration_seconds FROM "
        f"{closed('st.stage')} ORDER BY h.duration_seconds DESC LIMIT 1) AS longest "
        "FROM stages st JOIN closed_counts c ON c.stage = st.stage), "
        "open_totals AS (SELECT st.stage, coalesce(e.stays, 0) - coalesce(c.stays, 0) - "
        f"(SELECT count(*) FROM after h WHERE h.to_stage = st.stage AND h.entered_at > {t}) "
        f"AS stays, {f.d.days_between(earliest, t)} AS longest FROM stages st "
        "LEFT JOIN entered e ON e.stage = st.stage "
        "LEFT JOIN closed_counts c ON c.stage = st.stage), "
        "done AS (" + " UNION ALL ".join(
            f"SELECT '{stage}' AS stage, {at(stage, median_rank)} AS median, "
            f"{at(stage, p90_rank)} AS p90" for stage in STAGE_ORDER) + ")")


def median_rank(stays: str) -> str:
    """SQL: the nearest rank of the median among ``stays`` values in order."""
    return f"({stays} + 1) / 2"


def p90_rank(stays: str) -> str:
    """SQL: the nearest rank of the 90th percentile among ``stays`` values in order."""
    return f"(9 * {stays} + 9) / 10"


def _durations_at_ranks() -> str:
    """CTE ``done``: per stage, the durations of the closed stays at the median's and the
    90th percentile's rank, each the one entry at its rank in the stage's closed stays in
    duration order (stage_history's index of them, schema.CLOSED_STAYS): an index walk to
    that rank, not a numbering of every stay."""
    def at(stage: str, rank: str) -> str:
        return (f"(SELECT c.duration_seconds FROM closed c WHERE c.stage = '{stage}' "
                f"ORDER BY c.duration_seconds LIMIT 1 OFFSET (SELECT coalesce(max({rank}) "
                f"- 1, 0) FROM closed_totals WHERE stage = '{stage}'))")
    return "done AS (" + " UNION ALL ".join(
        f"SELECT '{stage}' AS stage, {at(stage, median_rank('stays'))} AS median, "
        f"{at(stage, p90_rank('stays'))} AS p90" for stage in STAGE_ORDER) + ")"


def _ranked_durations(keys: list[str], joined: Callable[[str, str], str]) -> str:
    """CTEs ``ranked`` and ``done``: per group of ``keys``, the closed stays numbered in
    duration order, and the durations at the median's and the 90th percentile's rank (the
    groups, owners among them, are known only as the stays are read)."""
    by = ", ".join(f"r.{key}" for key in keys)
    median, p90 = median_rank("t.stays"), p90_rank("t.stays")
    return (
        f"ranked AS (SELECT {', '.join(keys)}, duration_seconds AS seconds, row_number() "
        f"OVER (PARTITION BY {', '.join(keys)} ORDER BY duration_seconds) AS n FROM closed), "
        f"done AS (SELECT {by}, max(CASE WHEN r.n = {median} THEN r.seconds END) AS median, "
        f"max(CASE WHEN r.n = {p90} THEN r.seconds END) AS p90 "
        f"FROM ranked r CROSS JOIN closed_totals t WHERE {joined('t', 'r')} "
        f"AND (r.n = {median} OR r.n = {p90}) GROUP BY {by})")


def dissolutions(f: Frame) -> str:
    """Dissolutions in the period by reason and the stage left: how many, the mean days
    from the cycle's start (the durations of the cycle's stays before), how many were won
    back and the mean days until then, and the rating of the last live contact before each
    (the peak-end rule).

    Without an owner, they are counted from the stages projection's
    report_dissolution_days, which counts each as the whole history stands; the ones
    entered or left after the reading time (``after``) are taken away and counted again as
    of then. The two forms give the same numbers
    (tests/integration/test_report_summaries.py)."""
    d = f.d
    back = f"left_at IS NOT NULL AND left_at <= {f.as_of}"
    by_then = f"entered_at <= {f.as_of}"
    if f.summarised:
        counted = (
            f"WITH RECURSIVE {STAYS}, {_after(f)}, "
            f"late_ended AS MATERIALIZED ({_ended('after', f.period('s.entered_at'))}), "
            f"{COUNTED} AS (SELECT reason, from_stage, dissolutions, seconds_to_dissolution, "
            "won_back, seconds_to_win_back, rated, rating_sum FROM report_dissolution_days "
            f"WHERE {f.period_days('day')} UNION ALL "
            f"{_counted('late_ended', '1 = 1', '-', 'left_at IS NOT NULL')} UNION ALL "
            f"{_counted('late_ended', by_then, '', back)})")
    else:
        counted = (
            # The dissolutions are few: each one's cycle and last rating are sought, and
            # kept (materialised) so that the aggregates over them do not seek them again.
            f"{_stays(f)}, ended AS MATERIALIZED ("
            f"{_ended('chosen', f.period('s.entered_at') + ' AND s.' + by_then)}), "
            f"{COUNTED} AS ({_counted('ended', '1 = 1', '', back)})")
    def mean(total: str, count: str) -> str:
        return f"CASE WHEN sum({count}) > 0 THEN sum({total}) * 1.0 / sum({count}) END"
    return (
        f"{counted} SELECT reason, from_stage, CAST(sum(dissolutions) AS INTEGER) AS "
        f"dissolutions, {f.days(mean('seconds_to_dissolution', 'dissolutions'))} "
        "AS mean_days_to_dissolution, CAST(sum(won_back) AS INTEGER) AS won_back, "
        f"{f.days(mean('seconds_to_win_back', 'won_back'))} AS mean_days_to_win_back, "
        "CAST(sum(rated) AS INTEGER) AS last_contact_rated, "
        f"{d.rounded(mean('rating_sum', 'rated'), 2)} AS last_contact_rating_mean "
        "FROM counted GROUP BY reason, from_stage "
        "HAVING sum(dissolutions) > 0 "
        f"ORDER BY sum(dissolutions) DESC, reason{d.collate('text')}, "
        f"from_stage{d.collate('text')}")


# CTE ``counted``: dissolutions counted as report_dissolution_days counts them.
COUNTED = ("counted(reason, from_stage, dissolutions, seconds_to_dissolution, won_back, "
           "seconds_to_win_back, rated, rating_sum)")


def _ended(stays: str, where: str) -> str:
    """SQL: the dissolutions among ``stays`` (rows of ``stays.STAYS``, alias ``s``) that meet
    ``where``: each with the seconds of its cycle's stays before it (``to_dissolution``)
    and the rating of the last live contact at or before its start (``last_rating``)."""
    return (
        "SELECT s.reason, s.from_stage, s.entered_at, s.left_at, s.duration_seconds, "
        "(SELECT coalesce(sum(c.duration_seconds), 0) FROM stays c WHERE c.customer = "
        "s.customer AND c.seq < s.seq AND c.cycle = s.cycle) AS to_dissolution, "
        "(SELECT k.rating FROM archive_contacts k WHERE k.customer = s.customer "
        "AND NOT k.retracted AND k.occurred_at <= s.entered_at "
        "ORDER BY k.occurred_at DESC, k.contact_id DESC LIMIT 1) AS last_rating "
        f"FROM {stays} s WHERE s.to_stage = 'dissolution' AND {where}")


def _counted(ended: str, where: str, sign: str, back: str) -> str:
    """SQL: the rows of ``ended`` (``_ended``) that meet ``where`` as rows of
    report_dissolution_days (one dissolution each), negated with ``sign`` '-'; ``back``:
    the dissolution has been won back."""
    return (
        f"SELECT reason, from_stage, {sign}1, {sign}to_dissolution, "
        f"CASE WHEN {back} THEN {sign}1 ELSE 0 END, "
        f"CASE WHEN {back} THEN {sign}duration_seconds ELSE 0 END, "
        f"CASE WHEN last_rating IS NOT NULL THEN {sign}1 ELSE 0 END, "
        f"{sign}coalesce(last_rating, 0) FROM {ended} WHERE {where}")


REPORTS = (
    Report("stages", "Customers per stage over time", (
        ("period", "text"), ("stage", "text"), ("entries", "int"), ("customers", "int")),
        stages, frozenset({PERIOD, AS_OF, OWNER}), ("stages", "archive")),
    Report("funnel", "Funnel", (
        ("stage", "text"), ("customers", "int"), ("conversion", "real"),
        ("cumulative", "real"), ("dissolved", "int"), ("won_back", "int")),
        funnel, frozenset({PERIOD, AS_OF, OWNER}), ("stages", "archive")),
    Report("time-in-stage", "Time in stage", (
        ("owner", "text"), ("stage", "text"), ("stays", "int"), ("open_stays", "int"),
        ("median_days", "real"), ("p90_days", "real"), ("longest_days", "real"),
        ("longest_open_days", "real")),
        time_in_stage, frozenset({PERIOD, AS_OF, OWNER, PER_OWNER}), ("stages", "archive")),
    Report("dissolutions", "Dissolutions", (
        ("reason", "text"), ("from_stage", "text"), ("dissolutions", "int"),
        ("mean_days_to_dissolution", "real"), ("won_back", "int"),
        ("mean_days_to_win_back", "real"), ("last_contact_rated", "int"),
        ("last_contact_rating_mean", "real")),
        dissolutions, frozenset({PERIOD, AS_OF, OWNER})),
)
