"""Snorkel's own tests, ported to weaklabel's API.

Ported from the snorkel-team/snorkel repository (Apache-2.0), ``test/labeling/``:
``lf/test_core.py``, ``apply/test_lf_applier.py``, ``test_analysis.py``,
``model/test_label_model.py`` and ``model/test_baseline.py``. Each test keeps Snorkel's data
and assertions. Where weaklabel differs on purpose, the test asserts weaklabel's documented
behaviour and shows the one-line setting that reproduces Snorkel (the table "Results that
differ" in ``docs/coming-from-snorkel.md``). Tests of Snorkel internals (the torch
optimiser, its O matrix, clique trees, learning-rate schedulers, spaCy preprocessors) have
no weaklabel counterpart and are not ported.
"""
