"""Both wire encodings: round trips, the error mapping of ``decode_client``, stable tags.

Every test that takes ``codec`` runs for JSON and for MessagePack (see conftest.py).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.auth import Login, LoginKey, Resume, Welcome
from protocol.base import tag_of
from protocol.calls import (
    AgentAnswered,
    CallbackQueued,
    CallbackRequest,
    CallDetail,
    CallFailed,
    CallList,
    CallPush,
    CallRinging,
    CallTransferred,
    CancelScheduledCall,
    Connect,
    CustomerAnswered,
    GetCall,
    GetJourney,
    Hangup,
    Journey,
    ListCalls,
    Originate,
    PlaceCallback,
    Play,
    RingAgent,
    ScheduleCall,
    Scheduled,
    SetCallResult,
    StartScheduledCall,
    StopRinging,
)
from protocol.cases import (
    AddCaseNote,
    AdviseCase,
    Articles,
    ArticleSaved,
    CaseAck,
    CaseChanged,
    CaseDetail,
    CaseList,
    CaseLookups,
    CaseReply,
    CreateCase,
    EscalateCase,
    GetCase,
    GetCaseLookups,
    ListCases,
    PutArticle,
    PutCaseQueue,
    PutMailTemplate,
    RateCase,
    SearchArticles,
    SetCaseStatus,
    TakeCase,
    UpdateCase,
)
from protocol.chats import (
    ChatHistory,
    ChatList,
    ChatTranscript,
    Contacts,
    DeleteTemplate,
    FileData,
    FindContacts,
    GetChat,
    GetFile,
    GetLookups,
    Identified,
    Identify,
    ListChats,
    Lookups,
    MessageSent,
    NewMessage,
    PutTemplate,
    SearchChats,
    SendFile,
    SendMessage,
    UpdateChat,
)
from protocol.codec import CODECS, JSON, MSGPACK, Codec, FrameError, codec_for
from protocol.common import Error, Ok, Ping, Pong
from protocol.errors import ErrorCode
from protocol.frames import CLIENT_FRAMES, SERVER_FRAMES
from protocol.routing import (
    Accept,
    AgentChanged,
    Decline,
    End,
    InteractionChanged,
    OfferClosed,
    Offered,
    SetStatus,
    WrapUpDone,
)
from protocol.sources import CallHangup, CallIncoming, Created, StartChat
from protocol.supervision import (
    ApiKeyCreated,
    ConfigSnapshot,
    CreateApiKey,
    Dashboard,
    DeleteAgent,
    DeleteApiKey,
    DeleteQueue,
    EndInteraction,
    GetConfig,
    ListWaiting,
    PutAgent,
    PutQueue,
    QueueFigures,
    Reassign,
    Reassigned,
    SetAgentStatus,
    Unwatch,
    WaitingList,
    Watch,
)
from protocol.version import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from protocol.views import Customer, InteractionView

# The wire names, spelled out: renaming a class must not change these.
CLIENT_TAGS = {
    Login: "login",
    LoginKey: "login_key",
    Resume: "resume",
    Ping: "ping",
    SetStatus: "set_status",
    Accept: "accept",
    Decline: "decline",
    End: "end",
    WrapUpDone: "wrap_up_done",
    StartChat: "start_chat",
    CallIncoming: "call_incoming",
    CallHangup: "call_hangup",
    Watch: "watch",
    Unwatch: "unwatch",
    SetAgentStatus: "set_agent_status",
    EndInteraction: "end_interaction",
    Reassign: "reassign",
    ListWaiting: "list_waiting",
    GetConfig: "get_config",
    PutQueue: "put_queue",
    DeleteQueue: "delete_queue",
    PutAgent: "put_agent",
    DeleteAgent: "delete_agent",
    CreateApiKey: "create_api_key",
    DeleteApiKey: "delete_api_key",
    SendMessage: "send_message",
    SendFile: "send_file",
    GetFile: "get_file",
    GetChat: "get_chat",
    UpdateChat: "update_chat",
    ListChats: "list_chats",
    SearchChats: "search_chats",
    Identify: "identify",
    FindContacts: "find_contacts",
    GetLookups: "get_lookups",
    PutTemplate: "put_template",
    DeleteTemplate: "delete_template",
    CallRinging: "call_ringing",
    AgentAnswered: "agent_answered",
    CustomerAnswered: "customer_answered",
    CallTransferred: "call_transferred",
    CallFailed: "call_failed",
    CallbackRequest: "callback_request",
    PlaceCallback: "place_callback",
    ScheduleCall: "schedule_call",
    CancelScheduledCall: "cancel_scheduled_call",
    StartScheduledCall: "start_scheduled_call",
    SetCallResult: "set_call_result",
    GetCall: "get_call",
    ListCalls: "list_calls",
    GetJourney: "get_journey",
    CreateCase: "create_case",
    GetCase: "get_case",
    ListCases: "list_cases",
    UpdateCase: "update_case",
    TakeCase: "take_case",
    SetCaseStatus: "set_case_status",
    EscalateCase: "escalate_case",
    AdviseCase: "advise_case",
    AddCaseNote: "add_case_note",
    CaseReply: "case_reply",
    RateCase: "rate_case",
    PutArticle: "put_article",
    SearchArticles: "search_articles",
    GetCaseLookups: "get_case_lookups",
    PutCaseQueue: "put_case_queue",
    PutMailTemplate: "put_mail_template",
}
SERVER_TAGS = {
    Welcome: "welcome",
    Ok: "ok",
    Error: "error",
    Pong: "pong",
    Created: "created",
    Dashboard: "dashboard",
    ConfigSnapshot: "config",
    ApiKeyCreated: "api_key_created",
    Offered: "offer",
    OfferClosed: "offer_closed",
    AgentChanged: "agent_state",
    InteractionChanged: "interaction",
    QueueFigures: "queue_stats",
    Reassigned: "reassigned",
    WaitingList: "waiting",
    MessageSent: "message_sent",
    NewMessage: "message",
    FileData: "file_data",
    ChatTranscript: "chat",
    ChatList: "chat_list",
    ChatHistory: "chat_history",
    Identified: "identified",
    Contacts: "contacts",
    Lookups: "lookups",
    CallbackQueued: "callback_queued",
    Scheduled: "scheduled",
    CallDetail: "call",
    CallList: "call_list",
    Journey: "journey",
    CallPush: "call_state",
    RingAgent: "ring_agent",
    StopRinging: "stop_ringing",
    Connect: "connect",
    Play: "play",
    Originate: "originate",
    Hangup: "hangup",
    CaseDetail: "case",
    CaseList: "case_list",
    CaseAck: "case_ack",
    CaseChanged: "case_changed",
    ArticleSaved: "article",
    Articles: "articles",
    CaseLookups: "case_lookups",
}
TAGS = {**CLIENT_TAGS, **SERVER_TAGS}

UNICODE = "Привет 👋 — ça va? 你好 مرحبا 👨‍👩‍👧 e\u0301"


def reject(codec: Codec, frame: Any) -> FrameError:
    """Decode ``frame`` (an object to encode, or raw bytes) expecting a FrameError."""
    data = frame if isinstance(frame, bytes) else codec.encode(frame)
    with pytest.raises(FrameError) as info:
        codec.decode_client(data)
    return info.value


# --- round trips ---------------------------------------------------------------


def test_every_frame_type_has_one_sample(samples: dict[str, tuple[Any, ...]]) -> None:
    """The samples cover each client and server frame type exactly once."""
    assert [type(s) for s in samples["client"]] == list(CLIENT_FRAMES)
    assert [type(s) for s in samples["server"]] == list(SERVER_FRAMES)


def test_client_frame_round_trip(codec: Codec, client_frame: Any) -> None:
    """A client frame decodes with decode_client to an equal struct of the same type."""
    decoded = codec.decode_client(codec.encode(client_frame))
    assert type(decoded) is type(client_frame)
    assert decoded == client_frame


def test_server_frame_round_trip(codec: Codec, server_frame: Any) -> None:
    """A server frame decodes with decode_server to an equal struct of the same type."""
    decoded = codec.decode_server(codec.encode(server_frame))
    assert type(decoded) is type(server_frame)
    assert decoded == server_frame


def test_codec_frame_kind(codec: Codec) -> None:
    """JSON is sent as text frames of UTF-8 and MessagePack as binary frames."""
    data = codec.encode(Ping(id=1))
    if codec is JSON:
        assert codec.text
        assert msgspec.json.decode(data.decode("utf-8")) == {"type": "ping", "id": 1}
    else:
        assert not codec.text
        assert msgspec.msgpack.decode(data) == {"type": "ping", "id": 1}


@pytest.mark.parametrize(
    ("subprotocol", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("switchboard.v2.msgpack", JSON),
        ("graphql-ws", JSON),
        (JSON_SUBPROTOCOL, JSON),
        (MSGPACK_SUBPROTOCOL, MSGPACK),
    ],
)
def test_codec_for(subprotocol: str | None, expected: Codec) -> None:
    """No subprotocol or an unknown one gives JSON; each known one gives its codec."""
    assert codec_for(subprotocol) is expected


def test_codecs_registry() -> None:
    """CODECS maps exactly the two subprotocols to their codecs."""
    assert CODECS == {JSON_SUBPROTOCOL: JSON, MSGPACK_SUBPROTOCOL: MSGPACK}


# --- error mapping of decode_client -------------------------------------------------


def test_malformed_bytes(codec: Codec) -> None:
    """Bytes that are not JSON / MessagePack are "malformed" with no request id."""
    whole = codec.encode({"type": "ping", "id": 1})
    garbage = {JSON: [b"{", b"\xff\xfe\x00", b"ping", whole + b"}"], MSGPACK: [b"\xc1"]}
    for data in [whole[:-1], b"", *garbage[codec]]:
        err = reject(codec, data)
        assert (err.code, err.request_id) == (ErrorCode.MALFORMED, None), data


@pytest.mark.parametrize("value", [[], [{"type": "ping", "id": 1}], "ping", 42, 1.5, None, True])
def test_not_an_object(codec: Codec, value: Any) -> None:
    """A frame that is valid data but not an object is "malformed"."""
    err = reject(codec, value)
    assert (err.code, err.request_id) == (ErrorCode.MALFORMED, None)


@pytest.mark.parametrize(
    ("frame", "request_id"),
    [
        ({}, None),
        ({"id": 5}, 5),
        ({"id": "r-1", "username": "alice"}, "r-1"),
        ({"type": 7, "id": "r-2"}, "r-2"),
        ({"type": None, "id": 3}, 3),
        ({"type": ["ping"], "id": 4}, 4),
        ({"type": {"name": "ping"}}, None),
    ],
)
def test_missing_or_non_string_type(codec: Codec, frame: Any, request_id: Any) -> None:
    """An object without a string ``type`` is "malformed" but keeps its id when it has one."""
    err = reject(codec, frame)
    assert (err.code, err.request_id) == (ErrorCode.MALFORMED, request_id)


@pytest.mark.parametrize(
    ("frame", "request_id"),
    [
        ({"type": "make_coffee", "id": "r-7"}, "r-7"),
        ({"type": "Ping", "id": 8}, 8),
        ({"type": "welcome", "id": 9, "protocol": "1.0"}, 9),  # a server frame
        ({"type": "", "id": 10}, 10),
        ({"type": "nope"}, None),
    ],
)
def test_unknown_type(codec: Codec, frame: Any, request_id: Any) -> None:
    """A string ``type`` that is no client frame is "unknown_type" with the id kept."""
    err = reject(codec, frame)
    assert (err.code, err.request_id) == (ErrorCode.UNKNOWN_TYPE, request_id)
    assert repr(frame["type"]) in err.message


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "accept", "id": 9},
        {"type": "accept", "id": 9, "offer": 5},
        {"type": "login", "id": 9, "username": "alice"},
        {"type": "set_status", "id": 9, "status": "busy"},
        {"type": "set_status", "id": 9, "status": "not_ready", "reason": None},
        {"type": "start_chat", "id": 9, "queue": "sales", "customer": "bob"},
        {"type": "start_chat", "id": 9, "queue": "sales", "customer": {"name": 12}},
        {"type": "resume", "id": 9, "token": "t", "last_seq": "17"},
        {"type": "put_queue", "id": 9, "queue": {"id": "q", "channel": "fax"}},
        {"type": "put_queue", "id": 9, "queue": {"id": "q", "strategy": "random"}},
        {"type": "create_api_key", "id": 9, "key": {"id": "k", "role": "admin"}},
        {"type": "put_agent", "id": 9, "agent": {"username": "a", "channels": "chat"}},
    ],
)
def test_invalid_fields(codec: Codec, frame: Any) -> None:
    """A known frame with a missing or wrongly typed field is "invalid" with the id kept."""
    err = reject(codec, frame)
    assert (err.code, err.request_id) == (ErrorCode.INVALID, 9)
    assert repr(frame["type"]) in err.message


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping"},
        {"type": "ping", "id": None},
        {"type": "ping", "id": True},
        {"type": "ping", "id": 1.5},
        {"type": "ping", "id": [1]},
    ],
)
def test_invalid_request_id(codec: Codec, frame: Any) -> None:
    """A missing or non int/string ``id`` is "invalid" and the error names no id."""
    err = reject(codec, frame)
    assert (err.code, err.request_id) == (ErrorCode.INVALID, None)


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ({"type": "put_agent", "id": 9, "agent": {"username": "a", "skills": {"en": 11}}}, "en"),
        ({"type": "put_agent", "id": 9, "agent": {"username": "a", "skills": {"en": 0}}}, "en"),
        ({"type": "put_agent", "id": 9, "agent": {"username": "a b"}}, "username"),
        ({"type": "put_agent", "id": 9, "agent": {"username": "a"}, "password": "short"}, "pass"),
        ({"type": "put_agent", "id": 9, "agent": {"username": "a", "inboxes": ["x y"]}}, "inbox"),
        ({"type": "start_chat", "id": 9, "queue": "sales queue"}, "queue"),
        ({"type": "start_chat", "id": 9, "queue": ""}, "queue"),
        ({"type": "start_chat", "id": 9, "queue": "q" * 65}, "queue"),
        ({"type": "start_chat", "id": 9, "queue": "sales", "text": "x" * 4097}, "text"),
        ({"type": "delete_queue", "id": 9, "queue": "a/b"}, "queue"),
        ({"type": "login", "id": 9, "username": "u" * 65, "password": "p"}, "username"),
        ({"type": "set_status", "id": 9, "status": "not_ready", "reason": "r" * 65}, "reason"),
        ({"type": "call_incoming", "id": 9, "call_id": "", "caller": "+1555"}, "call_id"),
        ({"type": "put_queue", "id": 9, "queue": {"id": "q", "offer_timeout": 0}}, "offer"),
        ({"type": "put_queue", "id": 9, "queue": {"id": "q", "priority": 101}}, "priority"),
        ({"type": "put_queue", "id": 9, "queue": {"id": "q", "wrap_up": -1}}, "wrap_up"),
    ],
)
def test_constraint_violations(codec: Codec, frame: Any, path: str) -> None:
    """Values outside a field's constraints are "invalid", the id kept, the field named."""
    err = reject(codec, frame)
    assert (err.code, err.request_id) == (ErrorCode.INVALID, 9)
    assert path in err.message


