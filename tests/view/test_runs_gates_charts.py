"""Eval runs (summaries, side by side, flips, search), case results, label export, gates
and charts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from starlette.testclient import TestClient

from conftest import csrf_of
from promptkit.registry import Registry


def cases(text: str) -> list[str]:
    return re.findall(r'data-case="([^"]+)"', text)


def test_runs_summarise_each_version_with_a_pass_rate_chart(client: TestClient) -> None:
    page = client.get("/runs")
    assert page.status_code == 200
    assert "66.7% (2/3)" in page.text
    assert page.text.count("<svg") == 1 and "<rect" in page.text


def test_side_by_side_filters_flips_failures_and_search(client: TestClient) -> None:
    base = "/runs/sentiment/sentiment"
    assert cases(client.get(base).text) == ["broken", "love", "mixed"]
    assert cases(client.get(f"{base}?show=flips").text) == ["broken", "mixed"]
    assert cases(client.get(f"{base}?show=failures&v=1.1.0").text) == ["broken"]
    assert cases(client.get(f"{base}?q=LOVE").text) == ["love"]
    assert cases(client.get(f"{base}?q=reads negative").text) == ["broken"]
    page = client.get(base).text
    assert 'class="flip" data-case="broken"' in page and 'class="" data-case="love"' in page


def test_a_case_result_takes_a_review_and_scored_reviews_export_as_labels(
        client: TestClient, registry: Registry, view_project) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/runs/sentiment/sentiment?v=1.1.0").text
    result_id = re.search(r'href="/results/(\d+)"', page).group(1)  # type: ignore[union-attr]
    shown = client.get(f"/results/{result_id}")
    assert shown.status_code == 200 and "Not reviewed yet" in shown.text
    client.post("/reviews", data={"csrf": csrf_of(client), "target_kind": "case",
                                  "target_id": result_id, "verdict": "pass", "score": "4"})
    done = client.post("/suites/sentiment/labels", data={"csrf": csrf_of(client)})
    assert "1 label(s) added" in done.text
    labels = (view_project / "evals" / "sentiment.labels.jsonl").read_text().splitlines()
    assert [json.loads(line)["human"] for line in labels] == [4.0]
    client.post("/suites/sentiment/labels", data={"csrf": csrf_of(client)})
    assert len((view_project / "evals" / "sentiment.labels.jsonl").read_text().splitlines()) == 1
    assert client.post("/suites/nope/labels", data={"csrf": csrf_of(client)}).status_code == 400


def test_gates_list_and_one_gate(client: TestClient, registry: Registry) -> None:
    new = registry.version("sentiment", "1.2.0").content_hash
    old = registry.version("sentiment", "1.1.0").content_hash
    record = registry.record_gate({
        "name": "sentiment", "candidate_version": "1.2.0", "candidate_hash": new,
        "baseline_version": "1.1.0", "baseline_hash": old, "baseline_label": "production",
        "passed": True, "summary": {"verdict": "pass", "difference": 0.03}, "actor": "ci",
        "at": datetime.now(UTC)})
    listed = client.get("/gates")
    assert f'href="/gates/sentiment/{record.id}"' in listed.text
    one = client.get(f"/gates/sentiment/{record.id}")
    assert one.status_code == 200 and "difference" in one.text and "0.03" in one.text
    assert client.get("/gates/sentiment/999").status_code == 404


def test_charts_draw_latency_cost_and_calls_per_version(client: TestClient) -> None:
    page = client.get("/charts?prompt=sentiment")
    assert page.status_code == 200
    assert page.text.count("<svg") == 3 and page.text.count("<polyline") == 4  # 2 versions
    assert "<script" not in page.text
