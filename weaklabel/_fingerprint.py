"""What defines a set of labeling functions, as digests: so that a cache of their votes is
reused only while nothing that makes those votes has changed.

One place for the two caches of LF votes — the fit pipeline's (``<cache_dir>/lf_votes``)
and ``weaklabel.stream``'s shard manifest. An LF is defined by

- its type and settings (keywords, patterns, label, resources), described as data;
  functions by their source code, closure and defaults (``describe``); the content of
  any file it is given as a resource;
- the files of its code: the module defining each of its functions (and the LF modules
  the pipeline loaded), the local modules those import, directly or not, and the data
  files they name (a keyword list next to the module, ``open("data/words.txt")``), found
  by reading the modules' source (``code_files``). "Local" means not part of Python,
  an installed package or weaklabel itself: editing a helper module or a keyword file
  invalidates the votes, upgrading numpy does not.

A file whose name is computed at run time (from an environment variable, say) cannot be
found by reading the source; pass it to the LF as a resource (``resources={"words":
path}``) and its content counts.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
import sysconfig
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["code_files", "describe", "frame_fingerprint", "is_user_file", "lf_fingerprint", "lfs_fingerprint"]

_MAX_DEPTH = 4
"""How deep an LF's settings are described (then only the type)."""
_MAX_DATA_FILE = 256 << 20
"""Data files larger than this are fingerprinted by size and modification time, not content."""
_FILE_NAME = re.compile(r"[^\n\r\t*?<>|]{1,255}\.[A-Za-z0-9]{1,10}")


# ---------------------------------------------------------------- settings
def _code_digest(func: Any) -> str:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):  # defined in a REPL: fall back to the bytecode
        code = func.__code__
        source = repr((code.co_code, code.co_consts, code.co_names))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of a setting: data as is, functions by their source code."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, re.Pattern):
        return {"pattern": value.pattern, "flags": int(value.flags)}
    if isinstance(value, np.ndarray):
        return {"array": hashlib.sha256(value.tobytes()).hexdigest()[:16], "dtype": str(value.dtype)}
    if depth >= _MAX_DEPTH:
        return type(value).__qualname__
    if isinstance(value, Mapping):
        return {str(k): describe(v, depth + 1) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, set | frozenset):
        return sorted((describe(v, depth + 1) for v in value), key=json.dumps)
    if isinstance(value, list | tuple):
        return [describe(v, depth + 1) for v in value]
    if isinstance(value, functools.partial):
        return {
            "partial": describe(value.func, depth + 1),
            "args": describe(value.args, depth + 1),
            "keywords": describe(value.keywords, depth + 1),
        }
    if inspect.isfunction(value) or inspect.ismethod(value):
        func = getattr(value, "__func__", value)
        cells = [cell.cell_contents for cell in func.__closure__ or () if _has_contents(cell)]
        return {
            "code": _code_digest(func),
            "closure": describe(cells, depth + 1),
            "defaults": describe(func.__defaults__, depth + 1),
        }
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {"type": type(value).__qualname__, **_settings(value, depth + 1)}
    return type(value).__qualname__


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _settings(obj: Any, depth: int) -> dict[str, Any]:
    """What defines an object's votes: its settings and its functions.

    Public attributes are settings; private ones count when they hold data or functions
    (an LF's ``_f``, ``_resources``, ``_pre``), not live objects such as caches or
    connections, nor ``None`` (a cache opened lazily is ``None`` until the first run).
    Fitted state (a trailing ``_``) counts only as numbers (a calibrated ``threshold_``),
    not reports or modes picked while running.
    """
    described = {}
    for key, value in sorted(vars(obj).items()):
        if key.startswith("__"):
            continue
        if key.endswith("_") and not isinstance(value, int | float | np.number):
            continue
        if key.startswith("_") and (value is None or not _is_data(value)):
            continue
        described[key] = describe(value, depth)
    return described