def test_constraint_limits_are_inclusive(codec: Codec) -> None:
    """Values exactly at a constraint's limits are accepted."""
    agent = {"username": "a" * 64, "skills": {"low": 1, "high": 10}}
    frames = [
        {"type": "put_agent", "id": 1, "agent": agent, "password": "12345678"},
        {"type": "start_chat", "id": 2, "queue": "Q_1.a@b-c", "text": "x" * 4096},
        {"type": "put_queue", "id": 3, "queue": {"id": "q", "offer_timeout": 600, "wrap_up": 0}},
    ]
    for frame in frames:
        assert tag_of(type(codec.decode_client(codec.encode(frame)))) == frame["type"]


def test_deeply_nested_input(codec: Codec) -> None:
    """Input nested past the recursion limit is "malformed", not a RecursionError."""
    depth = 5000
    # JSON: [[[...]]]; MessagePack: arrays of one element, down to an empty one.
    deep = b"[" * depth + b"]" * depth if codec is JSON else b"\x91" * depth + b"\x90"
    empty = codec.encode([])
    for container in ([], {"type": "ping", "id": 1, "x": []}, {"type": "nope", "id": []}):
        err = reject(codec, codec.encode(container).replace(empty, deep, 1))
        assert (err.code, err.request_id) == (ErrorCode.MALFORMED, None)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8)
    scalars |= st.floats(allow_nan=False, allow_infinity=False)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


