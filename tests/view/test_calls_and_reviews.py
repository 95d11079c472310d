"""The call log pages, reviews and the review queue, and "add to dataset"."""

from __future__ import annotations

import json

from starlette.testclient import TestClient
from view_helpers import SECRET

from conftest import csrf_of
from promptkit.evals.reviews import reviews_of
from promptkit.registry import Registry


def ids(page_text: str) -> list[str]:
    import re
    return re.findall(r'href="/calls/(call\d+)"', page_text)


def test_the_list_pages_by_keyset_newest_first_without_repeats(client: TestClient) -> None:
    from promptkit.view.queries import calls

    seen: list[str] = []
    url = "/calls?prompt=sentiment"
    calls.PAGE_SIZE  # noqa: B018 - 50 a page: 30 calls fit one page
    page = client.get(url)
    seen += ids(page.text)
    assert seen == [f"call{i:07d}" for i in range(29, -1, -1)]
    assert 'id="next-page"' not in page.text


def test_keyset_pages_cover_every_call_once(client: TestClient, registry: Registry) -> None:
    from promptkit.view.queries.calls import CallFilter, call_page

    seen, cursor = [], None
    while True:
        page = call_page(registry.engine, CallFilter(), cursor, size=7)
        seen += [r.id for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"call{i:07d}" for i in range(29, -1, -1)]


def test_filters_narrow_the_list(client: TestClient) -> None:
    errors = ids(client.get("/calls?status=error").text)
    assert errors == ["call0029", "call0019", "call0009"] or errors == [
        f"call{i:07d}" for i in (29, 19, 9)]
    assert ids(client.get("/calls?version=1.1.0").text) == [f"call{i:07d}" for i in range(19, 9, -1)]
    assert ids(client.get("/calls?model=gpt-4o").text) == [f"call{i:07d}" for i in range(28, -1, -2)]
    slow = client.get("/calls?min_latency=1.5").text
    assert 0 < len(ids(slow)) < 30
    window = ids(client.get("/calls?since=2025-01-01T00:05&until=2025-01-01T00:08").text)
    assert window == ["call0000007", "call0000006", "call0000005"]
    assert ids(client.get("/calls?min_cost=1").text) == []


def test_one_call_shows_messages_output_tokens_and_no_secret(client: TestClient) -> None:
    page = client.get("/calls/call0000003")
    assert page.status_code == 200
    assert "review number 3" in page.text and "You classify sentiment." in page.text
    assert "upbeat" in page.text and "gpt-4o" in page.text
    assert SECRET not in page.text and "[REDACTED]" in page.text
    assert client.get("/calls/nope").status_code == 404


def test_a_review_is_stored_with_the_reviewer(client: TestClient, registry: Registry) -> None:
    saved = client.post("/reviews", data={
        "csrf": csrf_of(client), "target_kind": "call", "target_id": "call0000003",
        "verdict": "fail", "score": "2", "label": "tone", "comment": "too upbeat",
        "next": "/calls/call0000003"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].startswith("/calls/call0000003?")
    [review] = reviews_of(registry, "call", "call0000003")
    assert (review.verdict, review.score, review.label, review.comment, review.reviewer) == (
        "fail", 2.0, "tone", "too upbeat", "tester")
    assert "too upbeat" in client.get(saved.headers["location"]).text


def test_a_bad_review_is_refused(client: TestClient, registry: Registry) -> None:
    for bad in ({"verdict": "maybe"}, {"score": "high"}, {"target_kind": "prompt"}):
        fields = {"csrf": csrf_of(client), "target_kind": "call", "target_id": "call0000003",
                  "verdict": "pass", **bad}
        assert client.post("/reviews", data=fields).status_code == 400
    assert reviews_of(registry, "call", "call0000003") == []


def test_the_queue_samples_unreviewed_calls_per_version_by_seed(client: TestClient,
                                                                 registry: Registry) -> None:
    first = ids(client.get("/queue?per_version=3&seed=4").text)
    assert len(first) == 6  # two versions
    assert ids(client.get("/queue?per_version=3&seed=4").text) == first
    client.post("/reviews", data={"csrf": csrf_of(client), "target_kind": "call",
                                  "target_id": first[0], "verdict": "pass"})
    assert first[0] not in ids(client.get("/queue?per_version=3&seed=4").text)


def test_add_to_dataset_appends_the_case_to_the_suites_dataset(
        client: TestClient, registry: Registry, view_project) -> None:  # type: ignore[no-untyped-def]
    form = {"csrf": csrf_of(client), "suite": "sentiment.yaml", "case_id": "from-prod",
            "expected": '{"sentiment": "neutral"}'}
    unreviewed = client.post("/calls/call0000004/dataset", data=form)
    assert unreviewed.status_code == 400 and "review it first" in unreviewed.text
    client.post("/reviews", data={"csrf": csrf_of(client), "target_kind": "call",
                                  "target_id": "call0000004", "verdict": "fail"})
    added = client.post("/calls/call0000004/dataset", data=form, follow_redirects=False)
    assert added.status_code == 303
    last = (view_project / "evals" / "datasets" / "sentiment.jsonl").read_text().splitlines()[-1]
    assert json.loads(last) == {"id": "from-prod", "vars": {"text": "review number 4"},
                                "expect": {"sentiment": "neutral"}}
    again = client.post("/calls/call0000004/dataset", data=form)
    assert again.status_code == 400 and "has a case &#39;from-prod&#39; already" in again.text


def test_add_to_dataset_refuses_a_path_for_a_suite(client: TestClient) -> None:
    client.post("/reviews", data={"csrf": csrf_of(client), "target_kind": "call",
                                  "target_id": "call0000004", "verdict": "fail"})
    refused = client.post("/calls/call0000004/dataset", data={
        "csrf": csrf_of(client), "suite": "../pyproject.toml", "expected": "x"})
    assert refused.status_code == 400 and "no suite" in refused.text
