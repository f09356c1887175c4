"""Shared by the protocol tests: the ``codec`` fixture and one sample of every frame.

Every test that takes ``codec`` runs once for JSON and once for MessagePack.
Tests that take ``client_frame`` or ``server_frame`` run once per sample below.
"""

from __future__ import annotations

import msgspec
import pytest

from protocol.auth import Login, LoginKey, OfferView, Resume, Welcome
from protocol.base import tag_of
from protocol.calls import (
    AgentAnswered,
    CallbackQueued,
    CallbackRequest,
    CallDetail,
    CallFailed,
    CallList,
    CallPush,
    CallRecord,
    CallRinging,
    CallSummary,
    CallTransferred,
    CancelScheduledCall,
    Connect,
    CustomerAnswered,
    GetCall,
    GetJourney,
    Hangup,
    Journey,
    JourneyEntry,
    JourneyStep,
    ListCalls,
    Originate,
    PlaceCallback,
    Play,
    RingAgent,
    ScheduleCall,
    Scheduled,
    ScheduledCallView,
    SetCallResult,
    StartScheduledCall,
    StopRinging,
)
from protocol.cases import (
    AddCaseNote,
    AdviseCase,
    Articles,
    ArticleSaved,
    ArticleView,
    CaseAck,
    CaseChanged,
    CaseDetail,
    CaseEvent,
    CaseList,
    CaseLookups,
    CaseQueueConfig,
    CaseReply,
    CaseView,
    CreateCase,
    EscalateCase,
    GetCase,
    GetCaseLookups,
    ListCases,
    MailTemplate,
    PutArticle,
    PutCaseQueue,
    PutMailTemplate,
    RateCase,
    SatisfactionLevel,
    SearchArticles,
    SetCaseStatus,
    StatusInfo,
    TakeCase,
    UpdateCase,
)
from protocol.chats import (
    ChatHistory,
    ChatList,
    ChatRecord,
    ChatTranscript,
    Contacts,
    ContactView,
    DeleteTemplate,
    FileData,
    FileView,
    FindContacts,
    GetChat,
    GetFile,
    GetLookups,
    Identified,
    Identify,
    ListChats,
    Lookups,
    MessageSent,
    MessageView,
    NewContact,
    NewMessage,
    PutTemplate,
    ResultOption,
    SearchChats,
    SendFile,
    SendMessage,
    Template,
    UpdateChat,
)
from protocol.codec import JSON, MSGPACK, Codec
from protocol.common import Error, Ok, Ping, Pong
from protocol.config import AgentConfig, ApiKeyConfig, Device, QueueConfig
from protocol.errors import ErrorCode
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
    WaitingInteraction,
    WaitingList,
    Watch,
)
from protocol.views import AgentView, Customer, InteractionView, QueueStats

NOW = 1_718_000_000.25

CUSTOMER = Customer(
    name="Zoë Ångström", phone="+442071838750", email="zoe@example.org", external_id="tg:48151623"
)
CHAT = InteractionView(
    id="ch-000042",
    channel="chat",
    queue="sales",
    status="waiting",
    customer=CUSTOMER,
    source="telegram",
    created_at=NOW,
)
CALL = InteractionView(
    id="ca-000007",
    channel="call",
    queue="support",
    status="assigned",
    customer=Customer(phone="+15551234567"),
    created_at=NOW - 30.5,
    agent="alice",
    accepted_at=NOW - 12.0,
)
ENDED = msgspec.structs.replace(
    CHAT,
    status="ended",
    agent="alice",
    accepted_at=NOW + 3.5,
    ended_at=NOW + 95.0,
    end_reason="agent",
)
ALICE = AgentView(
    username="alice",
    display_name="Alice Martín",
    status="ready",
    state="busy",
    connected=True,
    since=NOW,
    interaction=CALL.id,
)
BOB = AgentView(
    username="bob", status="not_ready", reason="lunch", state="idle", connected=False, since=NOW
)
SALES = QueueConfig(
    id="sales",
    name="Sales (EN)",
    channel="chat",
    skills={"english": 5, "sales": 3},
    strategy="skill_level",
    offer_timeout=15.0,
    wrap_up=30.0,
    max_wait=600.0,
    overflow="sales-backup",
    priority=10,
)
ALICE_CONFIG = AgentConfig(
    username="alice",
    display_name="Alice Martín",
    skills={"english": 8, "sales": 4},
    channels=["chat", "call"],
    extension="2101",
    devices=[Device(id="softphone", label="Browser", address="sip:2101@pbx.example.org")],
    inboxes=["sales", "support"],
)
TELEGRAM_KEY = ApiKeyConfig(
    id="tg-bot", role="bot", name="Telegram bridge", source="telegram", queues=["sales"]
)
QUEUE_STATS = QueueStats(
    queue="sales", waiting=3, oldest_wait=42.5, offered=1, active=7, ready_agents=2
)