_FIELDS = ["id", "offer", "status", "reason", "queue", "customer", "token", "last_seq", "agent"]
_FRAMEISH = st.fixed_dictionaries(
    {"type": st.sampled_from([*CLIENT_TAGS.values(), "welcome", "nope"]) | _json_values()},
    optional={
        **{name: _json_values() for name in _FIELDS},
        "id": st.integers(-5, 5) | st.text(max_size=4) | _json_values(),
        "status": st.sampled_from(["ready", "not_ready", "offline", "busy"]),
    },
)


def _check_contract(codec: Codec, data: bytes) -> None:
    try:
        frame = codec.decode_client(data)
    except FrameError as err:
        assert err.code in {ErrorCode.MALFORMED, ErrorCode.UNKNOWN_TYPE, ErrorCode.INVALID}
        assert err.request_id is None or type(err.request_id) in (int, str)
        assert err.message
    else:
        assert type(frame) in CLIENT_FRAMES


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=_FRAMEISH | _json_values())
def test_any_value_gives_a_frame_or_frame_error(codec: Codec, value: Any) -> None:
    """Any encodable value decodes to a client frame or raises FrameError, nothing else."""
    _check_contract(codec, codec.encode(value))


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=64))
def test_any_bytes_give_a_frame_or_frame_error(codec: Codec, data: bytes) -> None:
    """Arbitrary bytes decode to a client frame or raise FrameError, nothing else."""
    _check_contract(codec, data)


