"""``switchboard`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from server import __version__


def run(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (it nearly doubles throughput)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def serve(args: argparse.Namespace) -> int:
    from server import logs
    from server.app import App
    from server.collector import CollectorSchedule
    from server.demo import banner, with_demo
    from server.settings import load_settings

    settings = load_settings(args.config)
    if args.host is not None:
        settings.server.host = args.host
    if args.port is not None:
        settings.server.port = args.port
    if args.db is not None:
        settings.server.db = args.db
    if args.demo:
        settings = with_demo(settings)
    logs.configure(args.log_level or settings.log_level, json=args.json_logs)

    async def main() -> int:
        app = App(settings)
        collector = CollectorSchedule(settings.server.gc_full_interval)
        collector.start()
        try:
            return await serve_app(app)
        finally:
            await collector.stop()

    async def serve_app(app: App) -> int:
        if args.demo:
            # Print the logins once the port is known (it may be 0 = any).
            async def announce() -> None:
                while app.server is None:
                    await asyncio.sleep(0.01)
                print(banner(settings.server.host, app.port), file=sys.stderr, flush=True)

            announcing = asyncio.ensure_future(announce())
            code = await app.run_until_signal()
            announcing.cancel()
            return code
        return await app.run_until_signal()

    return run(main())


def bot(args: argparse.Namespace) -> int:
    from server import logs
    from server.demo_bot import run as run_bot

    logs.configure(args.log_level or "info", json=args.json_logs)
    key = args.key or ("sbk_demo_webchat" if args.demo else None)
    if key is None:
        raise SystemExit("give --key (or --demo for the demo server's web-chat key)")
    queues = args.queue or ["sales", "support"]
    return run(run_bot(args.url, key, queues, args.rate, args.chats, args.duration, args.seed))


def gateway_sim(args: argparse.Namespace) -> int:
    from server import logs
    from server.gateway_sim import SimSettings
    from server.gateway_sim import run as run_sim

    logs.configure(args.log_level or "info", json=args.json_logs)
    key = args.key or ("sbk_demo_gateway" if args.demo else None)
    if key is None:
        raise SystemExit("give --key (or --demo for the demo server's gateway key)")
    settings = SimSettings(
        queue=args.queue,
        rate=args.rate,
        max_calls=args.calls,
        duration=args.duration,
        talk=args.talk,
        callbacks=args.callbacks,
        auto_answer=args.auto_answer,
        seed=args.seed,
    )

    async def main() -> int:
        stats = await run_sim(args.url, key, settings)
        print(stats, file=sys.stderr)
        return 0

    return run(main())


def load(args: argparse.Namespace) -> int:
    from server.load.run import run_load, show
    from server.load.worker import LoadSettings

    s = LoadSettings(
        url=args.url, agents=args.agents, bots=args.bots, processes=args.processes,
        duration=args.duration, max_chats=args.max_chats, chat_rate=args.rate,
        messages=args.messages, message_rate=args.message_rate, accept_delay=args.accept_delay,
        handle=args.handle, handle_dist=args.handle_dist, decline=args.decline,
        calls_rate=args.calls_rate, talk=args.talk, encoding=args.encoding, seed=args.seed,
        kernel_stamps=args.kernel_stamps,
    )  # fmt: skip
    supervisor = tuple(args.supervisor.split(":", 1))
    result = run_load(s, (supervisor[0], supervisor[1]), args.out, args.allow_remote)
    show(result)
    print(f"report written to {args.out}", file=sys.stderr)
    return 0 if result["verification"]["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--db", help="SQLite file (default ./switchboard.db)")
    p.add_argument("--config", help="TOML settings file")
    p.add_argument("--demo", action="store_true", help="seed demo queues, agents and keys")
    p.add_argument("--log-level", help="debug, info, warning, error")
    p.add_argument(
        "--json-logs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="JSON log lines (default: when stderr is not a terminal)",
    )
    p.set_defaults(func=serve)

    b = sub.add_parser("bot", help="run the example web-chat bot (a customer simulator)")
    b.add_argument("--demo", action="store_true", help="use the demo server's bot key")
    b.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    b.add_argument("--key", help="the bot's API key")
    b.add_argument("--queue", action="append", help="queue(s) to open chats in")
    b.add_argument("--rate", type=float, default=0.2, help="new customers per second")
    b.add_argument("--chats", type=int, default=3, help="most customers at once")
    b.add_argument("--duration", type=float, default=0.0, help="seconds to run (0: until ^C)")
    b.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    b.add_argument("--log-level")
    b.add_argument("--json-logs", action=argparse.BooleanOptionalAction, default=None)
    b.set_defaults(func=bot)

    g = sub.add_parser("gateway-sim", help="simulate a telephony gateway placing calls")
    g.add_argument("--demo", action="store_true", help="use the demo server's gateway key")
    g.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    g.add_argument("--key", help="the gateway's API key")
    g.add_argument("--queue", default="calls")
    g.add_argument("--rate", type=float, default=0.2, help="new calls per second")
    g.add_argument("--calls", type=int, default=0, help="stop after this many calls (0: no limit)")
    g.add_argument("--duration", type=float, default=0.0, help="seconds to run (0: until ^C)")
    g.add_argument("--talk", type=float, default=20.0, help="mean talk time, seconds")
    g.add_argument("--callbacks", type=float, default=0.1, help="share asking for a callback")
    g.add_argument(
        "--auto-answer", type=float, default=None, help="softphones answer after N seconds"
    )
    g.add_argument("--seed", type=int)
    g.add_argument("--log-level")
    g.add_argument("--json-logs", action=argparse.BooleanOptionalAction, default=None)
    g.set_defaults(func=gateway_sim)

    lt = sub.add_parser("load", help="drive a running server with agents, bots and calls")
    lt.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    lt.add_argument("--allow-remote", action="store_true", help="allow a non-loopback host")
    lt.add_argument("--supervisor", default="sam:sam-demo", help="user:password for the setup")
    lt.add_argument("--agents", type=int, default=20)
    lt.add_argument("--bots", type=int, default=4)
    lt.add_argument("--processes", type=int, default=2, help="client processes")
    lt.add_argument("--duration", type=float, default=10.0, help="seconds of arrivals")
    lt.add_argument("--max-chats", type=int, default=0, help="stop after this many chats")
    lt.add_argument("--rate", type=float, default=10.0, help="new chats per second (Poisson)")
    lt.add_argument("--messages", type=int, default=3, help="customer messages per chat")
    lt.add_argument("--message-rate", type=float, default=5.0, help="messages/s within a chat")
    lt.add_argument("--accept-delay", type=float, default=0.0)
    lt.add_argument("--handle", type=float, default=1.0, help="seconds an agent keeps a chat")
    lt.add_argument("--handle-dist", choices=["fixed", "exponential"], default="fixed")
    lt.add_argument("--decline", type=float, default=0.0, help="share of offers declined")
    lt.add_argument("--calls-rate", type=float, default=0.0, help="calls/s from a gateway sim")
    lt.add_argument("--talk", type=float, default=1.0, help="mean talk time of calls")
    lt.add_argument("--encoding", choices=["msgpack", "json"], default="msgpack")
    lt.add_argument("--seed", type=int, default=1)
    lt.add_argument(
        "--kernel-stamps",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="latencies from the kernel's receive time (Linux), not this tool's read",
    )
    lt.add_argument("--out", default="load-report.json", help="JSON report file")
    lt.set_defaults(func=load)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
