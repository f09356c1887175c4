"""A supervisor's cases in a real browser: find any case, work it on the
case page, and manage case queues and customer notification texts."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from protocol.cases import CreateCase, GetCase, GetCaseLookups, ListCases

pytestmark = pytest.mark.browser


async def test_supervisor_finds_and_works_any_case(web) -> None:
    """Cases of any queue, filtered by queue and status; the case page moves one
    along the status table, and the list shows the change."""
    bob = await web.agent("bob")
    first = (await bob.request(CreateCase(id=0, subject="Broken hinge", queue="service"))).case
    second = (await bob.request(CreateCase(id=0, subject="Refund", queue="second_line"))).case
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Cases", exact=True).click()
    panel = page.locator("#panel-cases")
    await panel.get_by_role("button", name="Search").click()
    await expect(panel.locator(f"tr[data-case={first.number}]")).to_contain_text("Broken hinge")
    await expect(panel.locator(f"tr[data-case={second.number}]")).to_contain_text("Second line")

    await panel.get_by_label("Case queue").select_option("second_line")
    await panel.get_by_role("button", name="Search").click()
    await expect(panel.locator(f"tr[data-case={first.number}]")).to_have_count(0)
    await expect(panel.locator(f"tr[data-case={second.number}]")).to_be_visible()
    await panel.get_by_label("Case queue").select_option("")
    await panel.get_by_role("button", name="Search").click()

    # Open it: the agents' case page, in the tab, with the supervisor's moves.
    await panel.get_by_role("button", name=first.number).click()
    ws = panel.locator(f".case-ws[data-case={first.number}]")
    await expect(ws.locator(".case-status")).to_have_text("New")
    await expect(panel.locator(".sv-case-details")).to_contain_text("Details")
    await ws.get_by_label("Comment").fill("Waiting for a photo of the hinge")
    await ws.locator(".status-bar .status-to[data-status=waiting_for_response]").click()
    await expect(ws.locator(".case-status")).to_have_text("Waiting for response")
    await expect(ws.locator(".case-event[data-action=comment]")).to_contain_text(
        "photo of the hinge"
    )
    detail = await bob.request(GetCase(id=0, case=first.number))
    assert detail.case.status == "waiting_for_response"
    assert [e.by for e in detail.history if e.action == "status"][-1] == "sam"

    # A case that came by letter: registered here, and its page opens.
    await panel.get_by_role("button", name="New case").click()
    dialog = page.locator("dialog.modal")
    await dialog.get_by_label("Subject").fill("Letter about a lost parcel")
    await dialog.get_by_label("Case queue").select_option("second_line")
    await dialog.get_by_label("Priority").select_option("high")
    await dialog.get_by_label("Notify email").fill("yara@example.com")
    await dialog.get_by_role("button", name="Register case").click()
    await expect(dialog).to_have_count(0)
    letter = panel.locator(".case-ws .case-title")
    await expect(letter).to_have_text("Letter about a lost parcel")
    third = await panel.locator(".case-ws").get_attribute("data-case")
    made = (await bob.request(GetCase(id=0, case=str(third)))).case
    assert (made.queue, made.priority, made.email, made.created_by) == (
        "second_line",
        "high",
        "yara@example.com",
        "sam",
    )
    await panel.get_by_role("button", name="All cases").click()
    await panel.locator(f"tr[data-case={first.number}]").get_by_role("button").click()

    # Back to the list, filtered by the new status.
    await ws.get_by_role("button", name="All cases").click()
    await panel.get_by_label("Status").select_option("waiting_for_response")
    await panel.get_by_role("button", name="Search").click()
    row = panel.locator(f"tr[data-case={first.number}]")
    await expect(row).to_have_attribute("data-status", "waiting_for_response")
    await expect(panel.locator(f"tr[data-case={second.number}]")).to_have_count(0)


async def test_supervisor_manages_case_queues_and_notifications(web) -> None:
    """A new case queue with its members and service levels, an edited one, and
    an edited notification text: all stored on the server, and agents see the
    new queue."""
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Case settings").click()
    panel = page.locator("#panel-case-settings")
    await expect(panel.locator("tr[data-case-queue=service]")).to_contain_text("alice, bob, carol")

    await panel.get_by_role("button", name="New case queue").click()
    dialog = page.locator("dialog.modal")
    await dialog.get_by_label("Id").fill("returns")
    await dialog.get_by_label("Name").fill("Returns desk")
    await dialog.get_by_label("Agents take").select_option("next")
    # fill("") first: in Firefox (WebDriver BiDi), fill() adds to a number field's value.
    for name, value in (("First response (hours)", "2"), ("Resolution (hours)", "48")):
        await dialog.get_by_label(name).fill("")
        await dialog.get_by_label(name).fill(value)
    await dialog.get_by_label("Members").fill("alice, carol")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_have_count(0)
    row = panel.locator("tr[data-case-queue=returns]")
    await expect(row).to_contain_text("Returns desk")
    await expect(row).to_contain_text("next only")
    await expect(row.locator(".cq-members")).to_have_text("alice, carol")

    # A bad value is refused in the dialog and changes nothing.
    await panel.get_by_role("button", name="Edit case queue service").click()
    await dialog.get_by_label("Members").fill("alice, no such agent!")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator(".form-error")).to_be_visible()
    await dialog.get_by_role("button", name="Close").click()
    await expect(panel.locator("tr[data-case-queue=service] .cq-members")).to_have_text(
        "alice, bob, carol"
    )

    alice = await web.agent("alice")
    lookups = await alice.request(GetCaseLookups(id=0))
    returns = next(q for q in lookups.queues if q.id == "returns")
    assert (returns.name, returns.take, returns.members) == (
        "Returns desk",
        "next",
        ["alice", "carol"],
    )
    assert (returns.response_hours, returns.resolution_hours) == (2, 48)
    service = next(q for q in lookups.queues if q.id == "service")
    assert service.members == ["alice", "bob", "carol"]
    created = await alice.request(CreateCase(id=0, subject="Wrong size", queue="returns"))
    listed = await alice.request(ListCases(id=0, queue="returns"))
    assert [c.number for c in listed.cases] == [created.case.number]

    # A notification text (read back by signing sam in as a client, at the
    # end: that signs the page out).
    trow = panel.locator("tr[data-mail-template]").first
    template_id = await trow.get_attribute("data-mail-template")
    await trow.get_by_role("button").click()
    body = await dialog.get_by_label("Text").input_value()
    assert "$number" in body or "$subject" in body
    await dialog.get_by_label("Subject").fill("Case $number: we are on it")
    await dialog.get_by_role("button", name="Save").click()
    await expect(trow.locator(".mt-subject")).to_have_text("Case $number: we are on it")
    sam = await web.agent("sam")
    stored = {t.id: t for t in (await sam.request(GetCaseLookups(id=0))).mail_templates}
    assert stored[template_id].subject == "Case $number: we are on it"
    assert stored[template_id].body == body


async def focus_by_tab(page, test: str, most: int = 12) -> None:
    """Press Tab until ``test`` (a JS expression on ``el``) holds for the focus."""
    for _ in range(most):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"(el => {test})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached {test}")


async def test_supervisor_cases_by_keyboard(web) -> None:
    """The tabs move with the arrow keys, Home and End; a case is found, opened
    and left again with the keyboard alone."""
    bob = await web.agent("bob")
    case = (await bob.request(CreateCase(id=0, subject="Keyboard case", queue="service"))).case
    page = await web.page()
    await web.login(page, "sam")
    await page.get_by_role("tab", name="Dashboard").focus()
    await page.keyboard.press("End")
    await expect(page.get_by_role("tab", name="API keys")).to_be_focused()
    await expect(page.locator("#panel-keys")).to_be_visible()
    await page.keyboard.press("Home")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    cases_tab = page.get_by_role("tab", name="Cases", exact=True)
    await expect(cases_tab).to_be_focused()
    await expect(cases_tab).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#panel-cases")).to_be_visible()
    await expect(page.locator("#panel-dashboard")).to_be_hidden()

    await focus_by_tab(page, "el.type === 'submit' && el.textContent === 'Search'")
    await page.keyboard.press("Enter")
    await focus_by_tab(page, f"el.textContent === '{case.number}'")
    await page.keyboard.press("Enter")
    ws = page.locator(f"#panel-cases .case-ws[data-case={case.number}]")
    await expect(ws.locator(".case-status")).to_have_text("New")
    await page.locator("#panel-cases .case-back").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#panel-cases tr[data-case]")).to_have_count(1)
