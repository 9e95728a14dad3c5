"""Domain errors raised by the service; each channel turns them into a message that fits it."""


class QualibotError(Exception):
    """Base class: the message is meant for the person who made the request."""


class InvalidInput(QualibotError):
    """The request cannot be done as asked (unknown framework, empty answer, ...)."""


class NotFound(QualibotError):
    """The lead or conversation does not exist (or is not visible to the caller)."""


class Conflict(QualibotError):
    """Someone else changed the same thing at the same time, or the action is stale."""


class InvalidFields(InvalidInput):
    """Several inputs of one form are wrong: `fields` maps each field (a question id,
    `company`, `framework`, ...) to what is wrong with it, for forms that show errors per field
    (a Slack modal's `response_action: errors`)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = dict(fields)
        super().__init__(" ".join(self.fields.values()) or "Some fields are not right.")


class AlreadyProcessed(QualibotError):
    """The same delivery (a retried Slack event, the same click delivered twice) was already
    handled: nothing was changed this time, and nothing needs saying."""
