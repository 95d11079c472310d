from __future__ import annotations

import pytest

from promptkit.errors import UsageError
from promptkit.templates.versions import is_version, latest, next_version, parse_ref, sort_versions


def test_versions_sort_as_numbers_not_strings() -> None:
    assert sort_versions(["1.9.0", "1.10.0", "1.2.0"]) == ["1.2.0", "1.9.0", "1.10.0"]
    assert max(["1.9.0", "1.10.0"]) == "1.9.0"  # the string max is wrong ...
    assert latest(["1.9.0", "1.10.0"]) == "1.10.0"  # ... the semantic one is right


def test_prefixed_and_short_versions_and_prereleases_order() -> None:
    assert sort_versions(["v1.2", "v1.10", "1.3.0rc1", "1.3.0"]) == ["v1.2", "1.3.0rc1", "1.3.0", "v1.10"]


def test_labels_are_not_versions() -> None:
    assert is_version("1.2.0") and is_version("v1.2")
    assert not is_version("production") and not is_version("latest")


@pytest.mark.parametrize(
    ("current", "bump", "expected"),
    [("1.2.0", "minor", "1.3.0"), ("1.2.7", "patch", "1.2.8"), ("1.9.3", "major", "2.0.0"),
     ("v1.2", "minor", "v1.3"), ("v1.2", "patch", "v1.2.1")],
)
def test_next_version_keeps_the_style(current: str, bump: str, expected: str) -> None:
    assert next_version(current, bump) == expected


def test_parse_ref() -> None:
    assert parse_ref("sentiment@1.2.0") == ("sentiment", "1.2.0")
    assert parse_ref("sentiment@production") == ("sentiment", "production")
    assert parse_ref("sentiment") == ("sentiment", None)
    with pytest.raises(UsageError, match="not a prompt reference"):
        parse_ref("sentiment@")


def test_garbage_version_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a version"):
        sort_versions(["1.0", "banana"])
