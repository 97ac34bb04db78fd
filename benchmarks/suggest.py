"""Targeted labeling, measured offline: suggested LFs against "just train on the labeled rows".

For every text set in the shared data folder — WRENCH YouTube, SMS and TREC (test split
held out; the labeled rows and the unlabeled rows come from the train split) and the seven
single-label LLMs_for_CSS tasks (a seeded 60/40 split of their one split) — and for 50, 100
and 200 labeled rows (3 random draws each), this script measures:

(a) supervised: a TF-IDF student (``TfidfStudent()`` defaults) and a MiniLM student (a
    logistic-regression head on frozen all-MiniLM-L6-v2 embeddings, the ``adaptation="head"``
    student on cached embeddings) trained on the labeled rows alone;
(b) suggested LFs only (``weaklabel.suggest.suggest_lfs`` on the labeled rows) -> the default
    ``LabelModel`` (the labeled rows as ``y_dev``) -> the same students on every covered
    unlabeled row (soft labels) plus the labeled rows (gold, weighted);
(c) the set's own sources -> same (WRENCH: the published hand-written LFs; CSS: the votes of
    13 LLMs — there are no hand-written LFs for those sets);
(d) own sources + suggested LFs (the suggester sees the own sources' votes) -> same;
(e) YouTube and SMS: the LFs GPT-3.5 and GPT-4 wrote (DataSculpt), applied as written
    (Porter-stemmed keyword match, as DataSculpt does) and after the validation gate.

Leave-one-dataset-out: the suggester runs with its default thresholds (``min_gain`` 1.0,
``min_precision`` 0.6, fixed before this benchmark was first run and never tuned); the one
choice made from data, the weight of the labeled rows in the student (1 each, or together as
heavy as all weak rows), is chosen for each set on the other sets only (best mean of (b), (c)
and (d) there, MiniLM-head student); the tables show only those left-out scores.

Run from the repository root (needs ``nltk`` for (e): ``pip install -r requirements/benchmarks.txt``)::

    nice -n 10 python -m benchmarks.suggest [--sets youtube sms ...] [--quick]

Per-run results are cached in ``.weaklabel_cache/bench_suggest/`` so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd

from benchmarks._results import ROOT, SHARED_DATA, write_results
from weaklabel.apply import apply_lfs
from weaklabel.data import load_wrench
from weaklabel.label_models import LabelModel
from weaklabel.lf import ABSTAIN
from weaklabel.metrics import score_predictions
from weaklabel.students import TfidfStudent
from weaklabel.students._softmax import fit_softmax_regression, softmax_proba
from weaklabel.suggest import Suggestion, SuggestSettings, gate, suggest_lfs

__all__ = ["GRID", "main"]

WRENCH_SETS = {"youtube": "accuracy", "sms": "f1", "trec": "accuracy"}
CSS_SETS = ("emotion", "semeval_stance", "ibc", "discourse", "wiki_politeness", "conv_go_awry", "reddit_humor")
SIZES = (50, 100, 200)
DRAWS = (0, 1, 2)
GRID = {"min_gain": (1.0,), "min_precision": (0.6,)}
"""The suggester's thresholds: its defaults, fixed before any run of this benchmark and not
tuned (a wider grid is supported, at a cost this machine could not pay)."""
LABELED_WEIGHTS = ("1", "equal")
"""Labeled rows in the student: weight 1 each, or together as heavy as all weak rows."""
HEAD_C = 0.1  # TransformerStudent's head_C default
CACHE = ROOT / ".weaklabel_cache" / "bench_suggest"
READING_NOTES = """The MiniLM student is a logistic-regression head on frozen all-MiniLM-L6-v2 embeddings
(`TransformerStudent(adaptation="head")` defaults, `head_C=0.1`); with 50–200 rows that head is heavily
regularised (on SMS it predicts the majority class: spam F1 0). The TF-IDF student of (b)–(e) uses
`TfidfStudent()`'s features fitted once on the train texts, with its solver and defaults. Scores: accuracy,
SMS spam F1. Reading the targets and when to just label rows: `docs/how-to/suggest-lfs.md`, section 6."""


@dataclass
class Bundle:
    name: str
    metric: str
    train: pd.DataFrame
    y: np.ndarray
    own: np.ndarray
    test: pd.DataFrame
    y_test: np.ndarray
    class_names: list[str]
    emb_train: np.ndarray | None = None
    emb_test: np.ndarray | None = None
    tfidf_train: object = None
    tfidf_test: object = None

    @property
    def k(self) -> int:
        return len(self.class_names)


def load_bundle(name: str) -> Bundle:
    if name in WRENCH_SETS:
        train, L, y = load_wrench(SHARED_DATA / name, "train")
        test, _, y_test = load_wrench(SHARED_DATA / name, "test")
        return Bundle(name, WRENCH_SETS[name], train, y, L.to_numpy(), test, y_test, list(L.class_names))
    data, L, y = load_wrench(SHARED_DATA / "llms_for_css" / name, "test")
    order = np.random.default_rng(0).permutation(len(data))
    cut = int(0.6 * len(data))
    tr, te = order[:cut], order[cut:]
    votes = L.to_numpy()
    return Bundle(name, "accuracy", data.iloc[tr], y[tr], votes[tr], data.iloc[te], y[te], list(L.class_names))


def attach_embeddings(bundle: Bundle) -> None:
    from weaklabel.embeddings import embed_texts

    texts = [*_texts(bundle.train), *_texts(bundle.test)]
    vectors = embed_texts(texts, cache_dir=CACHE / "embeddings", progress=True)
    bundle.emb_train, bundle.emb_test = vectors[: len(bundle.train)], vectors[len(bundle.train) :]


def attach_tfidf(bundle: Bundle) -> None:
    """TfidfStudent's features, fitted once on the train texts: the vocabulary of a student
    trained on every train row, shared by all weak-supervision runs of the set."""
    import scipy.sparse as sp

    vectorizers = TfidfStudent()._make_vectorizers()
    train, test = _texts(bundle.train), _texts(bundle.test)
    bundle.tfidf_train = sp.hstack([v.fit_transform(train) for v in vectorizers], format="csr")
    bundle.tfidf_test = sp.hstack([v.transform(test) for v in vectorizers], format="csr")


def _texts(frame: pd.DataFrame) -> list[str]:
    return frame["text"].fillna("").astype(str).tolist()


# ---------------------------------------------------------------- DataSculpt LFs
def datasculpt_lfs(dataset: str, model: str) -> list[tuple[str, int]]:
    """(stemmed keyword, label) pairs of one DataSculpt file."""
    path = SHARED_DATA / "datasculpt_llm_lfs" / dataset / f"{model}.txt"
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "->" in line:
            keyword, label = line.rsplit("->", 1)
            pairs.append((keyword.strip(), int(label)))
    return pairs


def _stemmed(texts: list[str]) -> list[str]:
    """Texts as DataSculpt's KeywordLF sees them: Treebank-tokenised (word_tokenize without its
    sentence splitter, which needs downloaded data), non-word tokens dropped, Porter-stemmed."""
    from nltk.stem import PorterStemmer
    from nltk.tokenize import TreebankWordTokenizer

    stemmer, tokenizer = PorterStemmer(), TreebankWordTokenizer()
    return [
        " ".join(stemmer.stem(t) for t in tokenizer.tokenize(text.lower()) if re.fullmatch(r"\w+", t))
        for text in texts
    ]


def datasculpt_votes(stemmed: list[str], lfs: list[tuple[str, int]]) -> np.ndarray:
    votes = np.full((len(stemmed), len(lfs)), ABSTAIN, dtype=np.int64)
    for j, (keyword, label) in enumerate(lfs):
        votes[[keyword in t for t in stemmed], j] = label
    return votes


# ---------------------------------------------------------------- one run
def _onehot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


def _score(bundle: Bundle, pred: np.ndarray) -> float:
    return 100 * score_predictions(bundle.y_test, pred, (bundle.metric,), cardinality=bundle.k)[bundle.metric]


def supervised(bundle: Bundle, lab: np.ndarray) -> dict[str, float]:
    texts = [_texts(bundle.train)[i] for i in lab]
    y = bundle.y[lab]
    tfidf = TfidfStudent().fit(texts, y, n_classes=bundle.k)
    head = fit_softmax_regression(bundle.emb_train[lab], _onehot(y, bundle.k), C=HEAD_C)
    return {
        "tfidf": _score(bundle, tfidf.predict(_texts(bundle.test))),
        "minilm": _score(bundle, softmax_proba(bundle.emb_test, head.coef, head.intercept).argmax(axis=1)),
    }


def weak_path(
    bundle: Bundle, lab: np.ndarray, unl: np.ndarray, votes: np.ndarray, weights: tuple[str, ...],
    students: tuple[str, ...] = ("minilm",),
) -> dict[str, float]:
    """Votes (all train rows) -> LabelModel with the labeled rows as dev -> students on
    covered unlabeled rows + labeled rows; one score per student and labeled-row weight."""
    if votes.shape[1] == 0 or not (votes[unl] != ABSTAIN).any():
        base = supervised(bundle, lab)
        return {f"{s}|{w}": base[s] for w in weights for s in students} | {"coverage": 0.0}
    k = bundle.k
    model = LabelModel(cardinality=k, random_state=0).fit(votes[unl], y_dev=bundle.y[lab], L_dev=votes[lab])
    covered = unl[(votes[unl] != ABSTAIN).any(axis=1)]
    probs = model.predict_proba(votes[covered])
    rows = np.concatenate([covered, lab])
    targets = np.vstack([probs, _onehot(bundle.y[lab], k)])
    features = {"tfidf": (bundle.tfidf_train, bundle.tfidf_test, TfidfStudent().C),
                "minilm": (bundle.emb_train, bundle.emb_test, HEAD_C)}
    out: dict[str, float] = {"coverage": float(len(covered) / max(len(unl), 1))}
    for w in weights:
        lab_weight = 1.0 if w == "1" else max(len(covered) / len(lab), 1.0)
        sample_weight = np.concatenate([np.ones(len(covered)), np.full(len(lab), lab_weight)])
        for student in students:
            train, test, C = features[student]
            train = train[rows]
            if student == "tfidf":  # n-grams absent from the training rows get weight 0 at the
                used = np.flatnonzero(train.getnnz(axis=0))  # optimum: dropping them is exact
                train, test = train[:, used], test[:, used]
            fit = fit_softmax_regression(train, sample_weight[:, None] * targets, C=C)
            out[f"{student}|{w}"] = _score(bundle, softmax_proba(test, fit.coef, fit.intercept).argmax(axis=1))
    return out


def _apply_suggestions(bundle: Bundle, result) -> np.ndarray:
    if not len(result):
        return np.full((len(bundle.train), 0), ABSTAIN, dtype=np.int64)
    return apply_lfs(result.lfs(), bundle.train, cardinality=bundle.k, progress=False).to_numpy()


def _draw(bundle: Bundle, n: int, draw: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([draw, n, len(bundle.train)]).permutation(len(bundle.train))
    return np.sort(order[:n]), np.sort(order[n:])


def _datasculpt(bundle: Bundle, stemmed: list[str], lab: np.ndarray, settings: SuggestSettings):
    """Per GPT model: its LFs' votes as written, and the mask of those passing the gate."""
    prior = (np.bincount(bundle.y[lab], minlength=bundle.k) + 1.0) / (len(lab) + bundle.k)
    for model in ("gpt-3.5-turbo", "gpt-4-turbo"):
        lfs = datasculpt_lfs(bundle.name, model)
        votes = datasculpt_votes(stemmed, lfs)
        proxies = [Suggestion(name=f"ds_{j}", kind="keyword", label=c, family="llm", description=kw, keywords=[kw])
                   for j, (kw, c) in enumerate(lfs)]
        kept = gate(proxies, votes[lab] != ABSTAIN, bundle.y[lab], prior, settings)
        yield ("e35" if "3.5" in model else "e4"), votes, kept


