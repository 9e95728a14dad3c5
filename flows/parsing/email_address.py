"""Email addresses: `{"email": "jane@acme.com"}` or `{"unknown": True}`.

The first address-looking token in the answer ("it's jane@acme.com, thanks", "<jane@acme.com>",
"mailto:jane@acme.com") is checked with `email-validator` (syntax only, no DNS): the domain
is lower-cased (and IDNA-normalised), the local part kept as typed.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from ._common import Parsed, clean, never_raise, unknown

_CANDIDATE = re.compile(r"[^\s<>()\[\],;:\"'`]+@[^\s<>()\[\],;:\"'`]+")
_TRAILING = ".!?)>]}"


@never_raise
def parse_email(text: str) -> Parsed:
    """Read an email address. See the module docstring."""
    t = clean(text)
    if "@" not in t:
        return unknown()
    for m in _CANDIDATE.finditer(t):
        candidate = m.group(0).rstrip(_TRAILING)
        if candidate.lower().startswith("mailto:"):
            candidate = candidate[7:]
        if len(candidate) > 254:
            continue
        try:
            checked = validate_email(candidate, check_deliverability=False)
        except (EmailNotValidError, ValueError, UnicodeError):
            continue
        return {"email": checked.normalized}
    return unknown()
