"""Contact questions, asked before the framework's questions by the website widget.

`name`, `email`, `company` and `consent`, each its own criterion (not scored). The name is
read by `flows.parsing.name`: "idk", "n/a", "prefer not to say", "asdf" or an email address are
asked again with the hint rather than stored as the name; the company likewise by
`flows.parsing.company` ("n/a", "none", "no company", "student", "retired", "asdf" are asked
again; "3M", "X", "AT&T", "Self-employed" are companies). The consent
question's prospect phrasing is the full consent text, `CONSENT_TEXT`, so the text the
visitor agreed to can be recorded with their answer. It is a yes/no question without choices
(a button would record `{"value": "yes"}` rather than the yes/no shape `{"value": true}`).
"""

from __future__ import annotations

from flows.definitions import Phrasing, Question, Validation

CONTACT_IDS = ("name", "email", "company", "consent")

CONSENT_TEXT = (
    "May we store your answers and contact details and have our sales team contact you by "
    "email about your enquiry? We won't share them with anyone else, and you can withdraw "
    "your consent at any time by replying to any of our emails."
)

_CONTACT: tuple[Question, ...] = (
    Question(
        id="name", criterion="name", type="name", skippable=False,
        ask=Phrasing(rep="What is the contact's name?",
                     prospect="Hi! Before we start, what's your name?"),
        hint='Just the name we should call you by, for example "Dana Lee" or "Dana"; we only '
             "use it to follow up on your enquiry.",
        validation=Validation(max_length=200, min_words=1),
    ),
    Question(
        id="email", criterion="email", type="email", skippable=False,
        ask=Phrasing(rep="What is the contact's work email address?",
                     prospect="Thanks! What's your work email address, so we can follow up?"),
        hint='An email address, for example "dana.lee@example.com".',
        validation=Validation(max_length=320, min_words=1),
    ),
    Question(
        id="company", criterion="company", type="company", skippable=False,
        ask=Phrasing(rep="Which company does the contact work for?",
                     prospect="Which company do you work for?"),
        hint='The company or organization you work for or are asking on behalf of, for example '
             '"Acme Ltd" or "University of Leeds"; if you work for yourself, "self-employed" is '
             "fine.",
        validation=Validation(max_length=200, min_words=1),
    ),
    Question(
        id="consent", criterion="consent", type="yesno", skippable=False,
        ask=Phrasing(rep="Has the contact agreed that we store their details and contact them "
                         "by email about their enquiry?",
                     prospect=CONSENT_TEXT),
        hint='Please answer "yes" or "no". ' + CONSENT_TEXT,
    ),
)


def contact_questions() -> list[Question]:
    """The contact questions in the order asked (the same immutable objects every call)."""
    return list(_CONTACT)