#: One realistic instance of every client frame, in the order of ``CLIENT_FRAMES``.
PNG = FileView(
    id="f-1",
    name="receipt.png",
    mime="image/png",
    size=4,
    preview=True,
    url="/files/f-1?exp=1&sig=x",
)
MESSAGE = MessageView(
    id="m-1",
    interaction="ch-000042",
    n=3,
    author="agent",
    by="alice",
    text="Yes, it is in stock 🙂",
    client_id="web-7",
    template="in-stock",
    sent_at=NOW,
)
WITH_FILE = msgspec.structs.replace(MESSAGE, id="m-2", n=4, file=PNG, text="")
DANA = ContactView(
    id="c-1", name="Dana Customer", phones=["+15551234567"], emails=["dana@example.com"]
)
RECORD = ChatRecord(
    interaction=CHAT,
    state="in_progress",
    name="Blue one in stock?",
    contact=DANA,
    agents=["alice"],
    result="information",
    result_details="Told her the blue one ships Monday",
    notes="Prefers email",
    files=[PNG],
    messages=4,
)
TEMPLATE = Template(id="in-stock", name="In stock", text="Yes, it is in stock.")
SERVICE = CaseQueueConfig(
    id="service", name="Service desk", response_hours=4, resolution_hours=24, take="next",
    members=["alice", "bob"],
)  # fmt: skip
CASE = CaseView(
    number="SR00000042",
    subject="Blue jacket arrived torn",
    description="Order 48151623",
    contact="c-1",
    contact_name="Dana Smith",
    account="co-acme",
    account_name="Acme",
    email="dana@example.com",
    queue="service",
    priority="high",
    status="in_progress",
    assignee="alice",
    created_at=NOW,
    created_by="alice",
    updated_at=NOW + 60,
    response_due=NOW + 4 * 3600,
    resolution_due=NOW + 24 * 3600,
    responded_at=NOW + 60,
    interactions=["ch-000042"],
    articles=["kb-1"],
    workable=True,
)
ARTICLE = ArticleView(
    id="kb-1", title="Returns of damaged goods", body="Send a photo, we ship a new one.",
    tags=["returns"], created_at=NOW, created_by="alice", updated_at=NOW,
)  # fmt: skip
MAIL_TEMPLATE = MailTemplate(
    id="case_canceled", subject="[$number] Canceled: $subject", body="Your request is canceled."
)

