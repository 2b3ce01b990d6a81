"""The infrastructure stage's exceptions; entry points turn them into one line and an exit code."""


class InfraError(RuntimeError):
    """A service could not be installed, started or reached; the message says what to do."""