# --- content ---------------------------------------------------------------------


def test_unicode_survives(codec: Codec) -> None:
    """Non-ASCII text and emoji (ZWJ sequences, combining marks) round-trip unchanged."""
    frame = StartChat(
        id="ü-1",
        queue="sales",
        customer=Customer(name="Zoë 李 👩‍💻", external_id="wa:Ωmega"),
        text=UNICODE,
        welcome="¡Hola! 🤖",
    )
    decoded = codec.decode_client(codec.encode(frame))
    assert decoded == frame
    assert decoded.text == UNICODE
    assert UNICODE.encode("utf-8") in codec.encode(frame)  # raw UTF-8, not escapes


def test_length_limits_count_characters(codec: Codec) -> None:
    """``max_length`` counts characters, so 4096 emoji (16 KiB of UTF-8) is a valid text."""
    text = "👋" * 4096
    frame = codec.decode_client(codec.encode(StartChat(id=1, queue="sales", text=text)))
    assert frame.text == text
    err = reject(codec, {"type": "start_chat", "id": 1, "queue": "sales", "text": text + "👋"})
    assert err.code == ErrorCode.INVALID


# --- stable tags ---------------------------------------------------------------------


def test_tags_are_stable() -> None:
    """Every frame class has exactly the wire tag listed here, and no frame is unlisted."""
    assert {cls: tag_of(cls) for cls in CLIENT_FRAMES} == CLIENT_TAGS
    assert {cls: tag_of(cls) for cls in SERVER_FRAMES} == SERVER_TAGS
    assert len(set(CLIENT_TAGS.values())) == len(CLIENT_TAGS)
    assert len(set(SERVER_TAGS.values())) == len(SERVER_TAGS)


