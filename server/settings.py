"""Settings: defaults, overridden by a TOML file, overridden by the command line.

The TOML file may also seed queues, accounts (with a plain password, hashed
on load) and API keys (with their secret). Seeds are upserted into SQLite at
every start; what supervisors change live is stored there too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import msgspec

from protocol.cases import CaseQueueConfig
from protocol.chats import Template
from protocol.config import AgentConfig, ApiKeyConfig, QueueConfig
from server.core.cases import CaseSettings
from server.core.chats import ChatSettings
from server.core.router import RoutingSettings


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ServerSection(Section, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "switchboard.db"
    #: Origins allowed to open the websocket besides the server's own page.
    allowed_origins: list[str] = []
    #: Directory of the browser client; defaults to the repository's web_client/.
    web_root: str | None = None
    #: Seconds connections get to close on shutdown.
    shutdown_timeout: float = 5.0
    #: Seconds between full garbage collections (server.collector); 0 leaves
    #: them to Python, which pauses routing for each at unpredictable times.
    gc_full_interval: Annotated[float, msgspec.Meta(ge=0)] = 300.0


class LimitsSection(Section, kw_only=True):
    #: Seconds a new connection has to send its login frame.
    auth_timeout: float = 10.0
    #: Largest frame the application reads; larger ones get ``too_large``.
    max_frame: int = 64 * 1024
    #: Hard websocket limit; above it the connection is closed with 1009.
    #: Only ``send_file`` frames may be larger than ``max_frame``.
    max_message: int = 8 * 1024 * 1024
    #: Bad frames in a row that close the connection with 1008.
    max_bad_frames: int = 10
    #: Failed logins on one connection that close it with 4003.
    max_failed_logins: int = 3
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    #: Bytes queued to a client that doesn't read before it is cut off (4008).
    max_write_buffer: int = 1024 * 1024
    #: Frames per second (and burst) per connection, by role.
    rate: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=lambda: {
            "agent": 50.0,
            "supervisor": 100.0,
            "bot": 20_000.0,
            "gateway": 20_000.0,
        }
    )
    burst_seconds: float = 2.0
    #: Pushes kept per session for replay after a resume, and the most bytes
    #: they may take (a resume from before them loads afresh).
    replay: int = 256
    replay_bytes: Annotated[int, msgspec.Meta(ge=0)] = 64 * 1024
    #: Seconds a resume token stays valid.
    token_ttl: float = 12 * 3600.0


class StorageSection(Section, kw_only=True):
    #: SQLite ``synchronous``: FULL also survives power loss (an fsync per
    #: batch, cheap once batched); NORMAL survives a process crash only.
    synchronous: str = "FULL"
    #: Where the batch writer runs: "process" (its own interpreter, no GIL
    #: shared with the event loop) or "thread" (in this process).
    writer: str = "process"


class RoutingSection(Section, kw_only=True):
    grace: float = 60.0
    max_missed: int = 3
    reoffer_delay: float = 10.0

    def settings(self) -> RoutingSettings:
        return RoutingSettings(
            grace=self.grace, max_missed=self.max_missed, reoffer_delay=self.reoffer_delay
        )


class ChatSection(Section, kw_only=True):
    #: Longest message text, in characters.
    max_text: int = 4096
    #: Seconds without a message before a live chat is ended as idle (0: never).
    idle_timeout: float = 1800.0
    #: Largest file, in bytes, and the types accepted (checked against content).
    max_file: int = 5 * 1024 * 1024
    file_types: list[str] = msgspec.field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "application/pdf",
            "text/plain",
        ]
    )
    #: Where files are kept; default: next to the database, ``<db>.files/``.
    files_dir: str | None = None
    #: Seconds a file link stays valid.
    link_ttl: float = 7 * 86400.0

    def settings(self) -> ChatSettings:
        return ChatSettings(max_text=self.max_text, idle_timeout=self.idle_timeout)


class ContactsSection(Section, kw_only=True):
    #: Country calling code given to national phone numbers ("1", "44"...);
    #: empty keeps them as digits.
    country_code: str = ""


class CallsSection(Section, kw_only=True):
    #: Callbacks waiting at once per queue; the next ones go to the missed flow.
    callback_cap: int = 2
    #: API key id of the gateway that places outbound calls (default: the
    #: first gateway key).
    gateway: str = ""
    #: The caller id outbound calls show.
    caller_id: str = ""
    #: Outgoing compliance: numbers never to call, company black- and
    #: whitelists (numbers or prefixes ending in "*"), allowed country codes,
    #: and per-agent personal whitelists.
    do_not_call: list[str] = []
    blacklist: list[str] = []
    whitelist: list[str] = []
    countries: list[str] = []
    personal: dict[str, list[str]] = {}


class CasesSection(Section, kw_only=True):
    #: Case numbers are this prefix and 8 digits ("SR00000001").
    number_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{0,8}$")] = "SR"
    #: Offer to write a knowledge-base article when a case is resolved with none linked.
    suggest_article: bool = False
    #: Seconds the satisfaction links of a "resolved" mail stay valid.
    satisfaction_ttl: float = 30 * 86400.0

    def settings(self) -> CaseSettings:
        return CaseSettings(number_prefix=self.number_prefix, suggest_article=self.suggest_article)


class MailSection(Section, kw_only=True):
    """The SMTP server customer notifications go through; no host: they wait in the outbox."""

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""
    #: STARTTLS after connecting, or TLS from the start (usually port 465).
    starttls: bool = False
    ssl: bool = False
    from_addr: str = "Customer service <noreply@switchboard.local>"
    #: Right-hand side of the Message-IDs.
    domain: str = "switchboard.local"
    #: Where satisfaction links point; default: http://<server host>:<port>.
    base_url: str = ""
    timeout: float = 10.0
    #: Seconds before the first retry; doubling up to ``retry_max``.
    retry_initial: float = 5.0
    retry_max: float = 900.0
    #: Attempts after which a mail is marked failed.
    max_attempts: int = 20
    #: Seconds between looks at the outbox when nothing wakes the sender.
    poll: float = 5.0


class SeedAccount(AgentConfig, kw_only=True):
    password: str | None = None


class SeedKey(ApiKeyConfig, kw_only=True):
    secret: str


class Settings(Section, kw_only=True):
    server: ServerSection = msgspec.field(default_factory=ServerSection)
    limits: LimitsSection = msgspec.field(default_factory=LimitsSection)
    storage: StorageSection = msgspec.field(default_factory=StorageSection)
    routing: RoutingSection = msgspec.field(default_factory=RoutingSection)
    chat: ChatSection = msgspec.field(default_factory=ChatSection)
    contacts: ContactsSection = msgspec.field(default_factory=ContactsSection)
    calls: CallsSection = msgspec.field(default_factory=CallsSection)
    cases: CasesSection = msgspec.field(default_factory=CasesSection)
    mail: MailSection = msgspec.field(default_factory=MailSection)
    log_level: str = "info"
    queues: list[QueueConfig] = []
    agents: list[SeedAccount] = []
    api_keys: list[SeedKey] = []
    templates: list[Template] = []
    case_queues: list[CaseQueueConfig] = []


def load_settings(path: str | Path | None) -> Settings:
    """Settings from a TOML file (all keys optional), or the defaults."""
    if path is None:
        return Settings()
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    try:
        return msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"{path}: {exc}") from None
