"""The JSON Schema of every frame, generated from the structs.

The structs are the truth; ``protocol/schema.json`` is their machine-readable
image for people and tools outside Python (the browser client, bot authors,
code generators). It is committed so that a change of the wire shows up in a
diff, shipped as package data, and served by the server at ``/schema.json``.
The "Frames" reference of ``docs/protocol.md`` is generated from the same
document.

    python -m protocol.schema           # rewrite schema.json (and the docs reference)
    python -m protocol.schema --check   # exit 1 if either is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from protocol.base import Push, Reply, Request, tag_of
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import CLIENT_FRAMES, SERVER_FRAMES, ClientFrame, ServerFrame
from protocol.version import PROTOCOL_VERSION, SUBPROTOCOLS

SCHEMA_PATH = Path(__file__).with_name("schema.json")
#: Exists in a source checkout only; an installed package has no docs.
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF_TEMPLATE = "#/$defs/{name}"
REGENERATE = "python -m protocol.schema"

DOC_BEGIN = f"<!-- BEGIN GENERATED FRAMES REFERENCE: edit protocol/, then run `{REGENERATE}` -->"
DOC_END = "<!-- END GENERATED FRAMES REFERENCE -->"


def build_schema() -> dict[str, Any]:
    """The schema document: header, the client and server unions, and ``$defs``."""
    (client, server), defs = msgspec.json.schema_components(
        (ClientFrame, ServerFrame), ref_template=REF_TEMPLATE
    )
    return {
        "$schema": DIALECT,
        "title": "Switchboard wire protocol",
        "description": (
            "Every frame is an object tagged by `type`. `client` lists what clients "
            "send, `server` what the server sends. Both encodings (JSON and "
            "MessagePack) carry the same objects."
        ),
        "version": PROTOCOL_VERSION,
        "subprotocols": list(SUBPROTOCOLS),
        "client": _one_of(client),
        "server": _one_of(server),
        "$defs": {
            **defs,
            # `error.code` is a plain string on the wire (so new codes never break
            # old clients); the codes a client can switch on are listed here.
            "ErrorCode": {
                "title": "ErrorCode",
                "description": "The stable codes of `error.code` (see docs/protocol.md).",
                "type": "string",
                "enum": [code.value for code in ErrorCode],
            },
            "CloseCode": {
                "title": "CloseCode",
                "description": "Websocket close codes the server uses.",
                "type": "integer",
                "enum": [code.value for code in CloseCode],
            },
        },
    }


def _one_of(union: dict[str, Any]) -> dict[str, Any]:
    # msgspec says anyOf; the tags make the members mutually exclusive, so
    # oneOf is equally true and tells readers exactly one frame matches.
    # The OpenAPI-style discriminator (tag -> $ref) is kept for code generators;
    # JSON Schema validators ignore it.
    rest = {k: v for k, v in union.items() if k != "anyOf"}
    return {"oneOf": union["anyOf"], **rest}


def render_schema(doc: dict[str, Any]) -> str:
    """Serialize deterministically: sorted keys, two-space indent, final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_schema_text() -> str:
    """The shipped ``schema.json`` (works from a checkout and an installed package)."""
    return resources.files("protocol").joinpath("schema.json").read_text(encoding="utf-8")


# --- the Markdown reference -------------------------------------------------


def render_reference(doc: dict[str, Any]) -> str:
    """The "Frames" reference of ``docs/protocol.md``: each frame and record with its fields."""
    defs = doc["$defs"]
    frame_names = {cls.__name__ for cls in (*CLIENT_FRAMES, *SERVER_FRAMES)}
    out = [
        DOC_BEGIN,
        "",
        "Generated from `protocol/schema.json`; the tables list every field. A field",
        "with a default may be left out, and the server leaves it out when it has its",
        "default value.",
        "",
        "### Client frames",
        "",
    ]
    for cls in CLIENT_FRAMES:
        out += _frame_section(cls, defs)
    out += ["### Server frames", ""]
    for cls in SERVER_FRAMES:
        out += _frame_section(cls, defs)
    out += ["### Records and enumerations", ""]
    out += ["Plain objects (no `type`) nested inside frames.", ""]
    for name in sorted(n for n in defs if n not in frame_names):
        out += _record_section(name, defs[name])
    out.append(DOC_END)
    return "\n".join(out) + "\n"


