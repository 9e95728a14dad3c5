"""Domain errors raised by the service; each channel turns them into a message that fits it."""


class QualibotError(Exception):
    """Base class: the message is meant for the person who made the request."""


class InvalidInput(QualibotError):
    """The request cannot be done as asked (unknown framework, empty answer, ...)."""


class NotFound(QualibotError):
    """The lead or conversation does not exist (or is not visible to the caller)."""


class Conflict(QualibotError):
    """Someone else changed the same thing at the same time, or the action is stale."""
