"""The transition tables of states.py against SPEC §8."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from server.core.errors import IllegalTransition, RoutingError
from server.core.states import AGENT_STATE, CHAT, FINAL_INTERACTION, INTERACTION, OFFER, step

AGENT_STATES = ("idle", "offered", "busy", "wrap_up")
INTERACTION_STATES = ("waiting", "assigning", "assigned", "transferring", "ended", "failed")


def test_agent_cycle_follows_spec() -> None:
    """An agent goes idle -> offered -> busy -> wrap_up -> idle."""
    state = "idle"
    for event, expected in [
        ("offer", "offered"),
        ("accept", "busy"),
        ("end", "wrap_up"),
        ("finish", "idle"),
    ]:
        state = step(AGENT_STATE, "agent", state, event)
        assert state == expected


@pytest.mark.parametrize("event", ["decline", "time_out", "rescind"])
def test_agent_offer_that_closes_returns_to_idle(event: str) -> None:
    """A declined, timed-out or rescinded offer leaves the agent idle."""
    assert step(AGENT_STATE, "agent", "offered", event) == "idle"


@pytest.mark.parametrize("state", ["busy", "wrap_up"])
def test_agent_work_taken_away_leaves_idle(state: str) -> None:
    """When the grace period expires the agent's work is taken away: idle."""
    assert step(AGENT_STATE, "agent", state, "take_away") == "idle"


@pytest.mark.parametrize(
    ("state", "event"),
    [
        ("idle", "accept"),
        ("idle", "end"),
        ("idle", "finish"),
        ("offered", "offer"),  # one offer at a time
        ("busy", "offer"),  # one active interaction
        ("wrap_up", "offer"),  # wrap-up holds the agent out of routing
        ("busy", "accept"),
        ("wrap_up", "end"),
    ],
)
def test_agent_illegal_events_raise(state: str, event: str) -> None:
    """Events the agent table lacks raise IllegalTransition naming machine, state and event."""
    with pytest.raises(IllegalTransition) as caught:
        step(AGENT_STATE, "agent", state, event)
    err = caught.value
    assert (err.machine, err.state, err.event) == ("agent", state, event)
    assert err.code == ErrorCode.CONFLICT
    assert isinstance(err, RoutingError)


def test_only_idle_agent_can_be_offered() -> None:
    """Among agent states only idle accepts an offer."""
    assert [s for s in AGENT_STATES if (s, "offer") in AGENT_STATE] == ["idle"]


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("accept", "accepted"),
        ("decline", "declined"),
        ("time_out", "timed_out"),
        ("rescind", "rescinded"),
    ],
)
def test_offer_outcomes(event: str, outcome: str) -> None:
    """A pending offer ends accepted, declined, timed out or rescinded."""
    assert step(OFFER, "offer", "pending", event) == outcome


@pytest.mark.parametrize("closed", ["accepted", "declined", "timed_out", "rescinded"])
@pytest.mark.parametrize("event", ["accept", "decline", "time_out", "rescind"])
def test_closed_offer_accepts_no_event(closed: str, event: str) -> None:
    """An offer that is no longer pending refuses every event."""
    with pytest.raises(IllegalTransition):
        step(OFFER, "offer", closed, event)


def test_interaction_journey() -> None:
    """waiting -> assigning -> assigned -> transferring -> assigned -> ended."""
    state = "waiting"
    for event, expected in [
        ("offer", "assigning"),
        ("accept", "assigned"),
        ("transfer", "transferring"),
        ("accept", "assigned"),
        ("end", "ended"),
    ]:
        state = step(INTERACTION, "interaction", state, event)
        assert state == expected


@pytest.mark.parametrize("event", ["decline", "time_out", "rescind"])
def test_offer_closing_returns_interaction_to_waiting(event: str) -> None:
    """A declined, timed-out or rescinded offer puts the interaction back to waiting."""
    assert step(INTERACTION, "interaction", "assigning", event) == "waiting"


@pytest.mark.parametrize(
    ("state", "event"), [("waiting", "abandon"), ("assigning", "abandon"), ("waiting", "miss")]
)
def test_interaction_fails_before_any_agent_had_it(state: str, event: str) -> None:
    """Abandoned, or no agent within max wait, is failed rather than ended."""
    assert step(INTERACTION, "interaction", state, event) == "failed"


def test_requeue_and_overflow_stay_waiting() -> None:
    """Re-queue after a lost agent and overflow both leave the interaction waiting."""
    assert step(INTERACTION, "interaction", "assigned", "requeue") == "waiting"
    assert step(INTERACTION, "interaction", "waiting", "overflow") == "waiting"


def test_final_interaction_states_have_no_way_out() -> None:
    """Ended and failed are final: no transition leaves them."""
    assert frozenset({"ended", "failed"}) == FINAL_INTERACTION
    assert not [pair for pair in INTERACTION if pair[0] in FINAL_INTERACTION]


@pytest.mark.parametrize(
    ("state", "event"),
    [
        ("waiting", "accept"),  # nobody was offered it
        ("waiting", "end"),  # a waiting one is abandoned, not ended
        ("assigned", "offer"),
        ("assigned", "abandon"),
        ("assigning", "overflow"),  # max wait applies to waiting ones only
        ("ended", "requeue"),
        ("failed", "offer"),
    ],
)
def test_interaction_illegal_events_raise(state: str, event: str) -> None:
    """Events the interaction table lacks raise IllegalTransition."""
    with pytest.raises(IllegalTransition) as caught:
        step(INTERACTION, "interaction", state, event)
    assert caught.value.machine == "interaction"


def test_tables_only_name_known_states() -> None:
    """Every state in the tables is one of the spec's states."""
    for (src, _), dst in AGENT_STATE.items():
        assert src in AGENT_STATES and dst in AGENT_STATES
    for (src, _), dst in INTERACTION.items():
        assert src in INTERACTION_STATES and dst in INTERACTION_STATES


def test_chat_states_follow_spec() -> None:
    """A chat goes new -> in_progress (first agent message or by hand) -> completed."""
    assert step(CHAT, "chat", "new", "agent_message") == "in_progress"
    assert step(CHAT, "chat", "new", "set_in_progress") == "in_progress"
    assert step(CHAT, "chat", "in_progress", "agent_message") == "in_progress"
    assert step(CHAT, "chat", "new", "end") == "completed"
    assert step(CHAT, "chat", "in_progress", "end") == "completed"


@pytest.mark.parametrize("event", ["agent_message", "set_in_progress", "end"])
def test_completed_chat_is_final(event: str) -> None:
    """Nothing moves a completed chat."""
    with pytest.raises(IllegalTransition):
        step(CHAT, "chat", "completed", event)
