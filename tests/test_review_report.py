"""The static report.html: the review app's views without interactivity, in one
self-contained file (a real run on the bundled YouTube comments)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from weaklabel.report import _place_labels


def test_report_shows_examples_shifts_per_class_quality_and_stays_self_contained(tmp_path):
    from test_review import youtube_config

    from weaklabel.fit import run

    result = run(youtube_config(tmp_path))
    page = (Path(result.output_dir) / "report.html").read_text(encoding="utf-8")
    for heading in ("Scores", "Coverage and class balance per split", "Labeling sources (train split)",
                    "Example rows per source (valid split)", "Label model per class (test)",
                    "Precision, recall, F1", "Calibration of the probabilistic labels (test)", "Timings"):
        assert f"{heading}</h" in page, heading
    assert "predicted SPAM</th>" in page and "gold SPAM</th>" in page
    assert page.count("<details>") == result.splits["train"].L.n_sources
    assert "where it is wrong on labeled rows" in page
    assert 'table sortable"' in page and "addEventListener" in page
    # self-contained: no file or address is fetched
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert "<link" not in page and "@import" not in page


def test_scatter_labels_are_placed_apart():
    points = np.array([[100.0, 50.0]] * 6 + [[300.0, 50.0]])
    labels = _place_labels(points, width=22, height=10)
    for i in range(len(points)):
        for j in range(i):
            apart = abs(labels[i, 1] - labels[j, 1]) >= 10 or abs(labels[i, 0] - labels[j, 0]) >= 22
            assert apart, (i, j)
    assert labels[6, 1] == 50.0  # a lone point keeps its place
