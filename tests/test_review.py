"""The review app on a real run (the bundled YouTube comments): the run read as columns,
row queries, the label store and its use by the next fit, suggestions, refit, and the
server's security checks (host, token, CSRF, paths, no code from requests)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from weaklabel import LabelMatrix, load_lfs
from weaklabel.exceptions import ReviewError
from weaklabel.fit import run
from weaklabel.review.labels import LABELS_FILE, LabelStore, dev_rows, read_review_labels
from weaklabel.review.loop import ReviewSession
from weaklabel.review.queries import RowQuery, describe_rows, find_rows
from weaklabel.review.run_data import RunData
from weaklabel.review.server import ReviewServer, is_loopback
from weaklabel.review.views import overview, source_detail, sources_table
from weaklabel.run_summary import SplitVotes, class_report, split_coverage

ROOT = Path(__file__).resolve().parents[1]


def youtube_config(tmp_path: Path) -> dict:
    return {
        "name": "review_test", "seed": 0, "progress": False,
        "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
        "data": {"source": "bundled", "name": "youtube_spam"},
        "lfs": {"modules": ["labeling_functions.youtube"]},
        "student": {"kind": "tfidf"},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("review")
    return run(youtube_config(tmp)).output_dir


@pytest.fixture
def session(run_dir, tmp_path):
    session = ReviewSession(RunData.open(run_dir), lf_module=tmp_path / "accepted.py")
    yield session
    session.store.close()
    (run_dir / LABELS_FILE).unlink(missing_ok=True)


# ---------------------------------------------------------------- the run as columns
def test_run_data_agrees_with_the_artifacts(run_dir):
    data = RunData.open(run_dir)
    probs = pd.read_parquet(run_dir / "probs.parquet")
    assert data.n_rows == len(probs) == 1956
    assert data.class_names == ["HAM", "SPAM"]
    np.testing.assert_array_equal(data.predicted, probs["predicted_index"].to_numpy())
    assert list(probs["predicted_label"]) == [data.class_names[i] for i in data.predicted]
    train = LabelMatrix.load(run_dir / "label_matrix.npz")
    np.testing.assert_array_equal(data.votes[data.split_slice("train")], train.votes)
    assert data.source_names == train.lf_names
    # texts line up with the row ids the run wrote
    from weaklabel.data import load_youtube_spam

    frame = load_youtube_spam(seed=0)
    for i in (0, 700, data.n_rows - 1):
        assert data.text(i) == frame.loc[int(data.row_ids[i]), "text"]


def test_changed_data_is_refused(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["data"]["max_rows"] = 50
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ReviewError, match="data changed since the run"):
        RunData.open(copy)
    with pytest.raises(ReviewError, match="no run folder"):
        RunData.open(tmp_path / "absent")


# ---------------------------------------------------------------- queries
def test_row_filters_match_the_columns(run_dir):
    data = RunData.open(run_dir)
    spam = data.class_names.index("SPAM")
    positions, total = find_rows(data, RowQuery(predicted="SPAM", max_confidence=0.9, limit=200))
    expected = np.flatnonzero((data.predicted == spam) & (data.confidence <= 0.9))
    assert total == len(expected) > 0
    np.testing.assert_array_equal(positions, expected[:200])

    positions, total = find_rows(data, RowQuery(order="uncertain", split="train", limit=10))
    assert np.all(np.diff(data.confidence[positions]) >= 0)
    assert np.all(data.split_of[positions] == 0)

    positions, total = find_rows(data, RowQuery(text="SUBSCRIBE", limit=200))
    assert total == sum("subscribe" in data.text(i).lower() for i in range(data.n_rows))
    j = data.source_names.index("check_out")
    positions, total = find_rows(data, RowQuery(source="check_out", source_filter="wrong", limit=200))
    known = np.where(data.split_of == 1, data.gold, -1)  # valid gold only: never test or train gold
    assert total == int(((data.votes[:, j] != -1) & (known != -1) & (data.votes[:, j] != known)).sum())
    _, conflict = find_rows(data, RowQuery(disagreement="conflict"))
    assert conflict == int((data.n_classes_voted > 1).sum())

    with pytest.raises(ValueError, match="extra"):
        RowQuery.model_validate({"sql": "drop table"})
    with pytest.raises(ReviewError, match="no class"):
        find_rows(data, RowQuery(predicted="EGGS"))


def test_a_row_shows_every_vote_by_class_name_and_the_student(run_dir):
    data = RunData.open(run_dir)
    (row,) = describe_rows(data, np.array([1]))
    assert row["predicted"] in ("HAM", "SPAM") and set(row["probs"]) == {"HAM", "SPAM"}
    assert {v["source"] for v in row["votes"]} == {
        s for s, v in zip(data.source_names, data.votes[1], strict=True) if v != -1
    }
    assert all(v["vote"] in ("HAM", "SPAM") for v in row["votes"])
    assert row["student"] in ("HAM", "SPAM")


# ---------------------------------------------------------------- summaries
def test_coverage_shift_warns_only_past_the_threshold():
    rng = np.random.default_rng(0)

    def split(name, coverage, n=1000):
        votes = np.where(rng.random((n, 1)) < coverage, 1, -1)
        return SplitVotes(name, votes, np.ones(n, dtype=int))

    table, warnings = split_coverage([split("train", 0.52), split("test", 0.30)], ["HAM", "SPAM"])
    assert table.loc["test", "coverage"] == pytest.approx(0.30, abs=0.05)
    assert len(warnings) == 1 and "coverage shifts" in warnings[0] and "test" in warnings[0]
    _, warnings = split_coverage([split("train", 0.52), split("test", 0.50)], ["HAM", "SPAM"])
    assert warnings == []
    shifted = SplitVotes("test", np.ones((10, 1), int), np.array([0] * 8 + [1] * 2))
    _, warnings = split_coverage([SplitVotes("train", np.ones((10, 1), int), np.array([0, 1] * 5)), shifted], ["A", "B"])
    assert any("class balance shifts" in w for w in warnings)


def test_class_report_by_hand():
    gold = np.array([0, 0, 1, 1, 1, -1])
    predicted = np.array([0, 1, 1, 1, 0, 0])
    confusion, per_class = class_report(gold, predicted, ["HAM", "SPAM"])
    assert confusion.loc["HAM", "SPAM"] == 1 and confusion.loc["SPAM", "SPAM"] == 2
    assert per_class.loc["SPAM", "precision"] == pytest.approx(2 / 3)
    assert per_class.loc["SPAM", "recall"] == pytest.approx(2 / 3)
    assert per_class.loc["HAM", "support"] == 2


def test_overview_and_sources_pages(run_dir):
    data = RunData.open(run_dir)
    o = overview(data)
    assert {"split", "method", "accuracy", "f1"} <= set(o["scores"][0])
    assert [c["split"] for c in o["coverage"]] == ["train", "valid", "test"]
    assert o["label_model"]["estimator"] in ("generative", "anchored")
    assert o["class_report"]["split"] == "test"
    expected = split_coverage(
        [SplitVotes(s, data.votes[data.split_slice(s)], data.predicted[data.split_slice(s)]) for s in data.split_names],
        data.class_names)[1]
    assert all(w in o["warnings"] for w in expected)
    table = sources_table(data)
    by_name = {row["source"]: row for row in table}
    assert by_name["check_out"]["polarity"] == ["SPAM"]
    assert 0 < by_name["check_out"]["coverage"] < 1
    assert by_name["check_out"]["labeled_accuracy"] > 0.8
    detail = source_detail(data, "few_words")
    assert set(detail["examples"]) == {"votes", "disagrees with the label model", "is wrong on labeled rows"}
    assert all(any(v["source"] == "few_words" for v in r["votes"]) for r in detail["examples"]["votes"])


# ---------------------------------------------------------------- labels
def test_label_store_round_trip_and_foreign_file(tmp_path):
    store = LabelStore(tmp_path)
    assert not (tmp_path / LABELS_FILE).exists()  # nothing is written before a label
    store.set_label("train", "7", 1, "SPAM")
    store.set_label("train", "7", 0, "HAM")
    store.set_label("valid", "3", 1, "SPAM")
    store.remove_label("valid", "3")
    store.close()
    assert read_review_labels(tmp_path) == {("train", "7"): 0}
    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / LABELS_FILE).write_text("not ours")
    with pytest.raises(ReviewError, match="move it away"):
        read_review_labels(foreign)
    import sqlite3

    sqlite3.connect(foreign / "x.sqlite").execute("CREATE TABLE t (a)").connection.commit()
    (foreign / LABELS_FILE).unlink()
    (foreign / "x.sqlite").rename(foreign / LABELS_FILE)
    with pytest.raises(ReviewError, match="not a weaklabel review store"):
        LabelStore(foreign)


@pytest.mark.slow
def test_labels_given_in_the_app_become_dev_labels_of_the_next_fit(run_dir, tmp_path, caplog):
    data = RunData.open(run_dir)
    splits = data.splits
    train_ids = splits["train"].data.index.astype(str)[:5]
    labels = {("train", rid): 1 for rid in train_ids}
    labels[("valid", splits["valid"].data.index.astype(str)[0])] = 0
    labels[("test", splits["test"].data.index.astype(str)[0])] = 1  # never a dev label
    L_dev, y_dev = dev_rows(splits, labels)
    n_valid = int((splits["valid"].y >= 0).sum())
    assert len(y_dev) == n_valid + 5 and list(y_dev[-5:]) == [1] * 5
    assert y_dev[0] == 0
    assert L_dev.n_sources == len(data.source_names)
    # end to end: a fit of the same output folder reads the store
    config = youtube_config(tmp_path)
    config["output_dir"] = str(run_dir)
    store = LabelStore(run_dir)
    for rid in train_ids:
        store.set_label("train", rid, 1, "SPAM")
    store.close()
    try:
        with caplog.at_level("INFO", logger="weaklabel"):
            run(config)
        assert "5 labels from the review app join the label model's dev rows" in caplog.text
        assert (run_dir / LABELS_FILE).exists()  # the fit keeps the store
        with caplog.at_level("INFO", logger="weaklabel"):
            caplog.clear()
            run({**config, "review_labels": False})
        assert "review app" not in caplog.text
    finally:
        (run_dir / LABELS_FILE).unlink()


# ---------------------------------------------------------------- label, suggest, refit
@pytest.mark.slow
def test_label_suggest_accept_refit(session):
    data = session.data
    valid = data.split_slice("valid")
    test_id = str(data.row_ids[data.split_slice("test")][0])
    with pytest.raises(ReviewError, match="test rows"):
        session.label("test", test_id, "SPAM")
    with pytest.raises(ReviewError, match="no class"):
        session.label("train", str(data.row_ids[0]), "EGGS")
    positions, _ = find_rows(data, RowQuery(split="train", order="uncertain", limit=10))
    for i in positions:
        session.label("train", str(data.row_ids[i]), data.class_names[int(data.gold[i])])
    assert read_review_labels(data.path) == {("train", str(data.row_ids[i])): int(data.gold[i]) for i in positions}
    assert int((data.review != -1).sum()) == 10
    assert valid.stop > valid.start

    suggestions = session.compute_suggestions()
    assert suggestions["suggestions"], "the YouTube rows give at least one suggestion"
    first = suggestions["suggestions"][0]
    with pytest.raises(ReviewError, match="no suggestion"):
        session.decide("ke-000000000000", "accepted")
    result = session.decide(first["id"], "accepted")
    assert result["written"]
    lfs = load_lfs(str(session.lf_module))
    assert [lf.name for lf in lfs] == [first["name"]]
    assert not session.decide(first["id"], "accepted")["written"]  # appended once only
    if len(suggestions["suggestions"]) > 1:
        session.decide(suggestions["suggestions"][1]["id"], "rejected")

    refit = session.refit()
    assert refit["new_sources"] == [first["name"]]
    assert refit["labels_used"] == 10 + int((data.gold[valid] >= 0).sum())
    methods = {(row["split"], row["method"]) for row in refit["scores"]}
    assert ("test", "label_model") in methods and ("test", "student") in methods
    assert all(0 <= row["accuracy_after"] <= 1 for row in refit["scores"])
    assert str(session.lf_module) in refit["command"]
    # nothing the run wrote changed
    assert sorted(p.name for p in data.path.iterdir()) == sorted(
        [*json.loads((data.path / "weaklabel_run.json").read_text())["artifacts"], "weaklabel_run.json", LABELS_FILE]
    )


# ---------------------------------------------------------------- server and security
class Client:
    def __init__(self, server: ReviewServer, host_header: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{server.port}"
        self.host_header = host_header

    def request(self, path, body=None, headers=None, method=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method or ("POST" if data is not None else "GET"))
        for key, value in {**({"Host": self.host_header} if self.host_header else {}), **(headers or {})}.items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def served(session):
    servers = []

    def start(host="127.0.0.1"):
        server = ReviewServer(session, host=host, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _write(client, server, path, body, **headers):
    return client.request(path, body, {"Content-Type": "application/json", "X-CSRF-Token": server.csrf, **headers})


def test_loopback_server_pages_and_host_check(served):
    server = served()
    assert server.token is None and server.url.startswith("http://127.0.0.1:")
    client = Client(server)
    status, headers, body = client.request("/")
    assert status == 200 and b"/static/app.js" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    for path in ("/api/overview", "/api/sources", "/api/sources/check_out", "/api/rows?order=uncertain&limit=3",
                 "/api/slices", "/api/suggestions", "/static/app.js", "/static/app.css"):
        status, _, _ = client.request(path)
        assert status == 200, path
    # DNS rebinding: a foreign Host header is refused
    status, _, body = Client(server, host_header="evil.example:80").request("/api/overview")
    assert status == 403 and b"Host" in body


def test_writes_need_the_csrf_token_a_json_body_and_our_origin(served):
    server = served()
    client = Client(server)
    data = server.session.data
    body = {"split": "train", "row_id": str(data.row_ids[0]), "label": "SPAM"}
    assert client.request("/api/label", body, {"Content-Type": "application/json"})[0] == 403
    assert _write(client, server, "/api/label", body, **{"X-CSRF-Token": "guess"})[0] == 403
    assert _write(client, server, "/api/label", body, Origin="http://evil.example")[0] == 403
    assert _write(client, server, "/api/label", body, **{"Content-Type": "text/plain"})[0] == 415
    assert read_review_labels(data.path) == {}
    status, _, _ = _write(client, server, "/api/label", body, Origin=f"http://127.0.0.1:{server.port}")
    assert status == 200
    assert read_review_labels(data.path) == {("train", str(data.row_ids[0])): 1}
    status, _, answer = _write(client, server, "/api/label", {**body, "split": "test",
                                                              "row_id": str(data.row_ids[data.split_slice("test")][0])})
    assert status == 400 and b"test rows" in answer


def test_token_when_bound_beyond_loopback(served):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    server = served("0.0.0.0")
    assert server.token and f"?token={server.token}" in server.url
    client = Client(server)
    assert client.request("/api/overview")[0] == 403
    assert client.request("/api/overview?token=wrong")[0] == 403
    status, headers, _ = client.request(f"/?token={server.token}")
    assert status == 200 and "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    cookie = headers["Set-Cookie"].split(";")[0]
    assert client.request("/api/overview", headers={"Cookie": cookie})[0] == 200
    assert client.request("/api/overview", headers={"Cookie": "weaklabel_review_token=wrong"})[0] == 403


def test_no_path_outside_the_package_and_no_code_from_requests(served, tmp_path):
    server = served()
    client = Client(server)
    for path in ("/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e/%2e%2e/config.json",
                 "/static/index.html", "/static/app.js%00.py", "/../../etc/passwd", "/static//etc/passwd"):
        status, _, _ = client.request(path)
        assert status == 404, path
    status, _, body = client.request("/api/sources/..%2f..%2fconfig.json")
    assert status == 400 and b"no source" in body
    # a body with code or a path is never used: only a known suggestion's id is
    module = server.session.lf_module
    evil = {"id": "ke-deadbeef0000", "decision": "accepted", "code": "import os; os.system('touch /tmp/pwned')",
            "pattern": "x", "lf_module": str(tmp_path / "elsewhere.py")}
    status, _, _ = _write(client, server, "/api/suggestions/decide", evil)
    assert status == 400 and not module.exists() and not (tmp_path / "elsewhere.py").exists()
    server.session.label("train", str(server.session.data.row_ids[0]), "SPAM")
    status, _, payload = _write(client, server, "/api/suggestions/compute", {})
    assert status == 200
    first = json.loads(payload)["suggestions"][0]
    status, _, _ = _write(client, server, "/api/suggestions/decide", {**evil, "id": first["id"]})
    assert status == 200
    text = module.read_text()
    assert "os.system" not in text and "elsewhere" not in text and first["name"] in text
    assert not (tmp_path / "elsewhere.py").exists()