CLIENT_SAMPLES: tuple[msgspec.Struct, ...] = (
    Login(id=1, username="alice", password="correct horse battery staple"),
    LoginKey(id="k1", api_key="sbk_tg-bot_Zr1pQ9xY4w"),
    Resume(id=2, token="st_8f14e45fceea167a5a36dedd4bea2543", last_seq=17),
    Ping(id=3),
    SetStatus(id=4, status="not_ready", reason="lunch"),
    Accept(id=5, offer="of-000101"),
    Decline(id=6, offer="of-000102"),
    End(id=7, interaction="ch-000042", reason="resolved"),
    WrapUpDone(id=8),
    StartChat(
        id="c-9",
        queue="sales",
        customer=CUSTOMER,
        text="Hi! Is the blue one in stock? 👋",
        welcome="Hello, an agent will be with you shortly.",
    ),
    CallIncoming(id=10, call_id="pbx-1718000000.42", caller="+15551234567", dialed="+18005550100"),
    CallHangup(id=11, call_id="pbx-1718000000.42", cause="user_busy"),
    Watch(id=12),
    Unwatch(id=13),
    SetAgentStatus(id=14, agent="bob", status="ready"),
    EndInteraction(id=14, interaction="ch-000042", reason="spam"),
    Reassign(id=14, interaction="ch-000042", agent="bob"),
    ListWaiting(id=14, queue="sales"),
    GetConfig(id=15),
    PutQueue(id=16, queue=SALES),
    DeleteQueue(id=17, queue="old-queue"),
    PutAgent(id=18, agent=ALICE_CONFIG, password="s3cret-enough"),
    DeleteAgent(id=19, username="carol"),
    CreateApiKey(id=20, key=TELEGRAM_KEY),
    DeleteApiKey(id=21, key_id="tg-bot"),
    SendMessage(id=22, interaction="ch-000042", text="Hello 👋", client_id="web-7"),
    SendFile(
        id=23,
        interaction="ch-000042",
        name="receipt.png",
        mime="image/png",
        data=b"\x89PNG",
        client_id="web-8",
    ),
    GetFile(id=24, file="f-1"),
    GetChat(id=25, interaction="ch-000042"),
    UpdateChat(id=26, interaction="ch-000042", result="information", notes="Prefers email"),
    ListChats(id=27),
    SearchChats(id=28, queue="sales", state="completed", since=NOW - 86_400),
    Identify(
        id=29, interaction="ch-000042", new_contact=NewContact(name="Dana", phone="+1 555 123")
    ),
    FindContacts(id=30, query="dana"),
    GetLookups(id=31),
    PutTemplate(id=32, template=TEMPLATE),
    DeleteTemplate(id=33, template="old-template"),
    CallRinging(id=34, call_id="pbx-42", device="alice-soft"),
    AgentAnswered(id=35, call_id="pbx-42", device="alice-soft"),
    CustomerAnswered(id=36, call_id="out-7"),
    CallTransferred(id=37, call_id="pbx-42", target="ext-102"),
    CallFailed(id=38, call_id="out-7", cause="user_busy"),
    CallbackRequest(id=39, number="+15551234567", queue="calls", requested_at=NOW - 60),
    PlaceCallback(
        id=40, interaction="ch-000042", number="+15551234567", device="alice-soft", verified=True
    ),
    ScheduleCall(id=41, number="+15551234567", at=NOW + 3600, device="alice-soft"),
    CancelScheduledCall(id=42, scheduled="s-1"),
    StartScheduledCall(id=42, scheduled="s-1"),
    SetCallResult(id=43, interaction="i-9", result="callback", reason="no answer twice"),
    GetCall(id=44, interaction="i-9"),
    ListCalls(id=44, agent="alice", limit=20),
    GetJourney(id=45, contact="c-1"),
    CreateCase(
        id=46,
        subject="Blue jacket arrived torn",
        description="Order 48151623",
        queue="service",
        priority="high",
        interaction="ch-000042",
        new_contact=NewContact(name="Dana", email="dana@example.com"),
    ),
    GetCase(id=47, case="SR00000042", watch=True),
    ListCases(id=48, group="second_line", open_only=True, order="line"),
    UpdateCase(id=49, case="SR00000042", priority="critical"),
    TakeCase(id=50, queue="service"),
    SetCaseStatus(id=51, case="SR00000042", status="resolved", articles=["kb-1"]),
    EscalateCase(id=52, case="SR00000042", group="second_line"),
    AdviseCase(id=53, case="SR00000042", interaction="i-9", note="Told her it ships Monday"),
    AddCaseNote(id=53, case="SR00000042", kind="reply", text="A new jacket is on its way."),
    CaseReply(id=54, case="SR00000042", text="Still torn!", channel="email", sender="d@x.com"),
    RateCase(id=55, case="SR00000042", score=2),
    PutArticle(id=56, title="Returns", body="Send a photo.", tags=["returns"], case="SR00000042"),
    SearchArticles(id=57, query="damaged returns"),
    GetCaseLookups(id=58),
    PutCaseQueue(id=59, queue=SERVICE),
    PutMailTemplate(id=60, template=MAIL_TEMPLATE),
)

