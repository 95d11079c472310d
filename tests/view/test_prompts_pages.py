"""The prompt pages: the list, versions, one version and the diff of two versions."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_the_list_names_every_prompt_and_what_each_environment_serves(client: TestClient) -> None:
    page = client.get("/prompts")
    assert page.status_code == 200
    for name in ("sentiment", "support_assistant", "extract_contact"):
        assert f'href="/prompts/{name}"' in page.text
    assert "production: 1.1.0" in page.text and "staging: 1.2.0" in page.text


def test_a_version_shows_front_matter_source_provenance_and_an_example(client: TestClient) -> None:
    page = client.get("/prompts/sentiment/v/1.2.0")
    assert page.status_code == 200
    assert "ml-platform" in page.text  # the owner, from the front matter
    assert "{{ text }}" in page.text  # the template source, as written
    assert "With case <b>love</b> of suite <b>sentiment</b>" in page.text
    assert "I love it. Best purchase I have made this year!" in page.text
    assert "staging" in page.text


def test_a_prompt_without_a_suite_shows_the_template_only(client: TestClient, view_project) -> None:  # type: ignore[no-untyped-def]
    (view_project / "evals" / "extract_contact.yaml").unlink()
    page = client.get("/prompts/extract_contact/v/1.0.0")
    assert "No suite in <code>evals/</code> uses extract_contact" in page.text


def test_an_unknown_version_is_404(client: TestClient) -> None:
    assert client.get("/prompts/sentiment/v/9.9.9").status_code == 404


def test_the_diff_marks_removed_and_added_lines(client: TestClient, registry) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/prompts/sentiment/diff", params={"a": "1.1.0", "b": "1.2.0"})
    assert page.status_code == 200
    old = registry.version("sentiment", "1.1.0").source.splitlines()
    new = registry.version("sentiment", "1.2.0").source.splitlines()
    added = [line for line in new if line not in old and line.strip()]
    removed = [line for line in old if line not in new and line.strip()]
    assert added and removed
    from markupsafe import escape
    for line in added:
        assert f"<ins>{escape(line)}</ins>" in page.text
    for line in removed:
        assert f"<del>{escape(line)}</del>" in page.text


def test_a_diff_of_unknown_versions_is_404(client: TestClient) -> None:
    assert client.get("/prompts/sentiment/diff?a=1.0.0&b=7.0.0").status_code == 404