def test_encoded_client_tag(codec: Codec, client_frame: Any) -> None:
    """An encoded client frame carries its listed tag in ``type``."""
    assert codec.decode_any(codec.encode(client_frame))["type"] == TAGS[type(client_frame)]


def test_encoded_server_tag(codec: Codec, server_frame: Any) -> None:
    """An encoded server frame carries its listed tag in ``type``."""
    assert codec.decode_any(codec.encode(server_frame))["type"] == TAGS[type(server_frame)]


# --- small frames and schema evolution ------------------------------------------------


def test_omit_defaults_keeps_frames_small(codec: Codec) -> None:
    """Fields left at their defaults are not encoded at all."""
    chat = InteractionView(id="ch-1", channel="chat", queue="sales", status="waiting", created_at=1)

    def wire(frame: Any) -> dict[str, Any]:
        return codec.decode_any(codec.encode(frame))

    assert wire(SetStatus(id=1, status="ready")) == {
        "type": "set_status",
        "id": 1,
        "status": "ready",
    }
    assert wire(StartChat(id=2, queue="sales")) == {"type": "start_chat", "id": 2, "queue": "sales"}
    assert wire(InteractionChanged(seq=3, interaction=chat)) == {
        "type": "interaction",
        "seq": 3,
        "interaction": {
            "id": "ch-1",
            "channel": "chat",
            "queue": "sales",
            "status": "waiting",
            "created_at": 1,
        },
    }
    # An error about unreadable input has no id: the key is absent, not null.
    assert wire(Error(code=ErrorCode.MALFORMED, message="bad")) == {
        "type": "error",
        "code": "malformed",
        "message": "bad",
    }
    welcome = Welcome(id=1, protocol="1.0", server="s", role="bot", principal="tg-bot")
    assert set(wire(welcome)) == {"type", "id", "protocol", "server", "role", "principal"}


def test_missing_defaults_are_filled_in(codec: Codec) -> None:
    """A frame without its optional fields decodes with their default values."""
    frame = codec.decode_client(codec.encode({"type": "put_queue", "id": 1, "queue": {"id": "q"}}))
    assert frame.queue.channel == "chat"
    assert frame.queue.strategy == "longest_idle"
    assert frame.queue.offer_timeout == 20.0
    assert frame.queue.skills == {}


def test_unknown_fields_are_ignored(codec: Codec) -> None:
    """Fields this server does not know (from newer clients) are ignored, not refused."""
    frame = codec.decode_client(
        codec.encode({"type": "set_status", "id": 1, "status": "ready", "trace_id": "abc"})
    )
    assert frame == SetStatus(id=1, status="ready")
