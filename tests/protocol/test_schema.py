"""The generated JSON Schema: current, complete, and true of what the codecs send."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocol import schema
from protocol.base import tag_of
from protocol.codec import JSON, Codec, FrameError
from protocol.errors import ErrorCode
from protocol.frames import CLIENT_FRAMES, SERVER_FRAMES
from protocol.version import PROTOCOL_VERSION, SUBPROTOCOLS

STALE = "{} is stale: run `python -m protocol.schema` from the repository root and commit it"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The committed schema.json, as clients get it."""
    return json.loads(schema.SCHEMA_PATH.read_text(encoding="utf-8"))


def validator(document: dict[str, Any], direction: str) -> jsonschema.Draft202012Validator:
    """A validator of one direction's union, resolving refs into the document's $defs."""
    return jsonschema.Draft202012Validator({**document[direction], "$defs": document["$defs"]})


def test_schema_file_is_current() -> None:
    """protocol/schema.json is exactly what the structs generate now."""
    committed = schema.SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == schema.render_schema(schema.build_schema()), STALE.format(
        "protocol/schema.json"
    )


def test_guide_reference_is_current() -> None:
    """The generated "Frames" reference in docs/protocol.md matches the structs."""
    guide = schema.DOC_PATH.read_text(encoding="utf-8")
    expected = schema.splice_reference(guide, schema.render_reference(schema.build_schema()))
    assert guide == expected, STALE.format("docs/protocol.md")