def _is_data(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float | np.generic | re.Pattern):
        return True
    if isinstance(value, functools.partial) or inspect.isfunction(value) or inspect.ismethod(value):
        return True
    if isinstance(value, Mapping):
        return all(_is_data(v) or hasattr(v, "__dict__") for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return all(_is_data(v) or callable(v) for v in value)
    return False


# ---------------------------------------------------------------- files
@functools.cache
def _not_local_roots() -> tuple[str, ...]:
    """Folders whose modules are not the user's: Python's, installed packages', weaklabel's."""
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    roots.add(str(Path(__file__).resolve().parent))  # weaklabel's own modules
    return tuple(str(Path(root).resolve()) + os.sep for root in roots)


def is_user_file(file: str) -> bool:
    """Whether ``file`` is the user's code: not Python's, an installed package's or weaklabel's."""
    return file.endswith(".py") and not str(Path(file).resolve()).startswith(_not_local_roots())


def _local_file(module: types.ModuleType | None) -> Path | None:
    """The source file of ``module`` when it is the user's code."""
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file and is_user_file(file) else None


def _imported_names(tree: ast.AST, package: str | None) -> set[str]:
    """Every module an ``import`` statement of the source names (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package or "")
                except (ImportError, ValueError):
                    continue
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _module_named(name: str) -> types.ModuleType | None:
    """An imported module by name (the LFs ran, so what they import is loaded)."""
    return sys.modules.get(name)


def _referenced_modules(module: types.ModuleType) -> set[types.ModuleType]:
    """Modules the globals of ``module`` come from: ``import helpers``, ``from helpers import f``."""
    found = set()
    for value in list(vars(module).values()):
        if isinstance(value, types.ModuleType):
            found.add(value)
        elif inspect.isfunction(value) or inspect.isclass(value):
            source = _module_named(getattr(value, "__module__", "") or "")
            if source is not None:
                found.add(source)
    return found


def _data_files(tree: ast.AST, folder: Path) -> set[Path]:
    """Files the source names in string literals: next to the module, under its folders (two
    levels), from the current directory, or absolute."""
    found: set[Path] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        if len(text) > 1024 or not _FILE_NAME.fullmatch(text) or text.endswith(".py"):
            continue
        candidates = [Path(text), folder / text]
        if "/" not in text and os.sep not in text:
            candidates += list(folder.glob(f"*/{text}")) + list(folder.glob(f"*/*/{text}"))
        found.update(path.resolve() for path in candidates if path.is_file())
    return found


def code_files(modules: Iterable[types.ModuleType]) -> dict[str, str]:
    """``{file: sha256}`` of the local source files of ``modules``, the local modules they
    import (transitively) and the data files those name."""
    digests: dict[str, str] = {}
    pending = list(modules)
    seen: set[Path] = set()
    while pending:
        module = pending.pop()
        path = _local_file(module)
        if path is None or path in seen:
            continue
        seen.add(path)
        source = path.read_bytes()
        digests[str(path)] = hashlib.sha256(source).hexdigest()
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        package = getattr(module, "__package__", None)
        pending += [m for m in map(_module_named, _imported_names(tree, package)) if m is not None]
        pending += _referenced_modules(module)
        for data in _data_files(tree, path.parent):
            digests[str(data)] = _file_digest(data)
    return dict(sorted(digests.items()))


def _file_digest(path: Path) -> str:
    """SHA-256 of the file's content (never a cached one: two edits within a clock tick
    share a modification time); very large files by size and modification time."""
    stat = path.stat()
    if stat.st_size > _MAX_DATA_FILE:
        return f"size={stat.st_size},mtime_ns={stat.st_mtime_ns}"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- LFs
def _lf_modules(lf: Any) -> set[types.ModuleType]:
    """The modules defining the functions an LF holds (its function, preprocessors, resources)."""
    found = set()

    def visit(value: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        func = getattr(value, "__func__", value)
        if inspect.isfunction(func):
            module = _module_named(func.__module__)
            if module is not None:
                found.add(module)
        elif isinstance(value, functools.partial):
            visit(value.func, depth + 1)
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                visit(item, depth + 1)
        elif hasattr(value, "__dict__") and not isinstance(value, type | types.ModuleType) and depth < _MAX_DEPTH:
            for item in vars(value).values():
                visit(item, depth + 1)

    for value in vars(lf).values():
        visit(value, 1)
    return found


def _resource_files(lf: Any) -> dict[str, str]:
    """``{file: sha256}`` of the files an LF is given as resources (a path or a file name)."""
    found = {}
    for value in (getattr(lf, "_resources", None) or {}).values():
        if isinstance(value, str | os.PathLike) and len(os.fspath(value)) < 4096:
            path = Path(os.fspath(value))
            if "\n" not in str(path) and path.is_file():
                found[str(path.resolve())] = _file_digest(path)
    return found


def lf_fingerprint(lf: Any) -> dict[str, str]:
    """Name, kind and a digest of the LF's definition: its code and settings, the files of its
    code (the module defining it, the local helpers it imports, the data files they name) and
    the files it is given as resources. Files an LF writes (an LLM labeler's cache) do not count."""
    definition = {
        "type": f"{type(lf).__module__}.{type(lf).__qualname__}",
        **_settings(lf, 1),
        "files": code_files(_lf_modules(lf)),
        "resource_files": _resource_files(lf),
    }
    text = json.dumps(definition, sort_keys=True, default=str)
    return {"name": lf.name, "kind": lf.kind, "definition": hashlib.sha256(text.encode()).hexdigest()[:16]}


def lfs_fingerprint(lfs: Iterable[Any], modules: Iterable[types.ModuleType] = ()) -> str:
    """One digest for a list of LFs (in order) and the modules they were loaded from."""
    from weaklabel import __version__

    payload = {
        "weaklabel": __version__,
        "lfs": [lf_fingerprint(lf) for lf in lfs],
        "modules": code_files(modules),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a table's values, row ids and column names."""
    hashed = pd.util.hash_pandas_object(frame.astype(str), index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, frame.columns)).encode()).hexdigest()