#: One realistic instance of every server frame, in the order of ``SERVER_FRAMES``.
SERVER_SAMPLES: tuple[msgspec.Struct, ...] = (
    Welcome(
        id=1,
        protocol="1.0",
        server="switchboard/0.1.0",
        role="agent",
        principal="alice",
        display_name="Alice Martín",
        session_token="st_8f14e45fceea167a5a36dedd4bea2543",
        token_expires_at=NOW + 43_200,
        resumed=True,
        replayed=2,
        agent=ALICE,
        offer=OfferView(offer="of-000101", interaction=CHAT, expires_at=NOW + 20),
        interactions=[CALL],
    ),
    Ok(id=5),
    Error(
        id=6,
        code=ErrorCode.CONFLICT,
        message="offer of-000102 is no longer open",
        details={"offer": "of-000102", "outcome": "timed_out"},
    ),
    Pong(id=3, server_time=NOW),
    Created(id="c-9", interaction=CHAT),
    Dashboard(id=12, agents=[ALICE, BOB], queues=[QUEUE_STATS]),
    ConfigSnapshot(id=15, queues=[SALES], agents=[ALICE_CONFIG], api_keys=[TELEGRAM_KEY]),
    ApiKeyCreated(id=20, key_id="tg-bot", api_key="sbk_tg-bot_Zr1pQ9xY4w"),
    Offered(seq=1, offer="of-000101", interaction=CHAT, expires_at=NOW + 20, timeout=20.0),
    OfferClosed(seq=2, offer="of-000101", interaction="ch-000042", outcome="accepted"),
    AgentChanged(seq=3, agent=ALICE),
    InteractionChanged(seq=4, interaction=ENDED),
    QueueFigures(seq=5, queues=[QUEUE_STATS]),
    Reassigned(seq=5, interaction=CHAT, by="sam", to="bob"),
    WaitingList(id=14, interactions=[WaitingInteraction(interaction=CHAT, waited=12.5)]),
    MessageSent(id=22, message=MESSAGE, interaction="ch-000042"),
    NewMessage(seq=6, message=WITH_FILE),
    FileData(id=24, file=PNG, data=b"\x89PNG"),
    ChatTranscript(id=25, record=RECORD, messages=[MESSAGE, WITH_FILE]),
    ChatList(id=27, active=[RECORD], closed=[]),
    ChatHistory(id=28, chats=[RECORD]),
    Identified(id=29, contact=DANA),
    Contacts(id=30, contacts=[DANA]),
    Lookups(id=31, templates=[TEMPLATE], results=[ResultOption(id="resolved", name="Resolved")]),
    CallbackQueued(id=39, outcome="queued", interaction=CALL),
    Scheduled(
        id=41,
        call=ScheduledCallView(
            id="s-1",
            agent="alice",
            number="+15551234567",
            at=NOW + 3600,
            device="alice-soft",
            status="pending",
        ),
    ),
    CallDetail(
        id=44,
        record=CallRecord(
            interaction=CALL,
            kind="inbound",
            state="answered",
            call_id="pbx-42",
            number="+15551234567",
            device="alice-soft",
            answered_at=NOW,
            talking=42.5,
            steps=[JourneyStep(at=NOW, step="initiated", detail="+15551234567")],
            case="SR42",
        ),
    ),
    CallList(
        id=44,
        agent="alice",
        scheduled=[
            ScheduledCallView(
                id="s-1",
                agent="alice",
                number="+15551234567",
                at=NOW + 3600,
                device="alice-soft",
                status="pending",
            )
        ],
        recent=[
            CallSummary(
                interaction="i-9",
                kind="inbound",
                direction="inbound",
                state="ended",
                number="+15551234567",
                queue="calls",
                contact=DANA,
                started_at=NOW - 100,
                answered_at=NOW - 90,
                ended_at=NOW,
                talking=90.0,
                result="resolved",
                reason="",
                case="SR42",
            )
        ],
    ),
    Journey(
        id=45,
        contact=DANA,
        entries=[
            JourneyEntry(
                interaction="i-9",
                channel="call",
                kind="inbound",
                status="ended",
                agent="alice",
                queue="calls",
                created_at=NOW,
            )
        ],
    ),
    CallPush(seq=7, interaction="i-9", call_id="pbx-42", state="answered"),
    RingAgent(
        seq=8,
        call_id="pbx-42",
        agent="alice",
        device="alice-soft",
        address="sip:101@pbx",
        timeout=20.0,
    ),
    StopRinging(seq=9, call_id="pbx-42", agent="alice", device="alice-soft"),
    Connect(seq=10, call_id="pbx-42", agent="alice", device="alice-soft", address="sip:101@pbx"),
    Play(seq=11, call_id="cb-1", to="agent", text="This is the callback call."),
    Originate(
        seq=12,
        call_id="cb-1",
        agent="alice",
        device="alice-soft",
        address="sip:101@pbx",
        number="+15551234567",
    ),
    Hangup(seq=13, call_id="pbx-42"),
    CaseDetail(
        id=46,
        case=CASE,
        history=[
            CaseEvent(at=NOW, by="alice", action="created", new="SR00000042"),
            CaseEvent(
                at=NOW + 60,
                by="alice",
                action="status",
                field="status",
                old="new",
                new="in_progress",
            ),
        ],
    ),
    CaseList(id=48, cases=[CASE], next="SR00000042"),
    CaseAck(id=54, case="SR00000042", status="reopened", reopened=True),
    CaseChanged(seq=14, case=CASE, reason="assigned", by="bob"),
    ArticleSaved(id=56, article=ARTICLE),
    Articles(id=57, articles=[ARTICLE]),
    CaseLookups(
        id=58,
        statuses=[StatusInfo(id="resolved", name="Resolved", resolved=True, to=["closed"])],
        satisfaction=[SatisfactionLevel(score=1, name="Very dissatisfied", status="reopened")],
        priorities=["critical", "high", "medium", "low"],
        queues=[SERVICE],
        mail_templates=[MAIL_TEMPLATE],
    ),
)


def _tag(frame: object) -> str:
    return tag_of(frame)


@pytest.fixture(params=[JSON, MSGPACK], ids=["json", "msgpack"])
def codec(request: pytest.FixtureRequest) -> Codec:
    """Each encoding in turn."""
    return request.param


@pytest.fixture
def samples() -> dict[str, tuple[msgspec.Struct, ...]]:
    """Every sample at once, by direction (for coverage checks)."""
    return {"client": CLIENT_SAMPLES, "server": SERVER_SAMPLES}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, samples in (("client_frame", CLIENT_SAMPLES), ("server_frame", SERVER_SAMPLES)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, samples, ids=[_tag(s) for s in samples])
