"""The HTML report in a real headless Chromium (Debian's `chromium`, driven over the DevTools
protocol): it opens from a file with no network, shows the summary, and the flip filter
shows exactly the flipped cases. Skipped when Chromium is absent here; required in CI."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import REGRESSED

from promptkit.config import load_settings
from promptkit.evals import EvalSession
from promptkit.evals.gate import VersionRef, compare
from promptkit.evals.gate_run import Gate
from promptkit.evals.reports import html_report
from tests.support import chromium_path, require

WAIT_S = 30.0


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=WAIT_S))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path) -> None:
        self.call("Page.navigate", url=path.as_uri())
        deadline = time.monotonic() + WAIT_S
        while self.js("document.readyState") != "complete" or not self.js(
                f"location.href === {json.dumps(path.as_uri())}"):
            assert time.monotonic() < deadline, f"{path} did not load in {WAIT_S} s"
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre, scrolled into view first (as a reader
        scrolls to it)."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                      f"e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); "
                      f"return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def visible_cases(self) -> list[str]:
        return self.js("[...document.querySelectorAll('#cases tbody tr.case')]"
                       ".filter(r => r.offsetParent !== null).map(r => r.dataset.key)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    exe = chromium_path()
    try:
        from websockets.sync.client import connect
    except ImportError:
        require("the websockets package", False, "pip install websockets (the dev extra)")
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with connect(_page_socket(profile, process), max_size=None, open_timeout=WAIT_S) as ws:
            tools = DevTools(ws)
            tools.call("Page.enable")
            tools.call("Network.enable")
            yield tools
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _page_socket(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """The websocket of the first page, once Chromium has written its DevTools port."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + WAIT_S
    while not (active.is_file() and active.read_text().strip()):
        assert process.poll() is None, f"chromium exited with {process.returncode}"
        assert time.monotonic() < deadline, f"chromium wrote no DevTools port in {WAIT_S} s"
        time.sleep(0.05)
    port = active.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=WAIT_S) as answer:
        targets = json.load(answer)
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


def test_the_report_opens_shows_the_summary_and_filters_the_flips(
    browser: DevTools, gate_project: Path, tmp_path: Path
) -> None:
    session = EvalSession(load_settings(gate_project))
    try:
        report = Gate(session).run("parity", candidate="1.1.0", baseline="1.0.0")
    finally:
        session.finish()
    page = tmp_path / "gate.html"
    page.write_text(html_report(report), encoding="utf-8")

    browser.open(page)
    assert browser.js("document.getElementById('verdict').innerText") == (
        "REGRESSION: parity@1.1.0 against parity@1.0.0")
    summary = browser.js("document.getElementById('summary').innerText")
    assert "37/40" in summary and "McNemar p = 0.25" in summary
    assert len(browser.visible_cases()) == 40

    browser.click("#filters button[data-filter=flips]")
    assert browser.visible_cases() == [f"parity::{case}" for case in REGRESSED]
    assert browser.js("document.getElementById('shown').innerText") == "3"
    assert browser.js("document.querySelector('[data-filter=flips]')"
                      ".getAttribute('aria-pressed')") == "true"

    browser.click("#filters button[data-filter=all]")
    assert len(browser.visible_cases()) == 40
    requested = [e["params"]["request"]["url"] for e in browser.events
                 if e.get("method") == "Network.requestWillBeSent"]
    assert requested and all(url.startswith("file://") for url in requested), requested


def test_untrusted_outputs_stay_text(browser: DevTools, tmp_path: Path) -> None:
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    rows = [{"suite": "s", "case_id": "c1", "critical": False, "passed": True, "pass_rate": 1.0,
             "output": {"answer": "fine"}},
            {"suite": "s", "case_id": "c2", "critical": False, "passed": True, "pass_rate": 1.0,
             "text": "ok"}]
    bad = [{**rows[0], "passed": False, "pass_rate": 0.0, "output": {"answer": hostile},
            "failures": [{"kind": "equals", "message": hostile}]}, rows[1]]
    report = compare(VersionRef("p", "1.0.0", "sha256:a"), VersionRef("p", "2.0.0", "sha256:b"),
                     rows, bad)
    page = tmp_path / "hostile.html"
    page.write_text(html_report(report), encoding="utf-8")
    browser.open(page)
    assert browser.js("window.pwned === undefined")
    assert browser.js("document.querySelectorAll('#cases img, #cases script').length") == 0
    assert hostile in browser.js("document.querySelector('tr[data-key=\"s::c1\"]').innerText")
    browser.click("#filters button[data-filter=flips]")
    assert browser.visible_cases() == ["s::c1"]
