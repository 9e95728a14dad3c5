"""The engagement score: website behaviour, kept apart from the framework score.

Each event is worth its weight (`[widget.engagement_weights]`); only the first few of each
kind count (`engagement_repeat_cap`), so refreshing a page does not make a hot lead; the sum
is capped at 100.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from storage.models import Lead
from storage.repositories import EngagementRepository

MAX_SCORE = 100.0


def engagement_score(
    counts: Mapping[str, int], weights: Mapping[str, float], repeat_cap: int
) -> float:
    """0-100 from how many times each event happened."""
    total = sum(weights.get(event, 0.0) * min(n, repeat_cap) for event, n in counts.items())
    return round(min(MAX_SCORE, max(0.0, total)), 1)


def refresh_engagement(
    session: Session, lead_id: int, weights: Mapping[str, float], repeat_cap: int
) -> float | None:
    """Recompute a lead's engagement score from all its events (None if the lead is gone)."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    counts = EngagementRepository(session).counts_for_lead(lead_id)
    lead.engagement_score = engagement_score(counts, weights, repeat_cap)
    return lead.engagement_score