def _frame_section(cls: type, defs: dict[str, Any]) -> list[str]:
    schema = defs[cls.__name__]
    tag = tag_of(cls)
    if issubclass(cls, Request):
        kind = "request: answered by exactly one reply with the same `id`"
    elif issubclass(cls, Reply):
        kind = "reply to the request with the same `id`"
    elif issubclass(cls, Push):
        kind = "push: carries `seq`, no `id`"
    else:
        kind = "reply (an error), `id` absent when the request could not be read"
    lines = [f"#### `{tag}`", "", f"*{cls.__name__}*, {kind}.", ""]
    if description := schema.get("description"):
        lines += [_one_line(description), ""]
    return lines + _field_table(schema, skip=("type",))


def _record_section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"#### {name}", ""]
    if description := schema.get("description"):
        lines += [_one_line(description), ""]
    if "enum" in schema:
        return [*lines, "One of: " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
    return lines + _field_table(schema, skip=())


def _field_table(schema: dict[str, Any], skip: Sequence[str]) -> list[str]:
    fields = [(k, v) for k, v in schema.get("properties", {}).items() if k not in skip]
    if not fields:
        return ["No other fields.", ""]
    required = set(schema.get("required", ()))
    lines = ["| field | type | required / default |", "|---|---|---|"]
    for field, sub in fields:
        if field in required:
            presence = "required"
        elif "default" in sub:
            presence = f"default `{json.dumps(sub['default'])}`"
        else:
            presence = "optional"
        lines.append(f"| `{field}` | {_escape(_type(sub))} | {presence} |")
    return [*lines, ""]


def _type(schema: dict[str, Any]) -> str:
    """A short human description of a schema fragment (type and constraints)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        keys = _type({"type": "string", **schema.get("propertyNames", {})})
        return f"object: {keys} → {_type(schema['additionalProperties'])}"
    limits = _limits(schema)
    return f"{kind} ({limits})" if limits else kind


def _limits(schema: dict[str, Any]) -> str:
    parts = []
    if "pattern" in schema:
        parts.append(f"matches `{schema['pattern']}`")
    if "minLength" in schema:
        parts.append(f"at least {schema['minLength']} chars")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} chars")
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in schema:
            parts.append(f"{sign} {schema[key]}")
    return ", ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def splice_reference(doc_text: str, reference: str) -> str:
    """Replace the generated section of the guide (markers included) by ``reference``."""
    start = doc_text.find(DOC_BEGIN)
    end = doc_text.find(DOC_END)
    if start < 0 or end < start:
        raise ValueError(f"the guide lacks the markers {DOC_BEGIN!r} ... {DOC_END!r}")
    after = doc_text[end + len(DOC_END) :]
    return doc_text[:start] + reference.rstrip("\n") + after


# --- command line --------------------------------------------------------------


def stale_files(schema_path: Path = SCHEMA_PATH, doc_path: Path | None = DOC_PATH) -> list[Path]:
    """The generated files whose content differs from what the structs produce."""
    doc = build_schema()
    stale = []
    if _read(schema_path) != render_schema(doc):
        stale.append(schema_path)
    if doc_path is not None and doc_path.exists():
        current = _read(doc_path) or ""
        if splice_reference(current, render_reference(doc)) != current:
            stale.append(doc_path)
    return stale


def write_files(schema_path: Path = SCHEMA_PATH, doc_path: Path | None = DOC_PATH) -> list[Path]:
    """Regenerate the schema (and the guide's reference if present); return what changed."""
    doc = build_schema()
    changed = []
    if _write(schema_path, render_schema(doc)):
        changed.append(schema_path)
    if doc_path is not None and doc_path.exists():
        guide = splice_reference(_read(doc_path) or "", render_reference(doc))
        if _write(doc_path, guide):
            changed.append(doc_path)
    return changed


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write(path: Path, text: str) -> bool:
    # Untouched when unchanged, so the file's mtime means something.
    if _read(path) == text:
        return False
    path.write_text(text, encoding="utf-8", newline="\n")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m protocol.schema",
        description="Generate protocol/schema.json (and the frames reference of "
        "docs/protocol.md) from the protocol structs.",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(SCHEMA_PATH, DOC_PATH)
        for path in stale:
            print(f"{path} is stale: run `{REGENERATE}` and commit the result", file=sys.stderr)
        return 1 if stale else 0
    for path in write_files(SCHEMA_PATH, DOC_PATH):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
