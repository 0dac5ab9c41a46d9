"""One error family. Each subclass also inherits the built-in a caller would expect."""


class SymroofError(Exception):
    """Root of every error symroof raises on purpose; the CLI prints it as one line."""


class CardError(SymroofError, ValueError):
    """A model or chip card (YAML or config.json) is missing a key, has an unknown one, or a bad value."""


class UnknownNameError(SymroofError, KeyError):
    """A card, formula, derivation or claim name that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InfeasibleError(SymroofError, ValueError):
    """A mesh, strategy or batch that cannot run: degrees that do not divide, memory that does not fit."""


class NoClosedFormError(SymroofError, ArithmeticError):
    """SymPy found no (or more than one) physical solution where one was expected."""
