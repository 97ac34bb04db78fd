"""Where does a source err? Its wrong votes grouped into a handful of readable slices.

The case-study loop is: prompt an LLM, find where it errs, write LFs for exactly those
areas. ``disagreements`` lists the wrong rows one by one; ``error_slices`` groups them
so a person reads six slices instead of three hundred rows:

- **n-gram and pattern slices**: the rows (where the source voted) that contain a word
  n-gram ("check out") or match a named pattern ("contains a link", "has at most 5 words"),
  chosen greedily for the errors they hold beyond what the source's overall error rate
  predicts, each new slice counted only on the errors the earlier ones left unexplained;
- **cluster slices**: k-means clusters of the rows' sentence embeddings (the bundled
  all-MiniLM-L6-v2, cached, see ``weaklabel.embeddings``), named by their most
  distinctive words, kept where the source errs more than it does overall.

A row is an error where the source votes against the gold label (``y``, ``-1`` = unknown)
or, where no gold is known, against the strict majority of the other sources. Each slice
reports its size, the source's accuracy inside it, how much of it the other sources cover
and how often they are right there, and example error rows.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from weaklabel._json import json_safe
from weaklabel.label_models._posterior import vote_counts
from weaklabel.lf import ABSTAIN
from weaklabel.matrix import LabelMatrix
from weaklabel.text_patterns import PATTERNS, TextPattern, ngram_matrix, word_count_pattern

__all__ = ["ErrorSlice", "ErrorSlices", "error_slices", "plot_error_slices", "report_section"]

KINDS = ("ngram", "pattern", "cluster")
_MIN_LIFT = 1.25
"""A slice must hold its errors at least this many times more densely than the source overall."""


@dataclass
class ErrorSlice:
    """One group of rows where a source errs more than it does overall."""

    id: str
    """Stable identifier: ``<kind>:<key>`` (the n-gram, the pattern's key, the cluster number)."""
    kind: str
    description: str
    size: int
    """Rows in the slice on which the source voted."""
    n_errors: int
    n_reference: int
    """Rows in the slice whose right answer is known (gold, or a strict majority of the others)."""
    accuracy: float | None
    others_coverage: float
    """Share of the slice's rows on which at least one other source votes."""
    others_accuracy: float | None
    """Accuracy of the other sources' majority vote on the slice's reference rows (ties wrong)."""
    rows: list[Any] = field(repr=False)
    """Row ids (the label matrix's index) of the slice."""
    examples: list[dict[str, Any]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


@dataclass
class ErrorSlices:
    """The slices of one source, with the totals they are measured against."""

    source: str
    basis: str
    """``"gold"``, ``"others"`` (no gold known) or ``"gold+others"`` (gold where known)."""
    n_voted: int
    n_reference: int
    n_errors: int
    accuracy: float | None
    slices: list[ErrorSlice]
    error_rows: list[Any] = field(repr=False)

    def __len__(self) -> int:
        return len(self.slices)

    def __iter__(self):
        return iter(self.slices)

    def __getitem__(self, i: int) -> ErrorSlice:
        return self.slices[i]

    def rows(self) -> list[Any]:
        """Row ids of the error rows inside any slice (what targeted LFs should fix first)."""
        inside = set().union(*(s.rows for s in self.slices)) if self.slices else set()
        return [r for r in self.error_rows if r in inside]

    def to_frame(self) -> pd.DataFrame:
        """One row per slice: id, kind, description, size, errors, accuracy, the others' numbers."""
        columns = ["id", "kind", "description", "size", "n_errors", "accuracy", "others_coverage", "others_accuracy"]
        return pd.DataFrame([{c: getattr(s, c) for c in columns} for s in self.slices], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({**{k: v for k, v in asdict(self).items() if k != "slices"},
                          "slices": [s.to_dict() for s in self.slices]})

    def to_json(self, path: str | Path | None = None) -> str:
        """The slices as JSON (for a review app or a report); written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_html(self, n_examples: int = 3) -> str:
        """A self-contained HTML section: the slice table and a few example rows per slice."""
        head = (
            f"<h3>Where {html.escape(self.source)} errs</h3><p>{self.n_errors} errors on "
            f"{self.n_reference} rows with a known answer ({self.basis}); accuracy "
            f"{_pct(self.accuracy)}.</p>"
        )
        rows = []
        for s in self.slices:
            examples = "".join(
                f"<li>{html.escape(str(e.get('text', ''))[:200])} "
                f"<small>(gold {html.escape(str(e['expected']))}, voted {html.escape(str(e['vote']))})</small></li>"
                for e in s.examples[:n_examples]
            )
            rows.append(
                f"<tr><td>{html.escape(s.kind)}</td><td>{html.escape(s.description)}</td><td>{s.size}</td>"
                f"<td>{s.n_errors}</td><td>{_pct(s.accuracy)}</td><td>{_pct(s.others_coverage)}</td>"
                f"<td>{_pct(s.others_accuracy)}</td><td><ul>{examples}</ul></td></tr>"
            )
        table = (
            "<table><thead><tr><th>kind</th><th>slice</th><th>rows</th><th>errors</th><th>accuracy</th>"
            "<th>others cover</th><th>others right</th><th>examples</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>"
        )
        return f'<section class="error-slices">{head}{table}</section>'


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


# ---------------------------------------------------------------- references
def strict_majority(counts: np.ndarray) -> np.ndarray:
    """Per row of vote ``counts`` (rows x classes, from ``vote_counts``): the class with the
    most votes, ``-1`` where no source voted or the top is tied."""
    top = counts.max(axis=1)
    winners = (counts == top[:, None]).sum(axis=1)
    return np.where((top > 0) & (winners == 1), counts.argmax(axis=1), ABSTAIN)


def _source_votes(L: LabelMatrix, source: str | np.ndarray, name: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    """The source's name, its votes, and the other sources' votes."""
    votes = L.to_numpy()
    if isinstance(source, str):
        if source not in L.lf_names:
            raise KeyError(f"no source named {source!r}; sources are {L.lf_names}")
        j = L.lf_names.index(source)
        return source, votes[:, j], np.delete(votes, j, axis=1)
    own = np.asarray(source)
    if own.shape != (L.n_rows,):
        raise ValueError(f"source votes have shape {own.shape}, expected ({L.n_rows},) to match the matrix")
    if own.dtype.kind not in "iu":
        raise ValueError(f"source votes must be integer class indices (-1 = abstain), got dtype {own.dtype}")
    if own.size and (own.min() < ABSTAIN or own.max() >= L.cardinality):
        raise ValueError(f"source votes must lie in [-1, {L.cardinality - 1}]")
    label = name or "source"
    others = votes if label not in L.lf_names else np.delete(votes, L.lf_names.index(label), axis=1)
    return label, own.astype(np.int64), others


def _reference(y: Any, others_vote: np.ndarray, n: int, cardinality: int) -> tuple[np.ndarray, str]:
    """The right answer per row: gold where known, else the others' strict majority."""
    if y is None:
        return others_vote, "others"
    from weaklabel._validation import check_gold

    gold = check_gold(y, n, cardinality, "gold labels")
    if (gold != ABSTAIN).all():
        return gold, "gold"
    if (gold == ABSTAIN).all():
        return others_vote, "others"
    return np.where(gold != ABSTAIN, gold, others_vote), "gold+others"


# ---------------------------------------------------------------- slicing
@dataclass
class _Scope:
    """The rows a source voted on, with what is known about them."""

    index: pd.Index
    texts: list[str]
    vote: np.ndarray
    reference: np.ndarray
    error: np.ndarray
    others: np.ndarray
    others_vote: np.ndarray
    class_names: list[str] | None

    @property
    def known(self) -> np.ndarray:
        return self.reference != ABSTAIN

    def rate(self) -> float:
        known = self.known.sum()
        return float(self.error.sum() / known) if known else 0.0


def _greedy_feature_slices(
    scope: _Scope, masks: sp.csc_matrix, keys: list[str], descriptions: list[str], kinds: list[str],
    max_slices: int, min_size: int,
) -> list[tuple[str, str, str, np.ndarray]]:
    """Pick features whose rows hold the most errors beyond the overall rate, greedily."""
    rate = scope.rate()
    sizes = np.asarray(masks.sum(axis=0)).ravel()
    n_known = masks.T @ scope.known.astype(np.float64)
    all_errors = masks.T @ scope.error.astype(np.float64)
    dense = all_errors >= _MIN_LIFT * rate * np.maximum(n_known, 1)
    ok = (sizes >= min_size) & (all_errors >= 2) & dense
    remaining = scope.error.astype(np.float64)
    chosen: list[tuple[str, str, str, np.ndarray]] = []
    for _ in range(max_slices):
        excess = np.where(ok, masks.T @ remaining - rate * n_known, -np.inf)
        best = int(np.argmax(excess)) if excess.size else 0
        if not excess.size or excess[best] <= 0:
            break
        rows = masks[:, best].toarray().ravel() > 0
        chosen.append((kinds[best], keys[best], descriptions[best], rows))
        remaining[rows] = 0.0
        ok[best] = False
    return chosen


def _feature_slices(scope: _Scope, kinds: Sequence[str], max_slices: int, min_size: int) -> list[tuple[str, str, str, np.ndarray]]:
    columns, keys, descriptions, kind_of = [], [], [], []
    if "ngram" in kinds:
        X, grams = ngram_matrix(scope.texts, ngram_range=(1, 3), min_df=min_size, stop_unigrams=True)
        readable = [i for i, g in enumerate(grams) if any(len(w) > 1 and not w.isdigit() for w in g.split())]
        X, grams = X[:, readable], [grams[i] for i in readable]  # "t" (of "don't") or "39" explain nothing
        if grams:
            columns.append(X)
            keys += grams
            descriptions += [f'contains "{g}"' for g in grams]
            kind_of += ["ngram"] * len(grams)
    if "pattern" in kinds:
        patterns: list[TextPattern] = [*PATTERNS, word_count_pattern(at_most=5), word_count_pattern(at_least=30)]
        columns.append(sp.csc_matrix(np.column_stack([p.matches(scope.texts) for p in patterns])))
        keys += [p.key for p in patterns]
        descriptions += [p.description for p in patterns]
        kind_of += ["pattern"] * len(patterns)
    if not columns:
        return []
    masks = sp.hstack(columns, format="csc").astype(np.float64)
    return _greedy_feature_slices(scope, masks, keys, descriptions, kind_of, max_slices, min_size)


def _cluster_slices(
    scope: _Scope, embeddings: np.ndarray, max_slices: int, min_size: int, random_state: int
) -> list[tuple[str, str, str, np.ndarray]]:
    from sklearn.cluster import KMeans

    n = len(scope.texts)
    k = int(np.clip(n // max(4 * min_size, 1), 2, 12))
    if n < 2 * min_size or k < 2:
        return []
    labels = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit_predict(embeddings)
    rate = scope.rate()
    X, grams = ngram_matrix(scope.texts, ngram_range=(1, 2), min_df=2, stop_unigrams=True)
    overall = np.asarray(X.mean(axis=0)).ravel() if grams else np.zeros(0)
    found = []
    for c in range(k):
        mask = labels == c
        known = int((scope.known & mask).sum())
        errors = int((scope.error & mask).sum())
        if mask.sum() < min_size or errors < 2 or errors < _MIN_LIFT * rate * max(known, 1):
            continue
        words = ""
        if grams:
            inside = np.asarray(X[mask].mean(axis=0)).ravel()
            top = np.argsort(-(inside - overall), kind="stable")[:4]
            words = ", ".join(grams[i] for i in top if inside[i] > overall[i])
        found.append((errors - rate * known, c, words, mask))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [
        ("cluster", str(c), f"cluster {c}: {words or 'no distinctive words'}", mask)
        for _, c, words, mask in found[:max_slices]
    ]


def _describe(scope: _Scope, kind: str, key: str, description: str, mask: np.ndarray, n_examples: int) -> ErrorSlice:
    known = scope.known & mask
    n_known = int(known.sum())
    errors = scope.error & mask
    others_known = known & (scope.reference != ABSTAIN)
    others_right = int((scope.others_vote[others_known] == scope.reference[others_known]).sum())

    def name(c: int) -> Any:
        return scope.class_names[c] if scope.class_names and c >= 0 else int(c)

    examples = [
        {"row": json_safe(scope.index[i]), "text": scope.texts[i], "expected": name(int(scope.reference[i])),
         "vote": name(int(scope.vote[i]))}
        for i in np.flatnonzero(errors)[:n_examples]
    ]
    return ErrorSlice(
        id=f"{kind}:{key}", kind=kind, description=description, size=int(mask.sum()),
        n_errors=int(errors.sum()), n_reference=n_known,
        accuracy=None if not n_known else 1.0 - float(errors.sum()) / n_known,
        others_coverage=float((scope.others[mask] != ABSTAIN).any(axis=1).mean()) if scope.others.shape[1] else 0.0,
        others_accuracy=None if not others_known.any() else others_right / int(others_known.sum()),
        rows=[json_safe(r) for r in scope.index[mask]], examples=examples,
    )


def _check_slice_arguments(
    L: Any, data: pd.DataFrame, kinds: Sequence[str], max_slices: int, min_size: int, embeddings: Any
) -> None:
    if not isinstance(L, LabelMatrix):
        raise TypeError("error_slices needs a LabelMatrix (it looks sources up by name)")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown slice kinds {unknown}; choose from {list(KINDS)}")
    if max_slices < 1 or min_size < 1:
        raise ValueError(f"max_slices and min_size must be >= 1, got {max_slices} and {min_size}")
    if "text" not in data.columns:
        raise KeyError(f"data has no 'text' column; columns are {list(data.columns)}")
    if embeddings is not None and np.asarray(embeddings).shape[0] != L.n_rows:
        raise ValueError(f"embeddings have {np.asarray(embeddings).shape[0]} rows, the matrix {L.n_rows}")


def _texts_of(data: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """The ``text`` of each row id in ``index`` (missing texts as "")."""
    from weaklabel.analysis import _rows_of

    return _rows_of(data, index)["text"].fillna("").astype(str).to_numpy()


def error_slices(
    L: LabelMatrix,
    source: str | np.ndarray,
    data: pd.DataFrame,
    y: Any = None,
    *,
    name: str | None = None,
    kinds: Sequence[str] = KINDS,
    max_slices: int = 6,
    min_size: int = 5,
    n_examples: int = 5,
    embeddings: np.ndarray | None = None,
    encoder: str | Path | None = None,
    cache_dir: str | Path | None = None,
    random_state: int = 0,
    progress: bool = False,
) -> ErrorSlices:
    """Group the rows where ``source`` errs into a few readable slices.

    Parameters
    ----------
    L
        The label matrix (the source's column and the other sources).
    source
        A source's name in ``L`` (an LF or an LLM labeler), or one vote per row of ``L``
        (e.g. ``label_model.predict(L, tie_break="abstain")``), named by ``name``.
    data
        The rows ``L`` was computed on, matched by row id; its ``text`` column is sliced.
    y
        Gold labels per row (``-1`` = unknown; ``None``: none). Without gold for a row, an
        error is a vote against the strict majority of the other sources there.
    kinds
        Which slices to look for: ``"ngram"``, ``"pattern"``, ``"cluster"``.
    max_slices
        Slices kept per family (n-grams and patterns together; clusters).
    min_size
        Fewest rows a slice may hold.
    n_examples
        Example error rows kept per slice.
    embeddings
        Precomputed embeddings, one row per row of ``L``; else the bundled encoder embeds
        the texts the source voted on (needs ``weaklabel[student]``), cached in ``cache_dir``.
    random_state
        Seeds k-means; the same input gives the same slices.
    """
    _check_slice_arguments(L, data, kinds, max_slices, min_size, embeddings)
    label, vote, others = _source_votes(L, source, name)
    others_vote = strict_majority(vote_counts(others, L.cardinality))
    reference, basis = _reference(y, others_vote, L.n_rows, L.cardinality)
    voted = vote != ABSTAIN
    error = voted & (reference != ABSTAIN) & (vote != reference)
    texts = _texts_of(data, L.index)
    scope = _Scope(
        L.index[voted], texts[voted].tolist(), vote[voted], reference[voted], error[voted],
        others[voted], others_vote[voted], L.class_names,
    )
    found = _feature_slices(scope, kinds, max_slices, min_size)
    if "cluster" in kinds and scope.error.sum() >= 2:
        if embeddings is None:
            from weaklabel.embeddings import embed_texts

            vectors = embed_texts(scope.texts, encoder=encoder, cache_dir=cache_dir, progress=progress)
        else:
            vectors = np.asarray(embeddings)[voted]
        found += _cluster_slices(scope, vectors, max_slices, min_size, random_state)
    n_known = int(scope.known.sum())
    return ErrorSlices(
        source=label, basis=basis, n_voted=int(voted.sum()), n_reference=n_known,
        n_errors=int(scope.error.sum()),
        accuracy=None if not n_known else 1.0 - float(scope.error.sum()) / n_known,
        slices=[_describe(scope, *item, n_examples) for item in found],
        error_rows=[json_safe(r) for r in scope.index[scope.error]],
    )


def plot_error_slices(slices: ErrorSlices, ax: Any = None) -> Any:
    """The source's accuracy per slice (bars, sized by rows) against its overall accuracy."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * max(len(slices), 2) + 1.2))
    labels = [f"{s.description[:48]} (n={s.size})" for s in slices]
    values = [np.nan if s.accuracy is None else s.accuracy for s in slices]
    ax.barh(labels[::-1], values[::-1], color="tab:red", alpha=0.7, label="accuracy in slice")
    others = [np.nan if s.others_accuracy is None else s.others_accuracy for s in slices]
    ax.scatter(others[::-1], labels[::-1], color="black", zorder=3, label="other sources' majority")
    if slices.accuracy is not None:
        ax.axvline(slices.accuracy, color="grey", linestyle="--", label="overall accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("accuracy")
    ax.set_title(f"Where {slices.source} errs")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def report_section(result: Any, *, max_sources: int = 3) -> str:
    """The report's "where the sources err" section for a ``weaklabel.fit`` run: the error
    slices, on the gold rows of the valid split, of each LLM labeler (at most
    ``max_sources``) or, without any, of the label model. Empty without gold valid rows.
    N-gram and pattern slices only: a report must not load an encoder."""
    valid = result.splits.get("valid")
    if valid is None or not valid.has_gold or not len(valid.data) or not valid.votes or "valid" not in result.probs:
        return ""
    L = valid.L
    names = [spec.name for spec in result.config.llm_labelers if spec.name in L.lf_names][:max_sources]
    sources: list[tuple[str, Any]] = [(name, name) for name in names]
    if not sources:
        sources = [("label_model", result.probs["valid"].argmax(axis=1))]
    sections = []
    for label, source in sources:
        try:
            found = error_slices(L, source, valid.data, valid.y, name=label, kinds=("ngram", "pattern"),
                                 min_size=3, max_slices=5)
        except Exception as exc:  # an optional section must never cost the run its artifacts
            logging.getLogger("weaklabel").warning("  error slices of %s left out of the report: %s", label, exc)
            continue
        if found.n_errors:
            sections.append(found.to_html())
    if not sections:
        return ""
    return "<h2>Where the sources err (valid split)</h2>\n" + "\n".join(sections)
