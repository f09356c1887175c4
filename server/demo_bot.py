"""A web-chat customer simulator: the example bot to copy when writing a bridge.

    switchboard bot --demo                  # against a local demo server
    switchboard bot --url ws://host:8080/ws --key sbk_... --queue support

Customers arrive at random (Poisson, ``--rate`` per second), each opens a chat
with a question, answers the agent a few times, thanks them and leaves. All
the protocol work is done by :class:`protocol.bot.Bot`; this file is only the
customers' side of the story.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import structlog

from protocol.bot import Bot
from protocol.chats import NewMessage
from protocol.routing import InteractionChanged
from protocol.views import Customer

log = structlog.get_logger(__name__)

NAMES = ["Dana Scully", "Fox Mulder", "Ana Lima", "Kenji Sato", "Olga Petrova", "Sam Okafor"]
QUESTIONS = [
    "Hi! Is the blue kettle in stock? 👋",
    "Hello, my order #4471 has not arrived yet.",
    "Can I change the delivery address of my order?",
    "Do you ship to Portugal? 🇵🇹",
]
ANSWERS = ["Thanks, that helps.", "Could you check again, please?", "OK 👍", "Great!"]
WELCOME = "Hi! I'm the Acme assistant. An agent will be with you in a moment."


class Customers:
    """Routes each chat's events to the customer coroutine that owns it."""

    def __init__(self, bot: Bot, think: tuple[float, float] = (1.0, 4.0)) -> None:
        self.bot = bot
        self.think = think  # seconds a customer takes to answer
        self.inbox: dict[str, asyncio.Queue[object]] = defaultdict(asyncio.Queue)

    async def dispatch(self) -> None:
        async for event in self.bot.events():
            if isinstance(event, NewMessage) and event.message.author == "agent":
                self.inbox[event.message.interaction].put_nowait(event.message.text)
            elif isinstance(event, InteractionChanged) and event.interaction.status in (
                "ended",
                "failed",
            ):
                self.inbox[event.interaction.id].put_nowait(None)

    async def customer(self, queue: str, rng: random.Random, exchanges: int = 3) -> None:
        name = rng.choice(NAMES)
        who = Customer(
            name=name,
            email=name.split()[0].lower() + "@example.com",
            external_id=f"visitor-{rng.randrange(10**6)}",
        )
        chat = await self.bot.start_chat(queue, who, text=rng.choice(QUESTIONS), welcome=WELCOME)
        log.info("customer_arrived", chat=chat.id, name=name, queue=queue)
        inbox = self.inbox[chat.id]
        for _ in range(exchanges):
            said = await inbox.get()
            if said is None:  # the agent ended the chat
                log.info("customer_done", chat=chat.id, ended_by="agent")
                return
            await asyncio.sleep(rng.uniform(*self.think))  # typing...
            await self.bot.say(chat.id, rng.choice(ANSWERS))
        await self.bot.say(chat.id, "Thank you, bye! 👋")
        await self.bot.end(chat.id)
        self.inbox.pop(chat.id, None)
        log.info("customer_done", chat=chat.id, ended_by="customer")


async def run(
    url: str,
    key: str,
    queues: list[str],
    rate: float = 0.2,
    max_chats: int = 3,
    duration: float = 0.0,
    seed: int | None = None,
    think: tuple[float, float] = (1.0, 4.0),
) -> int:
    """Simulate customers until ``duration`` seconds pass (0: until stopped)."""
    rng = random.Random(seed)
    bot = Bot(url, key)
    await bot.connect()
    customers = Customers(bot, think)
    dispatcher = asyncio.ensure_future(customers.dispatch())
    running: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + duration if duration else float("inf")
    try:
        while loop.time() < stop_at:
            await asyncio.sleep(min(rng.expovariate(rate), max(0.0, stop_at - loop.time())))
            if len(running) < max_chats and loop.time() < stop_at:
                task = asyncio.ensure_future(customers.customer(rng.choice(queues), rng))
                running.add(task)
                task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        dispatcher.cancel()
        await bot.close()
    return 0