def run_cell(
    bundle: Bundle, n: int, draw: int, stemmed: list[str] | None, *,
    grid: list[tuple[float, float]], weights: tuple[str, ...], final: bool = False,
) -> list[dict]:
    """One (set, size, draw). The search pass scores (b), (c), (d) at every grid point with the
    MiniLM head (cheap) and (a) with both students; the final pass scores (b)–(e) at the
    left-out choice with both students. One record per (method, setting, student, weight)."""
    lab, unl = _draw(bundle, n, draw)
    records: list[dict] = []
    students = ("minilm", "tfidf") if final else ("minilm",)

    def add(method: str, scores: dict[str, float], **extra) -> None:
        for key, value in scores.items():
            if "|" in key:
                student, weight = key.split("|")
                records.append({"method": method, "student": student, "weight": weight, "score": value,
                                "coverage": scores.get("coverage"), "final": final, **extra})

    if not final:
        for student, value in supervised(bundle, lab).items():
            records.append({"method": "a", "student": student, "weight": "-", "score": value})
    add("c", weak_path(bundle, lab, unl, bundle.own, weights, students), n_lfs=bundle.own.shape[1])
    train_l, train_u = bundle.train.iloc[lab], bundle.train.iloc[unl]
    for gain, precision in grid:
        setting = f"g{gain}_p{precision}"
        settings = SuggestSettings(min_gain=gain, min_precision=precision)
        only = suggest_lfs(train_l, bundle.y[lab], train_u, class_names=bundle.class_names, settings=settings)
        add("b", weak_path(bundle, lab, unl, _apply_suggestions(bundle, only), weights, students),
            setting=setting, n_lfs=len(only))
        both = suggest_lfs(train_l, bundle.y[lab], train_u, class_names=bundle.class_names,
                           L_labeled=bundle.own[lab], L_unlabeled=bundle.own[unl], settings=settings)
        votes = np.column_stack([bundle.own, _apply_suggestions(bundle, both)])
        add("d", weak_path(bundle, lab, unl, votes, weights, students), setting=setting, n_lfs=len(both))
        if final and stemmed is not None:
            for tag, votes, kept in _datasculpt(bundle, stemmed, lab, settings):
                add(f"{tag}_written", weak_path(bundle, lab, unl, votes, weights, students), n_lfs=votes.shape[1])
                add(f"{tag}_gated", weak_path(bundle, lab, unl, votes[:, kept], weights, students),
                    setting=setting, n_lfs=int(kept.sum()))
    for r in records:
        r.update(dataset=bundle.name, n=n, draw=draw)
        r.setdefault("setting", "-")
    return records


