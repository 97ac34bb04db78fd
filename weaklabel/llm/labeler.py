"""LLMLabeler: a prompt as a labeling function, with its votes in the same label matrix.

An ``LLMLabeler`` is a ``BatchLabelingFunction``, so
``apply_lfs([*lfs, labeler], df)`` runs it next to hand-written LFs. Several prompts are
several labelers; the label model then learns how good each prompt is.

It only wires the parts together: the settings (``LLMSettings``, one
validated object), a backend (``weaklabel.llm.backends``: an OpenAI-compatible
endpoint, or a model in-process), a decoder per decoding mode
(``weaklabel.llm.decoding``), the answer fetcher with its cache
(``weaklabel.llm.fetching``) and a vote rule (``weaklabel.llm.calibration``).

Decoding modes (``decoding=``):

- ``"logprobs"`` (default): score the answer words by their log-probability at the
  answer position. With two votes the vote is the first whose words win by more than a
  threshold calibrated on labeled dev rows (``LLMLabeler.calibrate``); with more, the
  class with the highest score plus a per-class offset (fitted on labeled dev rows, or a
  bias correction without them). Answers without usable log-probabilities fall back to
  parsing their text.
- ``"json"``: structured output, then parsing. ``"text"``: free generation, parsed.

Rows whose answer names no class, rows that failed every retry or that the endpoint
refused, rows outside the budget and rows with no value in any prompt field vote ABSTAIN;
``LLMLabeler.report_`` counts each kind.

Examples
--------
Any OpenAI-compatible server (see ``weaklabel.llm.client`` for vLLM, Ollama, llama.cpp)::

    spam = LLMLabeler(
        "llm_spam", "Is this comment spam or ham? Answer spam or ham.\\n\\n{text}",
        {"spam": 1, "ham": 0}, model="gpt-4o-mini",
    )
    L = apply_lfs([*hand_written_lfs, spam], df)

The local model, no key and no internet, calibrated on labeled dev rows::

    spam = LLMLabeler("smol_spam", prompt, {"spam": 1, "ham": 0}, backend="local",
                      calibration=(dev_df, y_dev), max_rows=300)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from weaklabel.exceptions import ConfigError
from weaklabel.lf import ABSTAIN, BatchLabelingFunction
from weaklabel.llm._labels import check_labels, resolve_labels, stratified_sample
from weaklabel.llm.calibration import (
    CONTENT_FREE_INPUTS,
    Metric,
    VoteRule,
    batch_offsets,
    content_free_offsets,
)
from weaklabel.llm.decoding import Decoder, make_decoder
from weaklabel.llm.fetching import Records
from weaklabel.llm.parsing import AnswerParser
from weaklabel.llm.prompts import PromptTemplate
from weaklabel.llm.report import LLMReport
from weaklabel.llm.settings import LLMSettings
from weaklabel.llm.source import PromptSource

__all__ = ["LLMLabeler"]

logger = logging.getLogger("weaklabel.llm")
LabeledRows = tuple[pd.DataFrame, Sequence[Any] | np.ndarray]


class LLMLabeler(BatchLabelingFunction, PromptSource):
    """A prompt over each row, answered by an LLM, mapped to a vote.

    Parameters
    ----------
    name
        Unique name of the source (its column in the label matrix).
    prompt
        A ``PromptTemplate`` or a template string over the row's columns (``{text}``).
    labels
        Answer word -> vote, e.g. ``{"spam": 1, "ham": 0}``, or ``{"yes": 1, "no": ABSTAIN}``
        for an aspect prompt; a vote may be a class name (``{"spam": "SPAM"}``), resolved
        by ``validate`` against the class names. Several words may share a vote.
    settings
        An ``LLMSettings``; ``**options`` (the same names, e.g. ``model="gpt-4o-mini"``,
        ``backend="local"``, ``max_rows=300``) override its fields.
    calibration
        Labeled dev rows ``(data, y)`` to calibrate on before the first labeling run
        (at most ``calibration_rows`` of them, a stratified seeded sample).
    examples
        Labeled rows ``(data, y)`` to draw ``few_shot`` examples from: one stratified
        random set for every row, or per row by similarity (``few_shot_selection``).

    Attributes
    ----------
    rule_ : VoteRule
        How scores become votes, after ``calibrate`` (or the bias correction).
    threshold_, calibration_score_ : float
        The calibrated two-vote threshold and the metric on the dev rows at it.
    report_ : LLMReport
        Usage of the last labeling or calibration run.
    """

    def __init__(
        self,
        name: str,
        prompt: PromptTemplate | str,
        labels: Mapping[str, int | str],
        settings: LLMSettings | None = None,
        *,
        calibration: LabeledRows | None = None,
        examples: LabeledRows | None = None,
        **options: Any,
    ) -> None:
        self._setup(name, prompt, settings, options)
        self.labels = check_labels(name, labels)
        self.calibration = calibration
        self.examples = examples
        self.rule_: VoteRule | None = None
        self._content_free: VoteRule | None = None
        self._votes_of: dict[str, int] | None = resolve_labels(name, self.labels, None)
        self._selector: Any = None
        self._check_few_shot()

    @classmethod
    def aspect(cls, name: str, question: str, *, yes: int | str, no: int | str = ABSTAIN, field: str = "text", **options: Any) -> LLMLabeler:
        """A labeler asking one yes/no question about an aspect of the row.

        ``LLMLabeler.aspect("asks_visit", "Does this comment ask people to visit a channel
        or link?", yes=SPAM, model=...)`` votes SPAM on "yes" and abstains on "no".
        """
        return cls(name, PromptTemplate.aspect(question, field=field), {"yes": yes, "no": no}, **options)

    # ------------------------------------------------------------ derived parts
    @property
    def votes_of(self) -> dict[str, int]:
        """Answer word -> vote index (class names resolved)."""
        if self._votes_of is None:
            names = sorted({v for v in self.labels.values() if isinstance(v, str)})
            raise ConfigError(
                f"LLM labeler {self.name!r}: its labels name classes {names}; call validate(class_names=...) "
                "(the fit CLI does) so they can be turned into class indices"
            )
        return self._votes_of

    @property
    def vote_groups(self) -> list[int]:
        """The vote of each score column: highest first, ABSTAIN last."""
        return sorted(set(self.votes_of.values()), reverse=True)

    @property
    def parser(self) -> AnswerParser:
        return AnswerParser(self.votes_of)

    def decoder(self) -> Decoder:
        return make_decoder(self.decoding_, self.votes_of, self.settings)

    @property
    def threshold_(self) -> float:
        if self.rule_ is None or self.rule_.source != "calibrated" or not self.rule_.binary:
            raise AttributeError(f"LLM labeler {self.name!r} has no calibrated two-vote threshold; call calibrate first")
        return self.rule_.threshold

    @property
    def calibration_score_(self) -> float:
        if self.rule_ is None or self.rule_.source != "calibrated":
            raise AttributeError(f"LLM labeler {self.name!r} is not calibrated; call calibrate first")
        return self.rule_.score

    # ------------------------------------------------------------ checks before paid work
    def validate(self, *, cardinality: int | None = None, class_names: Sequence[str] | None = None,
                 columns: Sequence[str] | None = None) -> LLMLabeler:
        """Check everything that can be checked before a request is sent; returns self.

        Resolves class names in ``labels``, checks every vote against ``cardinality`` (or
        the number of ``class_names``), the prompt's fields against ``columns``, that the
        backend can run (the key's variable, or the local model's file and packages), and
        the labeled rows given for calibration or few-shot examples.
        """
        from weaklabel.llm._checks import check_labeler

        self._votes_of = check_labeler(self, cardinality=cardinality, class_names=class_names, columns=columns)
        self._check_few_shot()
        self._fetcher_ = None  # the prompt may have gained its examples
        return self

    def _check_few_shot(self) -> None:
        s = self.settings
        if s.few_shot and self.examples is None:
            raise ConfigError(f"LLM labeler {self.name!r}: few_shot={s.few_shot} needs labeled rows: pass examples=(data, y)")
        if s.few_shot and s.few_shot_selection == "random" and self._votes_of is not None and not self.prompt.examples:
            data, y = self.examples  # type: ignore[misc]
            self.prompt = PromptTemplate.few_shot(
                self.prompt.template, data, y, self.votes_of, k=s.few_shot, seed=s.seed or 0,
                system=self.prompt.system, name=self.prompt.name,
            )

    # ------------------------------------------------------------ rendering
    def _render(self, data: pd.DataFrame) -> list[list[dict[str, str]]]:
        s = self.settings
        if not s.few_shot or s.few_shot_selection == "random":
            return self.prompt.render_frame(data)
        if self._selector is None:
            from weaklabel.llm.fewshot import SimilarExamples

            pool, y = self.examples  # type: ignore[misc]
            self._selector = SimilarExamples(self.prompt, pool, y, self.votes_of, settings=s, cache=self._fetcher.cache)
        return self._selector.render_frame(data)

    # ------------------------------------------------------------ running
    def prepare(self, *, progress: bool = True) -> LLMLabeler:
        """Do once what every batch relies on — calibrate on the labeled rows given, or
        measure the bias on content-free inputs — and return self. ``weaklabel.dask`` calls
        it before copying the labeler to the workers, so that no copy pays for it again."""
        if self.calibration is not None and self.rule_ is None:
            self.calibrate(*self.calibration, progress=progress)
        self._prepare_bias(progress)
        return self

    def apply_batch(self, data: pd.DataFrame, *, progress: bool = True) -> np.ndarray:
        """One vote per row of ``data`` (ABSTAIN where unparsable, failed, refused or outside the budget).

        Calibrates first when labeled rows were given (``calibration=``); without them, a
        log-prob labeler measures its bias on content-free inputs once (three cached
        requests, counted in the report and the cost budget).
        """
        if self.calibration is not None and self.rule_ is None:
            self.calibrate(*self.calibration, progress=progress)
        side = self._prepare_bias(progress)
        max_cost = self.settings.max_cost
        if max_cost is not None and side is not None:
            max_cost = max(0.0, max_cost - (side.cost or 0.0))
        records, report = self._run(data, sample=True, max_cost=max_cost, progress=progress)
        if side is not None:
            report.add_usage(side)
        votes = self._votes(records, report)
        self._fetcher.check_failures(report)
        logger.info("%s", report)
        return votes

    # ------------------------------------------------------------ answers -> votes
    def _group_scores(self, records: Records) -> np.ndarray:
        """Log-probability per vote group and row (NaN rows have none), shape (rows, groups)."""
        groups = self.vote_groups
        out = np.full((len(records), len(groups)), np.nan)
        decoder = self.decoder()
        words = list(self.votes_of)
        members = [[i for i, w in enumerate(words) if self.votes_of[w] == v] for v in groups]
        for row, record in enumerate(records):
            word_lp = decoder.word_logprobs(record) if record is not None else None
            if word_lp is not None:
                out[row] = [np.logaddexp.reduce(word_lp[idx]) for idx in members]
        return out

    def _votes(self, records: Records, report: LLMReport) -> np.ndarray:
        groups = self._group_scores(records)
        scored = np.isfinite(groups).all(axis=1)
        votes = np.full(len(records), ABSTAIN, dtype=np.int64)
        if scored.any():
            votes[scored] = self._rule(groups[scored]).votes(groups[scored])
        decoder = self.decoder()
        for row in np.flatnonzero(~scored).tolist():
            record = records[row]
            if record is None:
                continue
            report.malformed += "schema_error" in record
            word = decoder.answer_word(record)
            if word is None:
                report.unparsable += 1
            else:
                votes[row] = self.votes_of[word]
        report.abstains = int((votes == ABSTAIN).sum())
        return votes

    def _rule(self, scores: np.ndarray) -> VoteRule:
        """The calibrated rule, a fixed threshold, or a default with the bias correction."""
        if self.rule_ is not None:
            return self.rule_
        groups = self.vote_groups
        if self.settings.threshold is not None and len(groups) == 2:
            return VoteRule(groups, self.settings.threshold, source="fixed")
        mode = self._bias_mode()
        if mode == "batch":
            return VoteRule(groups, offsets=batch_offsets(scores), source="batch")
        if mode == "content_free" and self._content_free is not None:
            return self._content_free
        return VoteRule(groups)

    def _bias_mode(self) -> str:
        """The bias correction in force: none for aspect prompts ("no" is not a class to
        balance), calibrated or fixed rules, and other decodings."""
        if self.rule_ is not None or self.decoding_ != "logprobs" or ABSTAIN in self.vote_groups:
            return "none"
        if self.settings.threshold is not None and len(self.vote_groups) == 2:
            return "none"
        return "content_free" if self.settings.bias == "auto" else self.settings.bias

    def _prepare_bias(self, progress: bool) -> LLMReport | None:
        """Score the content-free inputs once (cached) when that correction is in force;
        returns the side trip's usage."""
        if self._bias_mode() != "content_free" or self._content_free is not None:
            return None
        frame = pd.DataFrame({field: list(CONTENT_FREE_INPUTS) for field in self.prompt.fields})
        records, side = self._run(frame, max_cost=self.settings.max_cost, progress=False)
        scores = self._group_scores(records)
        finite = scores[np.isfinite(scores).all(axis=1)]
        if len(finite):
            self._content_free = VoteRule(self.vote_groups, offsets=content_free_offsets(finite), source="content_free")
        else:
            logger.warning("LLM labeler %r: no log-probabilities for the content-free inputs; no bias correction", self.name)
            self._content_free = VoteRule(self.vote_groups)
        return side

    # ------------------------------------------------------------ scores and calibration
    def group_scores(self, data: pd.DataFrame, *, progress: bool = True) -> np.ndarray:
        """Log-probability of each vote's answer words per row, columns in ``vote_groups``
        order (NaN where no log-probabilities came back). Not limited by the budgets."""
        if self.decoding_ != "logprobs":
            raise ConfigError(f"LLM labeler {self.name!r}: scores need decoding='logprobs', not {self.decoding_!r}")
        records, _ = self._run(data, progress=progress)
        return self._group_scores(records)

    def score(self, data: pd.DataFrame, *, progress: bool = True) -> np.ndarray:
        """The two-way score per row: log P(first vote's words) - log P(second's); NaN where
        no log-probabilities came back. Not limited by ``max_rows`` or ``max_cost``."""
        if len(self.vote_groups) != 2:
            raise ConfigError(
                f"LLM labeler {self.name!r}: score() is the two-vote margin; these answer words map to "
                f"{len(self.vote_groups)} votes {self.vote_groups}: use group_scores()"
            )
        scores = self.group_scores(data, progress=progress)
        return scores[:, 0] - scores[:, 1]

    def calibrate(self, data: pd.DataFrame, y: Sequence[Any] | np.ndarray, *, metric: Metric | None = None,
                  progress: bool = True) -> LLMLabeler:
        """Fit the vote rule on labeled dev rows: the two-vote threshold, or one offset per class.

        Uses at most ``calibration_rows`` rows (default ``max_rows``), a stratified seeded
        sample. Use dev rows, never the rows you will label.
        """
        gold = np.asarray(y)
        if len(gold) != len(data):
            raise ConfigError(f"LLM labeler {self.name!r}: calibration got {len(data)} rows but {len(gold)} labels")
        limit = self.settings.calibration_rows or self.settings.max_rows
        keep = stratified_sample(gold, limit, self.settings.seed)
        data = data.iloc[keep]
        gold = gold[keep]
        if self.decoding_ != "logprobs":
            raise ConfigError(f"LLM labeler {self.name!r}: scores need decoding='logprobs', not {self.decoding_!r}")
        records, _ = self._run(data, max_cost=self.settings.max_cost, progress=progress)
        if self.decoding_ != "logprobs":  # the endpoint rejected logprobs: answers are parsed from text
            logger.warning("LLM labeler %r: nothing to calibrate, the endpoint answers in text only", self.name)
            return self
        scores = self._group_scores(records)
        usable = np.isfinite(scores).all(axis=1) & (gold >= 0)
        if not usable.any():
            raise ConfigError(
                f"LLM labeler {self.name!r}: the endpoint returned no log-probabilities of the answer "
                "words for the dev rows; calibration needs an endpoint that returns logprobs "
                "(or backend='local')"
            )
        metric = metric or self.settings.calibration_metric
        self.rule_ = VoteRule(self.vote_groups).calibrate(scores[usable], gold[usable], metric)
        logger.info("LLM labeler %r: calibrated on %d dev rows, %s %.3f", self.name, int(usable.sum()), metric, self.rule_.score)
        return self
