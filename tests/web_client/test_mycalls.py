"""My calls in a real browser: scheduled calls listed, canceled and started;
a call from the gateway simulator listed under recent calls once it ends,
with the case it raised."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from playwright.async_api import Page, expect

from server.gateway_sim import SimSettings
from server.gateway_sim import run as run_sim

pytestmark = pytest.mark.browser

# The local "datetime-local" value of now + ``minutes``, in the page's time zone.
LOCAL_IN = """(minutes) => {
  const d = new Date(Date.now() + minutes * 60000);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${day}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}"""


async def schedule_in_page(page: Page, number: str, minutes: int) -> None:
    """Schedule a call from My calls, ``minutes`` from now, on the account's device."""
    await page.get_by_role("button", name="Schedule a call…").click()
    form = page.locator(".my-schedule-form")
    await expect(form).to_be_visible()
    await form.get_by_label("Number").fill(number)
    await form.get_by_label("When").fill(await page.evaluate(LOCAL_IN, minutes))
    await expect(form.get_by_label("Device")).to_have_value("alice-soft")
    await form.get_by_role("button", name="Schedule").click()
    await expect(form).to_have_count(0)


async def test_schedule_list_cancel_and_start(web) -> None:
    """Scheduled calls are listed soonest first; one is canceled, one started now."""
    page = await web.agent_page("alice", ready=False)
    runtime = web.server.runtime
    scheduled = page.locator("#scheduled-list li[data-scheduled]")
    await expect(page.locator("#scheduled-list .empty")).to_have_text("No scheduled calls")

    await schedule_in_page(page, "+1 555 010 0931", 120)
    await expect(scheduled).to_have_count(1)
    await expect(scheduled.first).to_contain_text("+15550100931")
    await expect(scheduled.first).to_contain_text("alice-soft")
    await schedule_in_page(page, "+15550100932", 30)
    await expect(scheduled).to_have_count(2)
    await expect(scheduled.first).to_contain_text("+15550100932")  # the sooner one first
    assert sorted(s.number for s in runtime.calls.scheduled.values()) == [
        "+15550100931",
        "+15550100932",
    ]

    # Cancel the later one, after a confirmation.
    later = scheduled.filter(has_text="+15550100931")
    await later.get_by_role("button", name="Cancel").click()
    await page.get_by_role("button", name="Cancel the call").click()
    await expect(scheduled).to_have_count(1)
    assert [s.number for s in runtime.calls.scheduled.values()] == ["+15550100932"]

    # Start the other now: the gateway rings alice's device; the call opens.
    gateway = await web.gateway()
    await scheduled.first.get_by_role("button", name="Start now").click()
    originate = await gateway.next_push("originate")
    assert (originate.number, originate.agent, originate.device) == (
        "+15550100932",
        "alice",
        "alice-soft",
    )
    await expect(scheduled).to_have_count(0)
    await expect(page.locator("#scheduled-list .empty")).to_have_text("No scheduled calls")
    await expect(page.locator(".call-ws .call-state")).to_have_text("Dialing agent")
    assert not runtime.calls.scheduled


async def test_refused_schedule_shown(web) -> None:
    """A compliance refusal is shown in the form, and nothing is scheduled."""
    page = await web.agent_page("alice", ready=False)
    await page.get_by_role("button", name="Schedule a call…").click()
    form = page.locator(".my-schedule-form")
    await form.get_by_label("Number").fill("+15550000001")  # on the do-not-call list
    await form.get_by_role("button", name="Schedule").click()
    await expect(form.locator(".form-error")).to_contain_text("do-not-call")
    await page.keyboard.press("Escape")
    await expect(form).to_have_count(0)
    await expect(page.locator("#scheduled-list .empty")).to_have_text("No scheduled calls")
    assert not web.server.runtime.calls.scheduled


async def test_finished_call_under_recent_with_case(web) -> None:
    """A call from the gateway simulator: accepted, a case raised on it, hung up;
    it is listed under recent calls with the caller, direction and case."""
    page = await web.agent_page("alice")
    await expect(page.locator("#call-list .empty")).to_have_text("No finished calls yet")
    url = f"ws://127.0.0.1:{web.server.port}/ws"
    # One call, with a caller who would talk for an hour: the agent ends it.
    settings = SimSettings(rate=50, max_calls=1, talk=3600, seed=1, linger=30)
    sim = asyncio.ensure_future(run_sim(url, "sbk_demo_gateway", settings))
    try:
        card = page.locator(".invitation[data-channel=call]")
        await card.get_by_role("button", name="Accept").click()
        await expect(page.locator(".call-ws .call-state")).to_have_text("Answered")
        ix = await page.locator("#active-list .ix-item").get_attribute("data-interaction")
        assert ix is not None
        number = web.server.runtime.calls.live[ix].number
        # The case, as the case buttons of the call page send it.
        case = await page.evaluate(
            """(ix) => window.switchboard.conn.request({
              type: "create_case", subject: "Refund", interaction: ix,
              email: "dana@example.com", new_contact: { name: "Dana Refund" },
            })""",
            ix,
        )
        number_of_case = case["case"]["number"]
        await page.locator(".end-call").click()
        await page.get_by_role("button", name="Hang up").last.click()
        await expect(page.locator(".call-ws .call-state")).to_have_text("Ended")
    finally:
        sim.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sim

    item = page.locator(f"#call-list .ix-item[data-interaction='{ix}']")
    await expect(item).to_be_visible()
    await expect(item).to_have_attribute("data-direction", "inbound")
    await expect(item).to_have_attribute("data-case", number_of_case)
    await expect(item.locator(".ix-title")).to_have_text("Dana Refund")
    await expect(item.locator(".ix-sub").first).to_contain_text(number)
    await expect(item.locator(".call-case")).to_have_text(f"Case {number_of_case}")
    await expect(page.locator("#active-list .ix-item[data-channel=call]")).to_have_count(0)
    # The server's record of the call names the case too; the item opens the call.
    record = await page.evaluate(
        "(ix) => window.switchboard.conn.request({ type: 'get_call', interaction: ix })", ix
    )
    assert record["record"]["case"] == number_of_case
    await item.click()
    await expect(page.locator(".call-ws .call-state")).to_have_text("Ended")