# ---------------------------------------------------------------- leave-one-dataset-out
def _grid() -> list[tuple[float, float]]:
    return list(itertools.product(GRID["min_gain"], GRID["min_precision"]))


class _Bundles:
    """Loads a set (texts, embeddings, TF-IDF features, stemmed texts) once, when first needed."""

    def __init__(self) -> None:
        self.current: tuple[str, Bundle, list[str] | None] | None = None

    def get(self, name: str) -> tuple[Bundle, list[str] | None]:
        if self.current is None or self.current[0] != name:
            bundle = load_bundle(name)
            attach_embeddings(bundle)
            attach_tfidf(bundle)
            stemmed = _stemmed(_texts(bundle.train)) if name in ("youtube", "sms") else None
            self.current = (name, bundle, stemmed)
        return self.current[1], self.current[2]


def _cached(file: Path, compute) -> list[dict]:
    if file.is_file():
        return json.loads(file.read_text())
    start = time.perf_counter()
    records = compute()
    print(f"{file.stem}: {time.perf_counter() - start:.0f} s", flush=True)
    file.write_text(json.dumps(records, default=float))
    return records


def collect(sets: list[str], sizes: tuple[int, ...], draws: tuple[int, ...], phase: str = "all") -> pd.DataFrame:
    """Search pass over ``sets``; then the final pass at each set's left-out choice, chosen on
    the search results of every set (so the final pass needs all of them)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    version = hashlib.sha256(json.dumps([GRID, LABELED_WEIGHTS, HEAD_C]).encode()).hexdigest()[:8]
    if phase == "report":  # tables from the cells already computed, nothing run
        files = sorted(CACHE.glob(f"*_{version}.json"))
        return pd.DataFrame.from_records([r for f in files for r in json.loads(f.read_text())])
    bundles = _Bundles()
    records: list[dict] = []
    # the left-out choice reads every set's search at every size, so the final pass needs them all
    search_cells = (
        itertools.product(sets, sizes, draws) if phase in ("search", "quick")
        else itertools.product([*WRENCH_SETS, *CSS_SETS], SIZES, DRAWS)
    )
    if phase == "final-now":  # speculative: choose on the search cells cached so far; a final
        search_cells = []      # cell is keyed by its choice, so a later, different choice reruns it
        records = [r for f in sorted(CACHE.glob(f"search_*_{version}.json")) for r in json.loads(f.read_text())]
    for name, n, draw in search_cells:
        def search(name=name, n=n, draw=draw):
            bundle, stemmed = bundles.get(name)
            return run_cell(bundle, n, draw, stemmed, grid=_grid(), weights=LABELED_WEIGHTS)

        records += _cached(CACHE / f"search_{name}_{n}_{draw}_{version}.json", search)
    frame = pd.DataFrame.from_records(records)
    if phase == "search":
        return frame
    for name in sets:
        setting, weight = lodo_choice(frame, name)
        gain, precision = (float(part[1:]) for part in setting.split("_"))
        for n, draw in itertools.product(sizes, draws):
            def final(name=name, n=n, draw=draw, point=(gain, precision), weight=weight):
                bundle, stemmed = bundles.get(name)
                return run_cell(bundle, n, draw, stemmed, grid=[point], weights=(weight,), final=True)

            records += _cached(CACHE / f"final_{name}_{n}_{draw}_{setting}_{weight}_{version}.json", final)
    return pd.DataFrame.from_records(records)


def lodo_choice(frame: pd.DataFrame, held_out: str) -> tuple[str, str]:
    """(setting, labeled-row weight) with the best mean of (b), (c), (d) over the other sets,
    MiniLM-head student (the one every grid point is scored with)."""
    others = frame[frame.dataset != held_out] if frame.dataset.nunique() > 1 else frame
    search = others[~others["final"].fillna(False).astype(bool)]
    rest = search[(search.student == "minilm") & search.method.isin(["b", "c", "d"])]
    score = {}
    for setting, weight in itertools.product(sorted(set(rest.setting) - {"-"}), LABELED_WEIGHTS):
        rows = rest[(rest.weight == weight) & ((rest.setting == setting) | (rest.method == "c"))]
        score[(setting, weight)] = rows.groupby("dataset").score.mean().mean()
    return max(score, key=lambda key: (score[key], key))


def headline(frame: pd.DataFrame, student: str) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Left-out scores per set and size: mean ± sd over draws of every method."""
    choices = {name: lodo_choice(frame, name) for name in frame.dataset.unique()}
    frame = frame[(frame.method == "a") | frame["final"].fillna(False).astype(bool)]
    rows = []
    for (name, n), part in frame[frame.student == student].groupby(["dataset", "n"], sort=False):
        setting, weight = choices[name]
        done = part[(part.method == "b") & (part.weight == weight)].draw.unique()
        if len(done):  # every method over the same draws
            part = part[part.draw.isin(done)]
        row = {"set": name, "labeled": n, "draws": int(part.draw.nunique())}
        for method in ("a", "b", "c", "d", "e35_written", "e35_gated", "e4_written", "e4_gated"):
            pick = part[part.method == method]
            if method != "a":
                pick = pick[pick.weight == weight]
            if method in ("b", "d") or method.endswith("gated"):
                pick = pick[pick.setting == setting]
            if len(pick):
                row[method] = pick.score.mean()
                row[f"{method}_sd"] = pick.score.std(ddof=0)
                if "n_lfs" in pick and method != "a":
                    row[f"{method}_lfs"] = pick.n_lfs.mean()
        rows.append(row)
    order = {name: i for i, name in enumerate([*WRENCH_SETS, *CSS_SETS])}
    table = pd.DataFrame(rows)
    table = table.assign(_order=table["set"].map(order)).sort_values(["_order", "labeled"]).drop(columns="_order")
    return table.reset_index(drop=True), choices


