"""The contact center as a pure, deterministic state machine.

No asyncio, no clock, no I/O, no randomness: the runtime injects a clock and
an id factory, calls the router's methods, and carries out the effects it
collects (persist, then send).
"""

from server.core.effects import Effect, Persist, Send, Target
from server.core.errors import RoutingError
from server.core.router import Router, RoutingSettings

__all__ = ["Effect", "Persist", "Router", "RoutingError", "RoutingSettings", "Send", "Target"]
