"""Settings files: the README's example works, mistakes are reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol.config import QueueConfig
from server.app import App
from server.runtime import overflow_order
from server.settings import load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_toml() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README shows a TOML example"
    return blocks[0]


async def test_readme_example_starts(tmp_path: Path) -> None:
    """The configuration example in the README loads and a server starts with it."""
    path = tmp_path / "switchboard.toml"
    path.write_text(readme_toml(), encoding="utf-8")
    settings = load_settings(path)
    settings.server.port = 0
    settings.server.db = str(tmp_path / "x.db")
    app = App(settings)
    await app.start()
    try:
        assert app.runtime is not None
        router = app.runtime.router
        assert router.queues["support"].overflow == "backlog"
        assert "alice" in router.agents and "webchat" in app.runtime.keys
    finally:
        await app.stop()


def test_unknown_key_refused(tmp_path: Path) -> None:
    """A misspelt setting stops the server with a message instead of being ignored."""
    path = tmp_path / "bad.toml"
    path.write_text("[routing]\ngrace_period = 5\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="grace_period"):
        load_settings(path)


def test_invalid_value_refused(tmp_path: Path) -> None:
    """A value outside its range (a skill level of 11) is refused at load."""
    path = tmp_path / "bad.toml"
    path.write_text('[[queues]]\nid = "q"\nskills = { x = 11 }\n', encoding="utf-8")
    with pytest.raises(SystemExit):
        load_settings(path)


def test_overflow_targets_first() -> None:
    """Queues are set up overflow targets first, whatever order the file lists them in."""
    a = QueueConfig(id="a", overflow="b")
    b = QueueConfig(id="b", overflow="c")
    c = QueueConfig(id="c")
    assert [q.id for q in overflow_order([a, b, c])] == ["c", "b", "a"]
    loop = [QueueConfig(id="x", overflow="y"), QueueConfig(id="y", overflow="x")]
    assert sorted(q.id for q in overflow_order(loop)) == ["x", "y"]
