"""A local web app over a finished run, for the people who know the data.

``python -m weaklabel.review runs/<name> --lf-module labeling_functions/<name>_accepted.py``
serves, on 127.0.0.1 by default:

- **Overview**: scores per split and method, coverage and class balance per split with shift
  warnings, the label model's estimator and warnings, its per-class quality;
- **Sources**: a sortable table of every LF and LLM labeler, and per source the rows where it
  votes, where it differs from the label model and where it is wrong on labeled rows;
- **Rows**: every row filtered by class, confidence, disagreement, source, error slice or
  text, with its full text, every vote, the probabilities and the student's class;
- **Label**: keyboard labeling of the least certain rows (or an error slice's), stored at once
  in ``review_labels.sqlite`` in the run folder; the next ``weaklabel.fit`` of that folder
  uses them as dev labels;
- **Suggestions**: LFs suggested from the labeled rows, accepted into the LF module;
- **Refit**: the label model and a TF-IDF student fitted again with the new labels and LFs.

Parts: ``run_data`` (the run as columns), ``queries`` (filters and pages),
``text_search`` (the trigram index behind the text filter),
``views`` (the numbers behind the pages), ``labels`` (the store, read by the fit
pipeline too), ``loop`` (labels, suggestions, refit), ``server`` (HTTP, security).
This package imports only the store eagerly: the fit pipeline reads the labels through it.
"""

from weaklabel.review.labels import LABELS_FILE, LabelStore, read_review_labels

__all__ = ["LABELS_FILE", "LabelStore", "read_review_labels"]
