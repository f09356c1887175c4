"""Chats: messages, files, the chat record, templates, contacts and history."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.base import Push, Record, Reply, Request
from protocol.config import Ident
from protocol.views import ChatState, InteractionView

Author = Literal["customer", "agent", "bot", "system"]
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Name = Annotated[str, msgspec.Meta(max_length=256)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]


class FileView(Record, kw_only=True):
    id: str
    name: str
    mime: str
    size: int
    #: Images (png, jpeg, gif) are shown inline.
    preview: bool = False
    #: A signed link that works without a session (given to bots, for customers).
    url: str = ""


class MessageView(Record, kw_only=True):
    id: str
    interaction: str
    #: Position in the chat: 1, 2, 3... in the order the server committed them.
    n: int
    author: Author
    #: Agent username or bot key id; empty for the customer.
    by: str = ""
    text: str = ""
    file: FileView | None = None
    client_id: str = ""
    template: str | None = None
    sent_at: float


class Template(Record, kw_only=True):
    """A quick reply: a name to find it by and the text it inserts."""

    id: Ident
    name: Name
    text: Annotated[str, msgspec.Meta(max_length=4096)]


class ResultOption(Record, kw_only=True):
    """An entry of the chat result lookup."""

    id: Ident
    name: Name


class ContactView(Record, kw_only=True):
    id: str
    name: str = ""
    phones: list[str] = []
    emails: list[str] = []
    #: Source identities, "source:user id" (e.g. "telegram:48151623").
    identities: list[str] = []
    account: str = ""


class NewContact(Record, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    phone: Annotated[str, msgspec.Meta(max_length=64)] = ""
    email: Annotated[str, msgspec.Meta(max_length=256)] = ""
    account: Name = ""


class ChatRecord(Record, kw_only=True):
    """The chat record page: who, where, when, how it ended."""

    interaction: InteractionView
    state: ChatState | None = None  # none while it waits for an agent
    name: str = ""
    contact: ContactView | None = None
    #: Contacts that matched the customer when there was more than one.
    candidates: list[ContactView] = []
    agents: list[str] = []  # everyone who handled it, first first
    result: str | None = None
    result_details: str = ""
    notes: str = ""
    case: str | None = None
    files: list[FileView] = []
    messages: int = 0


# ------------------------------------------------------------------ messaging


class SendMessage(Request, tag="send_message", kw_only=True):
    """Agent on the chat, or its bot (for the customer, or ``as_bot``).

    ``client_id`` makes a resend safe: the same id in the same chat returns
    the message already stored instead of storing it twice.
    """

    interaction: str
    text: str
    client_id: ClientId
    template: Ident | None = None
    as_bot: bool = False


class SendFile(Request, tag="send_file", kw_only=True):
    """Attach a file to the chat (it is stored, the other side gets a link)."""

    interaction: str
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    mime: Annotated[str, msgspec.Meta(max_length=128)]
    data: bytes
    client_id: ClientId
    text: Annotated[str, msgspec.Meta(max_length=4096)] = ""


class MessageSent(Reply, tag="message_sent", kw_only=True):
    """The message is stored (and relayed). ``interaction`` differs from the
    request's when a customer wrote into an ended chat and a new one began."""

    message: MessageView
    interaction: str
    duplicate: bool = False


class NewMessage(Push, tag="message", kw_only=True):
    message: MessageView


class GetFile(Request, tag="get_file", kw_only=True):
    file: str


class FileData(Reply, tag="file_data", kw_only=True):
    file: FileView
    data: bytes


# ----------------------------------------------------------------- the record


class GetChat(Request, tag="get_chat", kw_only=True):
    """A chat you may see, with its whole transcript."""

    interaction: str


class ChatTranscript(Reply, tag="chat", kw_only=True):
    record: ChatRecord
    messages: list[MessageView]


class UpdateChat(Request, tag="update_chat", kw_only=True):
    """Agent on the chat (or a supervisor): fill in the record. Fields left
    out are unchanged; ``state`` can only move the chat to in progress."""

    interaction: str
    name: Name | None = None
    result: Ident | None = None
    result_details: LongText | None = None
    notes: LongText | None = None
    state: Literal["in_progress"] | None = None


class ListChats(Request, tag="list_chats", kw_only=True):
    """The agent's Active chats and its last 10 Closed ones."""


class ChatList(Reply, tag="chat_list", kw_only=True):
    active: list[ChatRecord]
    closed: list[ChatRecord]


class SearchChats(Request, tag="search_chats", kw_only=True):
    """Chat history; agents only ever see chats they handled."""

    contact: str | None = None
    agent: Ident | None = None
    source: str | None = None
    queue: Ident | None = None
    state: ChatState | None = None
    since: float | None = None
    until: float | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50


class ChatHistory(Reply, tag="chat_history", kw_only=True):
    chats: list[ChatRecord]


# ------------------------------------------------------------------- contacts


class Identify(Request, tag="identify", kw_only=True):
    """User identification: link the chat to an existing contact, or create one.

    The customer's phone, email and source identity are added to the contact.
    """

    interaction: str
    contact: str | None = None
    new_contact: NewContact | None = None


class Identified(Reply, tag="identified", kw_only=True):
    contact: ContactView


class FindContacts(Request, tag="find_contacts", kw_only=True):
    """Search by name, phone, email, source identity, company name or case number."""

    query: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class Contacts(Reply, tag="contacts", kw_only=True):
    contacts: list[ContactView]


# ------------------------------------------------------------------ lookups


class GetLookups(Request, tag="get_lookups", kw_only=True):
    """Quick-reply templates and the chat result lookup."""


class Lookups(Reply, tag="lookups", kw_only=True):
    templates: list[Template]
    results: list[ResultOption]


class PutTemplate(Request, tag="put_template", kw_only=True):
    """Supervisor: create or replace a quick-reply template."""

    template: Template


class DeleteTemplate(Request, tag="delete_template", kw_only=True):
    template: Ident
