"""Supervisors: live dashboard, agent control and live configuration."""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.base import Push, Reply, Request
from protocol.config import AgentConfig, ApiKeyConfig, Ident, QueueConfig
from protocol.routing import Reason
from protocol.views import AgentStatus, AgentView, QueueStats


class Watch(Request, tag="watch", kw_only=True):
    """Subscribe to live agent states and queue figures."""


class Unwatch(Request, tag="unwatch", kw_only=True):
    """Stop the live subscription."""


class Dashboard(Reply, tag="dashboard", kw_only=True):
    agents: list[AgentView]
    queues: list[QueueStats]


class QueueFigures(Push, tag="queue_stats", kw_only=True):
    """Queue figures that changed since the last push (sent a few times a second)."""

    queues: list[QueueStats]


class SetAgentStatus(Request, tag="set_agent_status", kw_only=True):
    agent: Ident
    status: AgentStatus
    reason: Reason = ""


class GetConfig(Request, tag="get_config", kw_only=True):
    """Fetch queues, agents and API keys (never secrets)."""


class ConfigSnapshot(Reply, tag="config", kw_only=True):
    queues: list[QueueConfig]
    agents: list[AgentConfig]
    api_keys: list[ApiKeyConfig]


class PutQueue(Request, tag="put_queue", kw_only=True):
    """Create or replace a queue; takes effect at once."""

    queue: QueueConfig


class DeleteQueue(Request, tag="delete_queue", kw_only=True):
    queue: Ident


class PutAgent(Request, tag="put_agent", kw_only=True):
    """Create or replace an account; ``password`` is required for a new one."""

    agent: AgentConfig
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=256)] | None = None


class DeleteAgent(Request, tag="delete_agent", kw_only=True):
    username: Ident


class CreateApiKey(Request, tag="create_api_key", kw_only=True):
    key: ApiKeyConfig


class ApiKeyCreated(Reply, tag="api_key_created", kw_only=True):
    """The only time the secret is shown; the server keeps a hash."""

    key_id: str
    api_key: str


class DeleteApiKey(Request, tag="delete_api_key", kw_only=True):
    key_id: Ident
