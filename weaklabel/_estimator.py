"""scikit-learn's estimator protocol, without importing scikit-learn.

Label models and students are scikit-learn estimators: ``get_params``/``set_params`` (so
``sklearn.base.clone``, grid search and pipelines work), ``__sklearn_tags__``,
``__sklearn_is_fitted__`` and scikit-learn's ``NotFittedError``. Subclassing
``sklearn.base.BaseEstimator`` would import scikit-learn (about a second) whenever a
majority vote is imported, so this mixin implements the same protocol and asks scikit-learn
for its tag classes only when scikit-learn itself calls ``__sklearn_tags__``.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

__all__ = ["EstimatorMixin"]


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # arrays compare elementwise
        return False


class EstimatorMixin:
    """``get_params``, ``set_params``, a short ``repr``, tags and the fitted check.

    ``__init__`` of a subclass only stores its arguments under their own names. ``_fitted_marker``
    names the learned attribute set last by ``fit``: its presence means "fitted".
    """

    _fitted_marker: ClassVar[str]
    _estimator_kind: ClassVar[Literal["classifier"] | None] = None
    """``"classifier"`` for students; label models have no scikit-learn estimator type (their
    input is votes, their ``y`` optional)."""

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The ``__init__`` arguments (scikit-learn's protocol; no nested estimators here)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set ``__init__`` arguments; an unknown name raises, naming the valid ones."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; parameters are {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _same(value, defaults.get(name))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------ scikit-learn hooks
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_marker)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            from weaklabel.exceptions import NotFittedError

            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit first"
            )

    def _more_sklearn_tags(self, tags: Any) -> None:
        """Adjust the tags scikit-learn asked for (subclasses override; tags are mutable)."""

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        tags = Tags(
            estimator_type=self._estimator_kind,
            target_tags=TargetTags(required=self._estimator_kind == "classifier"),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=ClassifierTags() if self._estimator_kind == "classifier" else None,
        )
        self._more_sklearn_tags(tags)
        return tags