def test_check_command_passes() -> None:
    """`python -m protocol.schema --check` exits 0 on the repository."""
    result = subprocess.run(
        [sys.executable, "-m", "protocol.schema", "--check"],
        cwd=schema.SCHEMA_PATH.parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_and_write_on_stale_files(tmp_path: Path) -> None:
    """Stale or missing files are reported by the check and fixed by a write."""
    schema_path, guide = tmp_path / "schema.json", tmp_path / "protocol.md"
    guide.write_text(f"# Guide\n\n{schema.DOC_BEGIN}\nold\n{schema.DOC_END}\n\nAfter.\n")
    assert schema.stale_files(schema_path, guide) == [schema_path, guide]
    assert schema.write_files(schema_path, guide) == [schema_path, guide]
    assert schema.stale_files(schema_path, guide) == []
    assert schema.write_files(schema_path, guide) == []  # nothing rewritten
    text = guide.read_text()
    assert text.startswith(f"# Guide\n\n{schema.DOC_BEGIN}\n")
    assert text.endswith(f"{schema.DOC_END}\n\nAfter.\n")
    assert "#### `login`" in text
    schema_path.write_text(schema_path.read_text().replace('"1.0"', '"0.9"'))
    assert schema.stale_files(schema_path, guide) == [schema_path]


def test_check_command_fails_on_stale_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--check` exits 1 and says how to regenerate when schema.json is stale."""
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(schema, "SCHEMA_PATH", stale)
    monkeypatch.setattr(schema, "DOC_PATH", tmp_path / "absent.md")
    assert schema.main(["--check"]) == 1
    assert "python -m protocol.schema" in capsys.readouterr().err


def test_guide_without_markers_is_an_error() -> None:
    """Splicing into a guide that lost its markers raises instead of guessing."""
    with pytest.raises(ValueError, match="markers"):
        schema.splice_reference("# Guide\n", "reference")


def test_output_is_deterministic() -> None:
    """Two generations give the same text, with sorted keys and a trailing newline."""
    first = schema.render_schema(schema.build_schema())
    assert first == schema.render_schema(schema.build_schema())
    assert first.endswith("}\n")
    canonical = json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False)
    assert first == canonical + "\n"


def test_shipped_schema_is_the_file() -> None:
    """load_schema_text reads the same schema.json (package data)."""
    assert schema.load_schema_text() == schema.SCHEMA_PATH.read_text(encoding="utf-8")


def test_header(document: dict[str, Any]) -> None:
    """The document names its dialect, the protocol version and the subprotocols."""
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["title"]
    assert document["version"] == PROTOCOL_VERSION
    assert document["subprotocols"] == list(SUBPROTOCOLS)


def test_document_is_a_valid_json_schema(document: dict[str, Any]) -> None:
    """The document and both unions pass the draft 2020-12 meta-schema."""
    jsonschema.Draft202012Validator.check_schema(document)
    for direction in ("client", "server"):
        jsonschema.Draft202012Validator.check_schema(validator(document, direction).schema)


@pytest.mark.parametrize(
    ("direction", "frames"), [("client", CLIENT_FRAMES), ("server", SERVER_FRAMES)]
)
def test_every_frame_is_listed_with_its_tag(
    document: dict[str, Any], direction: str, frames: tuple[type, ...]
) -> None:
    """Each frame class appears once in its union, in order, with its tag as ``type``."""
    refs = [f"#/$defs/{cls.__name__}" for cls in frames]
    union = document[direction]
    assert [member["$ref"] for member in union["oneOf"]] == refs
    tags = [tag_of(cls) for cls in frames]
    assert union["discriminator"] == {
        "propertyName": "type",
        "mapping": dict(zip(tags, refs, strict=True)),
    }
    for cls, tag in zip(frames, tags, strict=True):
        definition = document["$defs"][cls.__name__]
        assert definition["properties"]["type"] == {"enum": [tag]}
        assert "type" in definition["required"]


def test_error_codes_are_in_the_schema(document: dict[str, Any]) -> None:
    """Every ErrorCode is listed, so clients can switch on the codes from the schema alone."""
    assert set(document["$defs"]["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}


def as_json_values(value: Any) -> Any:
    """The JSON image of a decoded frame: MessagePack carries bytes as binary,
    JSON (which the schema describes) as base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: as_json_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_values(v) for v in value]
    return value


def test_client_samples_validate(document: dict[str, Any], codec: Codec, client_frame: Any) -> None:
    """A client frame, as encoded on the wire, is valid against the schema's client union."""
    wire = as_json_values(codec.decode_any(codec.encode(client_frame)))
    validator(document, "client").validate(wire)


def test_server_samples_validate(document: dict[str, Any], codec: Codec, server_frame: Any) -> None:
    """A server frame, as encoded on the wire, is valid against the schema's server union."""
    wire = as_json_values(codec.decode_any(codec.encode(server_frame)))
    validator(document, "server").validate(wire)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "make_coffee", "id": 1},
        {"type": "ping"},
        {"type": "ping", "id": 1.5},
        {"type": "set_status", "id": 1, "status": "busy"},
        {"type": "start_chat", "id": 1, "queue": "sales queue"},
        {"type": "start_chat", "id": 1, "queue": "sales", "text": "x" * 4097},
        {"type": "put_agent", "id": 1, "agent": {"username": "a", "skills": {"en": 11}}},
        {"type": "put_queue", "id": 1, "queue": {"id": "q", "offer_timeout": 0}},
    ],
)
def test_schema_refuses_what_the_codec_refuses(document: dict[str, Any], frame: Any) -> None:
    """Frames the server rejects as invalid are invalid against the schema too."""
    assert not validator(document, "client").is_valid(frame)


# --- the guide's examples ------------------------------------------------------------


def guide_frames() -> list[tuple[str, str]]:
    """(arrow, text) of each frame in the guide's conversations: ``→`` client, ``←`` server."""
    frames: list[tuple[str, str]] = []
    guide = schema.DOC_PATH.read_text(encoding="utf-8")
    for block in re.findall(r"```text\n(.*?)```", guide, re.S):
        for line in block.splitlines():
            if line.startswith(("→ ", "← ")):
                frames.append((line[0], line[2:]))
            elif frames:  # a frame continued on the next line
                frames[-1] = (frames[-1][0], frames[-1][1] + "\n" + line)
    return frames


GUIDE_FRAMES = guide_frames()


def test_guide_has_conversations() -> None:
    """The guide shows conversations in both directions."""
    arrows = [arrow for arrow, _ in GUIDE_FRAMES]
    assert arrows.count("→") >= 10
    assert arrows.count("←") >= 10


@pytest.mark.parametrize(
    ("arrow", "text"), GUIDE_FRAMES, ids=[f"{i}{a}" for i, (a, _) in enumerate(GUIDE_FRAMES)]
)
def test_guide_examples_are_true(document: dict[str, Any], arrow: str, text: str) -> None:
    """Each example frame in the guide is valid and written as the server would encode it."""
    if not text.startswith("{"):  # deliberately broken input
        with pytest.raises(FrameError):
            JSON.decode_client(text.encode())
        return
    example = json.loads(text)
    if arrow == "→":
        validator(document, "client").validate(example)
        frame = JSON.decode_client(text.encode())
    else:
        validator(document, "server").validate(example)
        frame = JSON.decode_server(text.encode())
    # Same fields, nothing left at a default, nothing unknown.
    assert JSON.decode_any(JSON.encode(frame)) == example


def test_guide_python_example_imports() -> None:
    """The guide's Python bot compiles and its imports resolve."""
    guide = schema.DOC_PATH.read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert code.rstrip().endswith("asyncio.run(main())")
    program = compile(code.rstrip().removesuffix("asyncio.run(main())"), "protocol.md", "exec")
    namespace: dict[str, Any] = {}
    exec(program, namespace)
    assert callable(namespace["main"])
