"""Chat frames: messages, files, the chat record, contacts, templates, history.

Reads go to the read connection (they see only committed rows); changes go
through the router and conversations, or as rows for the writer, and every
reply waits for its commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection

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
    PutTemplate,
    SearchChats,
    SendFile,
    SendMessage,
    UpdateChat,
)
from protocol.common import Ok
from protocol.errors import ErrorCode
from protocol.sources import Created, StartChat
from protocol.views import InteractionView
from server import contacts
from server.core.errors import RoutingError
from server.files import FileRefused, check
from server.runtime import Runtime
from server.sessions import Session
from server.storage import change_for
from server.storage.reads import IMAGE_TYPES, Reader

_ids = msgspec.json.Encoder()


def _author(s: Session, as_bot: bool = False) -> tuple[Any, str]:
    if s.role == "agent":
        return "agent", s.principal
    return ("bot" if as_bot else "customer"), s.principal


class ChatDispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.router = runtime.router
        self.chats = runtime.chats
        self.handlers = {
            StartChat: self.start_chat,
            SendMessage: self.send_message,
            SendFile: self.send_file,
            GetFile: self.get_file,
            GetChat: self.get_chat,
            UpdateChat: self.update_chat,
            ListChats: self.list_chats,
            SearchChats: self.search_chats,
            Identify: self.identify,
            FindContacts: self.find_contacts,
            GetLookups: self.get_lookups,
            PutTemplate: self.put_template,
            DeleteTemplate: self.delete_template,
        }

    @property
    def reader(self) -> Reader:
        assert self.rt.reader is not None
        return self.rt.reader

    # -------------------------------------------------------------- starting

    def start_chat(self, s: Session, conn: ServerConnection, f: StartChat) -> None:
        key = self.rt.keys[s.principal].cfg
        if f.queue not in key.queues:
            raise RoutingError(ErrorCode.FORBIDDEN, f"this key may not use queue {f.queue!r}")
        ix = self.router.create("chat", f.queue, s.principal, f.customer, source=key.source)
        self._opening_messages(ix.id, s.principal, f.welcome, f.text)
        self.rt.commit(s, Created(id=f.id, interaction=ix.view()), conn)
        # Routing does not wait for the contact lookup; the agent is told when
        # the contact is known.
        self.rt.spawn(self.identify_on_arrival(ix.id, ix.customer, ix.source))

    def _opening_messages(self, ix: str, key: str, welcome: str, text: str) -> None:
        # The bot's welcome first (the customer saw it first), then the customer.
        if welcome:
            self.chats.post(ix, "bot", key, "welcome", welcome)
        if text:
            self.chats.post(ix, "customer", key, "first", text)

    def _commit(
        self, s: Session, conn: ServerConnection, reply: Any, extra: list[Any] | None = None
    ) -> None:
        # Not awaited: the reply is held until the commit anyway, and the
        # connection can go on with its next frame meanwhile.
        self.rt.commit(s, reply, conn, extra=extra or [])

    async def identify_on_arrival(self, ix_id: str, customer: Any, source: str) -> None:
        """Match the customer to contacts; one match is attached, several are
        kept as candidates for the agent to pick from."""
        options = contacts.options_of(customer, source, self.rt.settings.contacts.country_code)
        found = await self.reader.match_contacts(options)
        if len(found) == 1 and ix_id in self.router.interactions:
            self.router.set_contact(ix_id, found[0])
            self.rt.commit()
        elif len(found) > 1:
            row = (ix_id, "candidates", _ids.encode(found).decode())
            self.rt.commit(extra=[change_for("chat_field", row)])

    # ------------------------------------------------------------- messaging

    def send_message(
        self, s: Session, conn: ServerConnection, f: SendMessage
    ) -> Awaitable[None] | None:
        """The hot path: a live chat is written to without a single await."""
        if f.template is not None and f.template not in self.rt.templates:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no template {f.template!r}")
        if f.interaction not in self.router.interactions and s.role != "agent":
            return self._send_after_end(s, conn, f)
        self._post(s, conn, f, f.interaction)
        return None

    def _post(self, s: Session, conn: ServerConnection, f: SendMessage, target: str) -> None:
        author, by = _author(s, f.as_bot)
        message, duplicate = self.chats.post(
            target, author, by, f.client_id, f.text, template=f.template
        )
        reply = MessageSent(id=f.id, message=message, interaction=target, duplicate=duplicate)
        self.rt.commit(s, reply, conn)  # not awaited: the reply waits for the commit

    async def _send_after_end(self, s: Session, conn: ServerConnection, f: SendMessage) -> None:
        author, by = _author(s, f.as_bot)
        target = await self._target_chat(s, f.interaction, author, by, f.client_id)
        if isinstance(target, MessageView):  # a resend into a chat that has ended
            reply = MessageSent(
                id=f.id, message=target, interaction=target.interaction, duplicate=True
            )
            return self._commit(s, conn, reply)
        self._post(s, conn, f, target)

    async def _target_chat(
        self, s: Session, ix_id: str, author: str, by: str, client_id: str
    ) -> str | MessageView:
        """The live chat to write to. A customer writing into a completed chat
        starts a new one in the same queue, for the same contact."""
        live = self.router.interactions.get(ix_id)
        if live is not None:
            return ix_id
        old = await self.reader.interaction(ix_id)
        if old is None or old.channel != "chat" or await self.reader.owner(ix_id) != s.principal:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no chat {ix_id!r}")
        earlier = await self.reader.message_by_client_id(ix_id, author, by, client_id)
        if earlier is not None:
            return earlier
        for live in self.router.by_owner.get(s.principal, {}).values():
            if live.previous == ix_id:
                return live.id  # it was started already: write there
        ix = self.router.create(
            "chat", old.queue, s.principal, old.customer, old.source,
            contact=old.contact, previous=old.id,
        )  # fmt: skip
        return ix.id

    async def send_file(self, s: Session, conn: ServerConnection, f: SendFile) -> None:
        author, by = _author(s)
        settings = self.rt.settings.chat
        try:
            check(f.name, f.mime, f.data, settings.file_types, settings.max_file)
        except FileRefused as e:
            raise RoutingError(ErrorCode.INVALID, str(e)) from None
        self.chats.writable(f.interaction, author, by)  # refuse before storing anything
        digest = await self.rt.files.put(f.data)
        file_id = self.router.new_id("f")
        view = FileView(
            id=file_id,
            name=f.name,
            mime=f.mime,
            size=len(f.data),
            preview=f.mime in IMAGE_TYPES,
            url=self.rt.file_link(file_id),
        )
        # The chat may have ended while the file was written: check again.
        self.chats.writable(f.interaction, author, by)
        row = (file_id, f.interaction, f.name, f.mime, len(f.data), digest, by, self.rt.clock())
        message, duplicate = self.chats.post(
            f.interaction, author, by, f.client_id, f.text, file=view
        )
        extra = [] if duplicate else [change_for("file", row)]
        reply = MessageSent(
            id=f.id, message=message, interaction=f.interaction, duplicate=duplicate
        )
        self._commit(s, conn, reply, extra)

    async def get_file(self, s: Session, conn: ServerConnection, f: GetFile) -> None:
        found = await self.reader.file(f.file)
        if found is None or not await self.may_see(s, found[1]):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no file {f.file!r}")
        view, _, digest = found
        data = await self.rt.files.get(digest)
        view = msgspec.structs.replace(view, url=self.rt.file_link(view.id))
        self._commit(s, conn, FileData(id=f.id, file=view, data=data))

    # ------------------------------------------------------------ the record

    async def may_see(self, s: Session, ix_id: str) -> bool:
        """Supervisors see every chat, a bot its own, an agent those it handled."""
        live = self.router.interactions.get(ix_id)
        if s.role == "supervisor":
            return live is not None or await self.reader.interaction(ix_id) is not None
        if s.role in ("bot", "gateway"):
            owner = live.owner if live else await self.reader.owner(ix_id)
            return owner == s.principal
        if live is not None and live.agent == s.principal:
            return True
        if live is not None and live.offer is not None and live.offer.agent.username == s.principal:
            return True  # "Open" on an invitation shows the record before accepting
        return s.principal in await self.reader.handled_by(ix_id)

    async def view_of(self, ix_id: str) -> InteractionView | None:
        live = self.router.interactions.get(ix_id)
        return live.view() if live is not None else await self.reader.interaction(ix_id)

    async def record(self, view: InteractionView) -> ChatRecord:
        fields = await self.reader.record_fields(view.id)
        name, result, details, notes, case, candidate_ids = fields or ("", None, "", "", None, [])
        contact = (await self.reader.contacts([view.contact]))[:1] if view.contact else []
        files = [
            msgspec.structs.replace(fv, url=self.rt.file_link(fv.id))
            for fv in await self.reader.files_of(view.id)
        ]
        return ChatRecord(
            interaction=view,
            state=view.chat_state,
            name=name,
            contact=contact[0] if contact else None,
            candidates=await self.reader.contacts(candidate_ids),
            agents=await self.reader.handled_by(view.id),
            result=result,
            result_details=details,
            notes=notes,
            case=case,
            files=files,
            messages=await self.reader.message_count(view.id),
        )

    async def get_chat(self, s: Session, conn: ServerConnection, f: GetChat) -> None:
        view = await self.view_of(f.interaction)
        if view is None or view.channel != "chat" or not await self.may_see(s, f.interaction):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no chat {f.interaction!r}")
        messages = [
            msgspec.structs.replace(
                m, file=msgspec.structs.replace(m.file, url=self.rt.file_link(m.file.id))
            )
            if m.file
            else m
            for m in await self.reader.transcript(f.interaction)
        ]
        record = await self.record(view)
        self._commit(s, conn, ChatTranscript(id=f.id, record=record, messages=messages))

    async def update_chat(self, s: Session, conn: ServerConnection, f: UpdateChat) -> None:
        if s.role == "agent":
            live = self.router.interactions.get(f.interaction)
            on_it = live is not None and live.agent == s.principal
            if not on_it and s.principal not in await self.reader.handled_by(f.interaction):
                raise RoutingError(ErrorCode.NOT_FOUND, f"no chat {f.interaction!r} of yours")
        elif await self.view_of(f.interaction) is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no chat {f.interaction!r}")
        if f.result is not None and f.result not in self.rt.results:
            raise RoutingError(ErrorCode.INVALID, f"no result {f.result!r} in the lookup")
        if f.state == "in_progress":
            self.chats.set_in_progress(f.interaction, s.principal)
        changes = [
            change_for("chat_field", (f.interaction, column, value))
            for column, value in (
                ("name", f.name),
                ("result", f.result),
                ("result_details", f.result_details),
                ("notes", f.notes),
            )
            if value is not None
        ]
        self._commit(s, conn, Ok(id=f.id), changes)

    async def list_chats(self, s: Session, conn: ServerConnection, f: ListChats) -> None:
        agent = self.router.agents.get(s.principal)
        active = []
        if agent is not None and agent.interaction and agent.interaction.channel == "chat":
            active.append(await self.record(agent.interaction.view()))
        closed = [await self.record(v) for v in await self.reader.closed_chats(s.principal, 10)]
        self._commit(s, conn, ChatList(id=f.id, active=active, closed=closed))

    async def search_chats(self, s: Session, conn: ServerConnection, f: SearchChats) -> None:
        found = await self.reader.search_chats(
            handled_by=s.principal if s.role == "agent" else None,
            owner=s.principal if s.role == "bot" else None,
            contact=f.contact,
            agent=f.agent,
            source=f.source,
            queue=f.queue,
            state=f.state,
            since=f.since,
            until=f.until,
            limit=f.limit,
        )
        chats = [await self.record(self._fresh(v)) for v in found]
        self._commit(s, conn, ChatHistory(id=f.id, chats=chats))

    def _fresh(self, view: InteractionView) -> InteractionView:
        live = self.router.interactions.get(view.id)
        return live.view() if live is not None else view

    # -------------------------------------------------------------- contacts

    async def identify(self, s: Session, conn: ServerConnection, f: Identify) -> None:
        if (f.contact is None) == (f.new_contact is None):
            raise RoutingError(ErrorCode.INVALID, "give either contact or new_contact")
        view = await self.view_of(f.interaction)
        if view is None or not await self.may_see(s, f.interaction):
            raise RoutingError(ErrorCode.NOT_FOUND, f"no interaction {f.interaction!r}")
        cc = self.rt.settings.contacts.country_code
        options = contacts.options_of(view.customer, view.source, cc)
        changes = []
        if f.contact is not None:
            if not await self.reader.contacts([f.contact]):
                raise RoutingError(ErrorCode.NOT_FOUND, f"no contact {f.contact!r}")
            contact_id = f.contact
        else:
            assert f.new_contact is not None
            new = f.new_contact
            contact_id = self.router.new_id("c")
            company = None
            if new.account:
                company = "co-" + new.account.strip().lower()
                changes.append(contacts.company_change(company, new.account.strip()))
            changes.append(contacts.contact_change(contact_id, new.name, company, self.rt.clock()))
            options += [
                (k, v)
                for k, v in (
                    ("phone", contacts.normalize_phone(new.phone, cc)),
                    ("email", contacts.normalize_email(new.email)),
                )
                if v
            ]
        changes += contacts.option_changes(contact_id, options)
        if f.interaction in self.router.interactions:
            self.router.set_contact(f.interaction, contact_id)
        else:
            changes.append(change_for("interaction_contact", (f.interaction, contact_id)))
        barrier = self.rt.commit(extra=changes)
        if barrier is not None:
            # Shielded: the batch future is shared with other commands; a cancelled
            # handler must not cancel it.
            await asyncio.shield(barrier)  # the reply shows the contact as stored
        found = await self.reader.contacts([contact_id])
        self._commit(s, conn, Identified(id=f.id, contact=found[0]))

    async def find_contacts(self, s: Session, conn: ServerConnection, f: FindContacts) -> None:
        cc = self.rt.settings.contacts.country_code
        found: list[ContactView] = await self.reader.search_contacts(f.query, f.limit, cc)
        self._commit(s, conn, Contacts(id=f.id, contacts=found))

    # --------------------------------------------------------------- lookups

    async def get_lookups(self, s: Session, conn: ServerConnection, f: GetLookups) -> None:
        templates = sorted(self.rt.templates.values(), key=lambda t: t.name.lower())
        reply = Lookups(id=f.id, templates=templates, results=list(self.rt.results.values()))
        self._commit(s, conn, reply)

    async def put_template(self, s: Session, conn: ServerConnection, f: PutTemplate) -> None:
        self.rt.templates[f.template.id] = f.template
        self._commit(s, conn, Ok(id=f.id), [change_for("template", f.template)])

    async def delete_template(self, s: Session, conn: ServerConnection, f: DeleteTemplate) -> None:
        if self.rt.templates.pop(f.template, None) is None:
            raise RoutingError(ErrorCode.NOT_FOUND, f"no template {f.template!r}")
        self._commit(s, conn, Ok(id=f.id), [change_for("template_deleted", f.template)])
