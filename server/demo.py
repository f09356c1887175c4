"""Demo data: queues, agents, a supervisor and API keys to try Switchboard at once.

The credentials are printed at start; they are for a local demo only.
"""

from __future__ import annotations

from protocol.cases import CaseQueueConfig
from protocol.config import Device, QueueConfig
from server.settings import SeedAccount, SeedKey, Settings

DEMO_QUEUES = [
    QueueConfig(id="sales", name="Sales chat", channel="chat", skills={"sales": 1}, wrap_up=5),
    QueueConfig(id="support", name="Support chat", channel="chat", skills={"support": 1}),
    QueueConfig(
        id="vip",
        name="VIP chat",
        channel="chat",
        skills={"support": 5},
        priority=10,
        max_wait=60,
        overflow="support",
    ),
    QueueConfig(id="calls", name="Support line", channel="call", skills={"support": 1}, wrap_up=10),
]


#: Case queues: first line takes any case; second line gives each agent the next one.
DEMO_CASE_QUEUES = [
    CaseQueueConfig(
        id="service",
        name="Service desk",
        response_hours=4,
        resolution_hours=24,
        take="any",
        members=["alice", "bob", "carol"],
    ),
    CaseQueueConfig(
        id="second_line",
        name="Second line",
        response_hours=8,
        resolution_hours=72,
        take="next",
        members=["bob", "carol"],
    ),
]


def _agent(
    name: str, display: str, skills: dict[str, int], inboxes: list[str], ext: str
) -> SeedAccount:
    return SeedAccount(
        username=name,
        display_name=display,
        skills=skills,
        inboxes=inboxes,
        extension=ext,
        devices=[Device(id=f"{name}-soft", label="Softphone", address=f"sip:{ext}@pbx.local")],
        password=f"{name}-demo",
    )


DEMO_ACCOUNTS = [
    _agent(
        "alice", "Alice Agent", {"sales": 7, "support": 3}, ["sales", "support", "calls"], "101"
    ),
    _agent("bob", "Bob Agent", {"support": 8}, ["support", "vip", "calls"], "102"),
    _agent(
        "carol",
        "Carol Agent",
        {"sales": 4, "support": 6},
        ["sales", "support", "vip", "calls"],
        "103",
    ),
    SeedAccount(
        username="sam", display_name="Sam Supervisor", role="supervisor", password="sam-demo"
    ),
]

DEMO_KEYS = [
    SeedKey(
        id="webchat",
        role="bot",
        name="Web chat",
        source="webchat",
        queues=["sales", "support", "vip"],
        secret="sbk_demo_webchat",
    ),
    SeedKey(id="pbx", role="gateway", name="Demo PBX", queues=["calls"], secret="sbk_demo_gateway"),
]


def with_demo(settings: Settings) -> Settings:
    """``settings`` plus the demo seeds it does not already define."""
    have_q = {q.id for q in settings.queues}
    have_a = {a.username for a in settings.agents}
    have_k = {k.id for k in settings.api_keys}
    have_c = {q.id for q in settings.case_queues}
    settings.queues = settings.queues + [q for q in DEMO_QUEUES if q.id not in have_q]
    settings.agents = settings.agents + [a for a in DEMO_ACCOUNTS if a.username not in have_a]
    settings.api_keys = settings.api_keys + [k for k in DEMO_KEYS if k.id not in have_k]
    settings.case_queues = settings.case_queues + [
        q for q in DEMO_CASE_QUEUES if q.id not in have_c
    ]
    return settings


def banner(host: str, port: int) -> str:
    lines = [
        "",
        "Switchboard demo is running.",
        f"  Web client:   http://{host}:{port}/",
        f"  Websocket:    ws://{host}:{port}/ws",
        "  Agents:       " + ", ".join(f"{a.username} / {a.password}" for a in DEMO_ACCOUNTS[:3]),
        f"  Supervisor:   {DEMO_ACCOUNTS[3].username} / {DEMO_ACCOUNTS[3].password}",
        "  Bot API key:  sbk_demo_webchat   (queues sales, support, vip)",
        "  Gateway key:  sbk_demo_gateway   (queue calls)",
        "",
    ]
    return "\n".join(lines)
