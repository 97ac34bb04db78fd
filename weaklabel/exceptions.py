"""Every error and warning weaklabel raises, under one root each.

``except weaklabel.WeaklabelError`` catches any failure the library reports on purpose (bad
input, a bad LF, an endpoint refusal, a damaged file); anything else is a bug. Warnings derive
from ``WeaklabelWarning``, so ``warnings.simplefilter("error", WeaklabelWarning)`` turns
all of them into errors in a strict pipeline.

The specific classes keep the built-in bases they had (``ValueError`` for bad input,
``RuntimeError`` for failures while running), so existing ``except ValueError`` code still
works. This module imports nothing heavy: it is the leaf every other module may import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "ClassOrderWarning",
    "ConfigError",
    "DataError",
    "DataFileNotFoundError",
    "DegenerateFitWarning",
    "InvalidVoteError",
    "LLMAuthError",
    "LLMError",
    "LLMNotFoundError",
    "LLMResponseError",
    "LLMStatusError",
    "LLMTransportError",
    "LLMUnsupportedError",
    "LabelingFunctionError",
    "ManifestMismatchError",
    "MissingColumnError",
    "NotFittedError",
    "OutputDirError",
    "ReviewError",
    "SandboxError",
    "SourceQualityWarning",
    "WeaklabelError",
    "WeaklabelWarning",
]


class WeaklabelError(Exception):
    """Root of every error weaklabel raises on purpose."""


class WeaklabelWarning(UserWarning):
    """Root of every warning weaklabel issues."""


# ---------------------------------------------------------------- input and configuration
class ConfigError(WeaklabelError, ValueError):
    """The configuration is invalid; the message says which key and why."""


class ManifestMismatchError(WeaklabelError, ValueError):
    """``out_dir`` holds shards of another run (other data, LFs, batch size or classes)."""


class DataError(WeaklabelError, ValueError):
    """A data file cannot be read without guessing: the message names the file, the row or
    column, and the fix."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file or folder does not exist."""


class ClassOrderWarning(WeaklabelWarning):
    """The order of the classes was inferred (sorted label names), not given by the user."""


class MissingColumnError(DataError, KeyError):
    """The data lacks a column the configuration names."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class OutputDirError(WeaklabelError, OSError):
    """The output directory cannot take the run's artifacts: it cannot be written, or it
    holds files that no weaklabel run wrote under the names the run would write."""


# ---------------------------------------------------------------- labeling functions
class ReviewError(WeaklabelError, ValueError):
    """The review app cannot open a run folder or its store, or refuses a request; the
    message names the file or the field and the fix."""


class LabelingFunctionError(WeaklabelError, RuntimeError):
    """A labeling function raised while voting. The original exception is the ``__cause__``.

    ``lf_name`` names the LF and ``row`` the row id (``None`` for an error in a vectorised
    or batch LF, which fails for a whole batch).
    """

    def __init__(self, message: str, lf_name: str, row: Any) -> None:
        super().__init__(message, lf_name, row)
        self.lf_name = lf_name
        self.row = row

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidVoteError(WeaklabelError, ValueError):
    """A labeling function returned something that is not a vote in [-1, cardinality - 1]."""

    def __init__(self, message: str, lf_name: str, row: Any, value: Any) -> None:
        super().__init__(message, lf_name, row, value)
        self.lf_name = lf_name
        self.row = row
        self.value = value

    def __str__(self) -> str:
        return str(self.args[0])


# ---------------------------------------------------------------- estimators
def _not_fitted_error() -> type:
    """``NotFittedError``: under the weaklabel root *and* scikit-learn's own class (so
    ``sklearn.utils.validation.check_is_fitted`` and ``except NotFittedError`` from either
    library catch it). Built on first use, since importing scikit-learn takes a second."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(WeaklabelError, SklearnNotFittedError):
        """An estimator (label model or student) was used before ``fit``."""

    NotFittedError.__module__ = __name__
    NotFittedError.__qualname__ = "NotFittedError"
    return NotFittedError


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(WeaklabelError, _SklearnNotFittedError):
        """An estimator (label model or student) was used before ``fit``."""


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- label models
class DegenerateFitWarning(WeaklabelWarning):
    """A fit collapsed (one class takes almost all mass) or was replaced by a safer estimator."""


class SourceQualityWarning(WeaklabelWarning):
    """A source looks worse than random (it votes a class more often when it is wrong)."""


# ---------------------------------------------------------------- LLM labelers
class LLMError(WeaklabelError, RuntimeError):
    """Base class of the LLM labelers' errors; ``labeler`` names the labeler."""

    def __init__(self, message: str, labeler: str = "") -> None:
        super().__init__(message)
        self.labeler = labeler


class LLMStatusError(LLMError):
    """The endpoint answered a non-retryable HTTP status (401, 403, 404, 400, ...)."""

    def __init__(
        self, message: str, labeler: str, status_code: int, server_message: str = ""
    ) -> None:
        super().__init__(message, labeler)
        self.status_code = status_code
        self.server_message = server_message  # the server's own words (redacted)


class LLMAuthError(LLMStatusError):
    """The endpoint refused the API key (401) or its access to the model (403): the run stops."""


class LLMNotFoundError(LLMStatusError):
    """The endpoint does not know the model or the chat route (404): the run stops."""


class LLMUnsupportedError(LLMStatusError):
    """The endpoint rejects the decoding asked for (``logprobs`` or ``response_format``)."""


class LLMTransportError(LLMError):
    """Requests kept failing (timeouts, dropped connections, 429/5xx) after every retry."""


class LLMResponseError(LLMError):
    """Answers the labeler could not use, when the labeler was asked to raise on them.

    A 200 whose body is not a chat completion is counted as an unparsable answer for its
    row (it abstains); this error is for callers that want such rows to stop a run.
    """


# ---------------------------------------------------------------- LF suggestions
class SandboxError(WeaklabelError, RuntimeError):
    """An LLM-written Python LF could not be run in the sandbox: it timed out, broke a limit,
    or does not define ``lf(text)``."""
