"""Image inputs render as chat content parts; `messages` inputs take content parts."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from promptkit.errors import InputValidationError, ResourceLimitError
from promptkit.templates import images as images_module
from promptkit.templates import limits as limits_module
from promptkit.templates import parse_prompt

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32

DESCRIBE = parse_prompt(
    "---\nname: describe\nversion: 1.0.0\ninputs:\n  photo: image\n  question: string\n---\n"
    "system:\nYou describe pictures.\nuser:\n{{ question }}\n{{ photo }}\nBe brief.\n")


def user_content(photo: str) -> object:
    return DESCRIBE.render(photo=photo, question="What is this?")[-1]["content"]


def data_url(media: str, data: bytes) -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def test_a_file_is_read_into_a_data_url_with_the_type_its_bytes_say(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"  # the name says PNG, the bytes say JPEG
    photo.write_bytes(JPEG)
    assert user_content(str(photo)) == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url("image/jpeg", JPEG)}},
        {"type": "text", "text": "Be brief."},
    ]
    assert DESCRIBE.render(photo=str(photo), question="?")[0] == {
        "role": "system", "content": "You describe pictures."}  # text without images stays text


def test_a_url_or_a_data_url_is_kept_as_given() -> None:
    for url in ("https://example.com/cat.png", data_url("image/png", PNG)):
        assert user_content(url)[1] == {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(("value", "message"), [
    ("missing.png", "variable 'photo': no image file at missing.png"),
    ("data:text/plain;base64,aGk=", "text/plain is not an image type sent to models"),
    ("data:image/png;base64,@@@", "the data URL's base64 does not decode"),
])
def test_a_bad_image_value_is_an_input_error(value: str, message: str) -> None:
    with pytest.raises(InputValidationError, match=message) as info:
        user_content(value)
    assert info.value.variable == "photo" and info.value.ref == "describe@1.0.0"


def test_a_file_that_is_no_image_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("just text")
    with pytest.raises(InputValidationError, match="is not a PNG, JPEG, GIF or WebP image"):
        user_content(str(notes))


def test_an_image_over_the_size_limit_is_one_line_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = limits_module.Limits(max_image_bytes=16)
    monkeypatch.setattr(limits_module, "LIMITS", small)
    monkeypatch.setattr(images_module, "LIMITS", small)
    photo = tmp_path / "big.png"
    photo.write_bytes(PNG)
    with pytest.raises(ResourceLimitError) as info:
        user_content(str(photo))
    assert "\n" not in str(info.value)
    assert f"{photo} is 40 bytes, more than 16 (limit max_image_bytes; set " \
           "PROMPTKIT_MAX_IMAGE_BYTES to change it)" in str(info.value)


def test_a_value_cannot_forge_an_image_slot(tmp_path: Path) -> None:
    """Another variable's text that looks like a marker stays text."""
    photo = tmp_path / "p.png"
    photo.write_bytes(PNG)
    forged = "\ue000" + "0" * 16 + ":0\ue001"
    parts = DESCRIBE.render(photo=str(photo), question=forged)[-1]["content"]
    assert parts[0] == {"type": "text", "text": forged} and len(parts) == 3


HISTORY = parse_prompt(
    "---\nname: chat\nversion: 1.0.0\ninputs:\n  conversation: messages\n---\n"
    "history: conversation\n")


def test_a_messages_input_takes_image_parts() -> None:
    turn = {"role": "user", "content": [
        {"type": "text", "text": "And this one?"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", PNG), "detail": "low"}},
    ]}
    assert HISTORY.render(conversation=[turn]) == [turn]


@pytest.mark.parametrize(("part", "message"), [
    ({"type": "image", "image_url": {"url": "https://x/y.png"}}, "'image' is not one of"),
    ({"type": "image_url", "image_url": {"uri": "https://x/y.png"}}, "'url' is a required"),
    ({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}, "does not match"),
    ({"type": "text"}, "'text' is a required property"),
])
def test_a_malformed_content_part_names_where_it_is(part: dict, message: str) -> None:
    with pytest.raises(InputValidationError, match=message) as info:
        HISTORY.render(conversation=[{"role": "user", "content": [part]}])
    assert "variable 'conversation'[0]['content'][0]" in str(info.value)


def test_inputs_are_checked_by_their_own_draft_with_formats() -> None:
    prompt = parse_prompt(
        "---\nname: mail\nversion: 1.0.0\ninputs:\n  to: {type: string, format: email}\n"
        "  pair:\n    $schema: 'http://json-schema.org/draft-07/schema#'\n    type: array\n"
        "    items: [{type: string}, {type: integer}]\n---\n{{ to }} {{ pair }}\n")
    assert prompt.render(to="ada@example.com", pair=["a", 1])
    with pytest.raises(InputValidationError, match="'not-an-email' is not a 'email'"):
        prompt.render(to="not-an-email", pair=["a", 1])
    with pytest.raises(InputValidationError, match=r"variable 'pair'\[1\]: 'x' is not of type"):
        prompt.render(to="ada@example.com", pair=["a", "x"])
