"""Suite files: cases inline or from datasets, assertions built, errors located."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.errors import SuiteFormatError
from promptkit.evals import load_suite, load_suites
from promptkit.evals.assertions import Equals, MatchesSchema, Range


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_suites_load(repo_root: Path) -> None:
    suites = {s.name: s for s in load_suites(repo_root / "evals")}
    assert set(suites) == {"sentiment", "extract_contact", "support_assistant"}
    sentiment = suites["sentiment"]
    love = sentiment.cases[0]
    assert (love.id, love.critical, love.variables) == (
        "love", True, {"text": "I love it. Best purchase I have made this year!"})
    kinds = [type(a) for a in love.assertions]
    assert kinds == [MatchesSchema, Range, Equals]  # suite-level first, then `expect`
    assert suites["support_assistant"].cases[0].variables["product"] == "Acme Cloud"


def test_csv_dataset_flat_columns(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("id,text,expect.label,critical\na,hello,pos,true\nb,bye,neg,\n")
    suite = load_suite(write(tmp_path, "prompt: p\ndataset: d.csv\n"))
    assert [(c.id, c.variables, c.expect, c.critical) for c in suite.cases] == [
        ("a", {"text": "hello"}, {"label": "pos"}, True),
        ("b", {"text": "bye"}, {"label": "neg"}, False),
    ]


def test_jsonl_dataset_and_default_ids(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"vars": {"x": 1}}\n{"vars": {"x": 2}, "id": 7}\n')
    suite = load_suite(write(tmp_path, "prompt: p\ndataset: d.jsonl\n"))
    assert [c.id for c in suite.cases] == ["case-1", "7"]
    assert suite.cases[0].variables == {"x": 1}


def test_unknown_key_names_file_line_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "prompt: p\ncases:\n  - id: a\n    varz: {x: 1}\n")
    with pytest.raises(SuiteFormatError, match=r"unknown key 'varz'; allowed keys: assert, critical, expect, id, vars") as info:
        load_suite(path)
    assert (info.value.path, info.value.line, info.value.field) == (path, 4, "cases.0.varz")
    assert str(info.value).startswith(f"{path}:4: ")


def test_unknown_assertion_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "prompt: p\nassert:\n  - schema\n  - equalz: {value: 1}\ncases: [{id: a}]\n")
    with pytest.raises(SuiteFormatError, match=r"unknown assertion 'equalz'; known: contains, cost") as info:
        load_suite(path)
    assert info.value.line == 4 and info.value.field == "assert.1"


def test_bad_assertion_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, "prompt: p\ncases:\n  - id: a\n    assert:\n      - range: {path: x, maxi: 3}\n")
    with pytest.raises(SuiteFormatError, match=r"range: .*unexpected keyword argument 'maxi'") as info:
        load_suite(path)
    assert info.value.line == 5


def test_duplicate_case_ids_and_empty_suites(tmp_path: Path) -> None:
    with pytest.raises(SuiteFormatError, match="two cases share the id 'a'"):
        load_suite(write(tmp_path, "prompt: p\ncases: [{id: a}, {id: a}]\n"))
    with pytest.raises(SuiteFormatError, match="no cases"):
        load_suite(write(tmp_path, "prompt: p\n"))


def test_missing_dataset_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteFormatError, match=r"dataset nope\.jsonl") as info:
        load_suite(write(tmp_path, "prompt: p\ndataset: nope.jsonl\n"))
    assert info.value.line == 2


def test_repeat_and_threshold_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SuiteFormatError, match="repeat"):
        load_suite(write(tmp_path, "prompt: p\nrepeat: 0\ncases: [{id: a}]\n"))
    suite = load_suite(write(tmp_path, "prompt: p\nrepeat: 3\nthreshold: 0.6\ncases: [{id: a}]\n"))
    assert (suite.repeat, suite.threshold) == (3, 0.6)


def test_the_content_hash_changes_with_the_suite_file_and_with_its_dataset(
    tmp_path: Path,
) -> None:
    (tmp_path / "d.jsonl").write_text('{"id": "a", "vars": {"x": 1}}\n')
    path = write(tmp_path, "prompt: p\ndataset: d.jsonl\n")
    first = load_suite(path).content_hash
    assert first.startswith("sha256:") and load_suite(path).content_hash == first
    (tmp_path / "d.jsonl").write_text('{"id": "a", "vars": {"x": 2}}\n')  # a dataset row
    second = load_suite(path).content_hash
    assert second != first
    path.write_text("prompt: p\ndataset: d.jsonl\nassert:\n  - schema\n")  # an assertion
    assert load_suite(path).content_hash not in (first, second)


def typed(tmp_path: Path, rows: str, name: str, inputs: str) -> list[dict]:
    """The dataset's cases as a prompt declaring `inputs` reads them."""
    from promptkit.evals.case_variables import case_variables
    from promptkit.templates import parse_prompt

    (tmp_path / name).write_text(rows)
    suite = load_suite(write(tmp_path, f"prompt: p\ndataset: {name}\n"))
    prompt = parse_prompt(f"---\nname: p\nversion: 1.0.0\ninputs:\n{inputs}---\nhi\n")
    return [case_variables(c.variables, c.origin, prompt, tmp_path) for c in suite.cases]


def test_dataset_text_is_read_as_the_inputs_are_declared(tmp_path: Path) -> None:
    inputs = ("  n: integer\n  x: number\n  ok: boolean\n  tags: array\n  code: string\n"
              "  size: {type: integer, default: 7}\n")
    rows = 'n,x,ok,tags,code,size\n3,2.5,Yes,"[""a""]",007,\n'
    assert typed(tmp_path, rows, "d.csv", inputs) == [
        {"n": 3, "x": 2.5, "ok": True, "tags": ["a"], "code": "007"}]  # empty: the default
    jsonl = '{"n": "4", "x": 1, "ok": false, "tags": [], "code": "1"}\n'
    assert typed(tmp_path, jsonl, "d.jsonl", inputs)[0]["n"] == 4


def test_a_value_that_is_not_its_declared_type_names_the_row_and_column(tmp_path: Path) -> None:
    from promptkit.errors import InputValidationError

    with pytest.raises(InputValidationError) as info:
        typed(tmp_path, '[{"n": "1"}, {"n": "1.5"}]', "d.json", "  n: integer\n")
    assert str(info.value) == (f"{tmp_path / 'd.json'}: p@1.0.0: row 2, column 'n': '1.5' is "
                               "not an integer (the input 'n' is declared integer)")
    assert info.value.variable == "n"


def test_a_csv_row_with_the_wrong_number_of_cells_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n\n3\n")
    with pytest.raises(SuiteFormatError, match=r"d\.csv:4: 1 cells, but the header has 2"):
        load_suite(write(tmp_path, "prompt: p\ndataset: d.csv\n"))
