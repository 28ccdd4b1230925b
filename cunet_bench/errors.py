"""Errors that the command line shows to the user as one line, without a traceback."""


class UserError(Exception):
    """Bad input or an unusable environment: the CLI prints the message and exits with code 2."""


class UnknownModelError(UserError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class MetricUnavailable(Exception):
    """A metric whose pretrained weights are not installed: its results are left empty."""


class BenchWarning(UserWarning):
    """Something a user should know that does not stop the command (the CLI prints one line)."""


def warn(message: str) -> None:
    import warnings

    warnings.warn(message, BenchWarning, stacklevel=2)
