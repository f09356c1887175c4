"""Frames of the customers' side: bots (chat sources) and the gateway."""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.base import Reply, Request
from protocol.config import Ident
from protocol.views import Customer, InteractionView

Text = Annotated[str, msgspec.Meta(max_length=4096)]
Number = Annotated[str, msgspec.Meta(max_length=64)]


class StartChat(Request, tag="start_chat", kw_only=True):
    """Bot: open a chat for a customer in one of the bot's queues."""

    queue: Ident
    customer: Customer = Customer()
    text: Text = ""  # the customer's first message
    welcome: Text = ""  # the bot's welcome text, recorded as a bot message


class CallIncoming(Request, tag="call_incoming", kw_only=True):
    """Gateway: a call arrived. ``queue`` wins over routing by ``dialed``."""

    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    caller: Number
    dialed: Number = ""
    queue: Ident | None = None


class CallHangup(Request, tag="call_hangup", kw_only=True):
    """Gateway: the call ended (either party hung up, or it failed)."""

    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    cause: Annotated[str, msgspec.Meta(max_length=64)] = "normal_clearing"


class Created(Reply, tag="created", kw_only=True):
    """The interaction exists and is durable; updates follow as pushes."""

    interaction: InteractionView
