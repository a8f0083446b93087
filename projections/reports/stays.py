"""Every read of the stage tables the reports make, in one place.

``stage_history`` has one row per stay in a stage. The reports read it through ``STAYS``
alone, so a change to the table (a column for why a relationship ended, a history derived
in the order things happened) is a change here.
"""

from __future__ import annotations

from touchlog.projections.engine.schema import UNCATEGORISED

# Why a relationship ended, as the dissolutions report groups it: the reason category
# (docs/events.md "Why relationships end"), or "uncategorised" for a dissolution recorded
# without one.
DISSOLUTION_REASON = f"coalesce(h.reason_category, '{UNCATEGORISED}')"

# CTE ``stays``: every stay, ``reason`` as DISSOLUTION_REASON groups it. ``left_at`` is null
# while the stay lasts; ``duration_seconds`` is left_at - entered_at.
STAYS = ("stays AS NOT MATERIALIZED (SELECT h.customer, h.seq, h.cycle, h.from_stage, "
         "h.to_stage, h.entered_at, h.left_at, h.duration_seconds, "
         f"{DISSOLUTION_REASON} AS reason, h.contact_id FROM stage_history h)")

# CTE ``current_stages``: each customer's stage now.
CURRENT_STAGES = "current_stages AS (SELECT customer, stage FROM stage_current)"

# CTE ``open_stays``: the stays that have not ended, each customer's last (stage_current
# holds it, with an index in stage and entry order).
OPEN_STAYS = ("open_stays AS NOT MATERIALIZED (SELECT customer, stage AS to_stage, "
              "since AS entered_at FROM stage_current)")

