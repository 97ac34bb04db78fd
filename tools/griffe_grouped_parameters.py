"""Griffe extension for the docs site: grouped numpydoc parameters take their own signature types.

A numpydoc entry may name several parameters at once (``max_iter, tol`` with one
description). Griffe's numpy parser then gives every name of the group the type and default
of the *first* one found in the signature, so the API page would say ``tol: int = 100``
against ``tol: float = 1e-06``. This extension re-reads each name's own annotation and
default from the signature wherever the group's came from the signature (an explicit type in
the docstring, ``a, b : int``, is kept: numpydoc means it for every name).

Loaded by mkdocstrings (``extensions`` in mkdocs.yml); tests/test_docs.py checks a page.
"""

from __future__ import annotations

from typing import Any

from griffe import Class, DocstringSectionKind, Extension, Function, Object

_PARAMETER_SECTIONS = (DocstringSectionKind.parameters, DocstringSectionKind.other_parameters)


def _groups(items: list[Any]) -> list[list[Any]]:
    """Consecutive parameters parsed from one entry: the parser shares the description string."""
    groups: list[list[Any]] = []
    for item in items:
        if groups and item.description is groups[-1][0].description:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def fix_grouped_parameters(obj: Object) -> None:
    """Give each name of a grouped docstring entry its own signature type and default."""
    if obj.docstring is None:
        return
    try:
        signature = {parameter.name: parameter for parameter in obj.parameters}  # type: ignore[attr-defined]
    except (AttributeError, KeyError):
        return
    for section in obj.docstring.parsed:
        if section.kind not in _PARAMETER_SECTIONS:
            continue
        for group in _groups(section.value):
            named = [item for item in group if item.name in signature]
            if len(group) < 2 or not named:
                continue
            lead = signature[named[0].name]
            from_signature_type = group[0].annotation is lead.annotation
            from_signature_default = group[0].value is lead.default
            for item in named:
                own = signature[item.name]
                if from_signature_type:
                    item.annotation = own.annotation
                if from_signature_default:
                    item.value = own.default


class GroupedParameters(Extension):
    """Runs ``fix_grouped_parameters`` on every function and class once it is loaded."""

    def on_function(self, *, func: Function, **kwargs: Any) -> None:
        fix_grouped_parameters(func)

    def on_class(self, *, cls: Class, **kwargs: Any) -> None:
        fix_grouped_parameters(cls)
