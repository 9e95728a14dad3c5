"""Handing qualified leads to sales: routing rules, the outbox dispatcher and the actions on
a handoff notice (claim, nurture, disqualify)."""