def _fmt(table: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame({"set": table["set"], "labeled": table["labeled"], "draws": table["draws"]})
    names = {"a": "(a) labeled only", "b": "(b) suggested", "c": "(c) own sources", "d": "(d) own + suggested",
             "e35_written": "(e) GPT-3.5 LFs", "e35_gated": "(e) GPT-3.5 gated",
             "e4_written": "(e) GPT-4 LFs", "e4_gated": "(e) GPT-4 gated"}
    for key, title in names.items():
        if key in table:
            shown[title] = [
                "" if pd.isna(m) else f"{m:.1f} ± {s:.1f}" for m, s in zip(table[key], table[f"{key}_sd"], strict=True)
            ]
    for key in ("b", "d"):
        if f"{key}_lfs" in table:
            shown[f"LFs {key}"] = table[f"{key}_lfs"].round(1)
    return shown


def targets(table: pd.DataFrame) -> pd.DataFrame:
    at100 = table[table.labeled == 100].dropna(subset=["a", "b"])
    rows = [{
        "target": f"(b) - (a) mean over the {len(at100)} sets measured at 100 labeled rows >= 5",
        "value": f"{(at100.b - at100.a).mean():+.1f} points", "met": bool((at100.b - at100.a).mean() >= 5),
    }]
    for name in ("youtube", "sms"):
        part = table[table.set == name]
        if len(part):
            gap = (part.b - part.c).min()
            rows.append({"target": f"(b) within 3 of (c) on {name} (worst size)", "value": f"{gap:+.1f} points",
                         "met": bool(gap >= -3)})
    worst = (table.d - table.c).groupby(table.set).min()
    for name, gap in worst.items():
        rows.append({"target": f"(d) >= (c) on {name} (worst size)", "value": f"{gap:+.1f} points",
                     "met": bool(gap >= 0)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=[*WRENCH_SETS, *CSS_SETS])
    parser.add_argument("--quick", action="store_true", help="100 labeled rows, one draw; no results written")
    parser.add_argument("--sizes", nargs="*", type=int, default=list(SIZES), help="labeled-row counts to run")
    parser.add_argument("--draws", nargs="*", type=int, default=list(DRAWS), help="random draws to run")
    parser.add_argument("--phase", choices=("search", "final", "final-now", "all", "report"), default="all",
                        help="search: fill the grid's cache for --sets only (parallel runs); final: the "
                        "left-out choices for --sets (needs every set's search); all: both, then the tables; "
                        "report: the tables from the cells computed so far")
    args = parser.parse_args(argv)
    sizes, draws = ((100,), (0,)) if args.quick else (tuple(args.sizes), tuple(args.draws))
    frame = collect(args.sets, sizes, draws, "quick" if args.quick else args.phase)
    if args.phase in ("search", "final", "final-now"):
        return
    tables, notes = {}, []
    for student in ("tfidf", "minilm"):
        table, choices = headline(frame, student)
        tables[f"{student} student: left-out scores (mean ± sd over {len(draws)} draws)"] = _fmt(table)
        if student == "tfidf":
            tables["targets (TF-IDF student)"] = targets(table)
            notes.append("Left-out choices (setting, labeled-row weight) per set: "
                         + "; ".join(f"{k}: {v[0]}, {v[1]}" for k, v in choices.items()))
        methods = [c for c in ("a", "b", "c", "d") if c in table]
        complete = table.dropna(subset=methods)  # a mean over the same sets for every method
        means = complete.groupby("labeled")[methods].mean().round(1)
        means["sets"] = complete.groupby("labeled").size()
        tables[f"{student} student: mean over the sets with every method"] = means
    if args.quick:
        for title, table in tables.items():
            print(f"\n## {title}\n{table.to_string()}")
        print("\n".join(notes))
        return
    write_results("suggest", tables, notes="\n\n".join([__doc__.split("\n\n", 1)[1], READING_NOTES, *notes]))


if __name__ == "__main__":
    main()
