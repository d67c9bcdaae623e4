"""The cells card and the dashboard in Chromium, against Home Assistant on the simulator.

For packs of 4, 16 and 24 cells: the card draws every cell, marks the lowest and the
highest cell and the balancing cells exactly as Home Assistant's states say, opens a
cell's more-info on a tap, has a visual editor, and no view of the dashboard shows an
error card or logs a console error, at desktop and at phone width.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from browser_tests.conftest import SIZES, Stack, screenshot

pytestmark = pytest.mark.timeout(600)

CARD = "victron-balance-cells-card"
VIEWS = ("battery", "charging", "system", "ev-charger", "balancer")
LOAD_MS = 60_000

# Read in the page: what the card marks, and what Home Assistant's states say, at once.
CARD_VS_STATES = """
(card) => {
  const cells = [...card.shadowRoot.querySelectorAll(".cell")];
  const marked = (cls) =>
    cells.filter((c) => c.classList.contains(cls)).map((c) => Number(c.dataset.cell));
  const hass = card.hass;
  const voltages = [];
  const balancing = [];
  for (const [id, entry] of Object.entries(hass.entities)) {
    if (entry.platform !== "victron_balance" || entry.translation_key !== "cell_voltage") continue;
    const state = hass.states[id];
    if (!state || state.state === "unavailable") continue;
    voltages.push([state.attributes.cell, Number(state.state)]);
    if (state.attributes.balancing === true) balancing.push(state.attributes.cell);
  }
  voltages.sort((a, b) => a[0] - b[0]);
  const values = voltages.map((v) => v[1]);
  const low = Math.min(...values), high = Math.max(...values);
  let active = null;
  for (const [id, entry] of Object.entries(hass.entities)) {
    if (entry.platform === "victron_balance" && entry.translation_key === "balancer_active_cell") {
      const value = Number(hass.states[id]?.state);
      active = Number.isFinite(value) ? value : null;
    }
  }
  return {
    card: {min: marked("min"), max: marked("max"), bms: marked("bms-balancing"),
           relay: marked("relay-active"), cells: cells.map((c) => Number(c.dataset.cell))},
    states: {min: [voltages.find((v) => v[1] === low)[0]],
             max: [voltages.find((v) => v[1] === high)[0]],
             bms: balancing.sort((a, b) => a - b), relay: active === null ? [] : [active],
             cells: voltages.map((v) => v[0])},
  };
}
"""


def goto_view(page: Page, stack: Stack, view: str) -> None:
    page.goto(f"{stack.url}/victron-balance/{view}", wait_until="domcontentloaded")
    expect(page.locator("hui-view, hui-masonry-view, hui-sections-view").first).to_be_attached(
        timeout=LOAD_MS
    )


def no_error_cards(page: Page, view: str) -> None:
    """No error card and no entity warning once the view has settled.

    The frontend shows an error card for a custom card whose module has not loaded yet
    and swaps the card in once the element is defined: wait up to a minute for that.
    """
    problems = page.locator("hui-error-card, hui-warning")
    try:
        expect(problems).to_have_count(0, timeout=LOAD_MS)
    except AssertionError:
        texts = problems.evaluate_all("(all) => all.map((e) => (e.shadowRoot || e).textContent)")
        raise AssertionError(f"view {view} shows errors: {texts}") from None


def consistent(page: Page) -> dict[str, Any]:
    """Poll until the card's marks match the states (the card renders a moment later)."""
    card = page.locator(CARD).first
    last: dict[str, Any] = {}
    for _ in range(100):
        last = card.evaluate(CARD_VS_STATES)
        if last["card"] == last["states"]:
            return last
        page.wait_for_timeout(100)  # a render frame, not a wait for the simulation
    raise AssertionError(f"the card does not show the states: {last}")


def test_card_shows_every_cell_min_max_and_balancing(stack: Stack, open_page: Any) -> None:
    page, console = open_page("desktop")
    goto_view(page, stack, "battery")
    cells = page.locator(f"{CARD} .cell")
    expect(cells).to_have_count(stack.cells, timeout=LOAD_MS)
    shown = consistent(page)
    assert shown["card"]["cells"] == list(range(1, stack.cells + 1))
    assert len(shown["card"]["min"]) == 1
    assert len(shown["card"]["max"]) == 1
    assert shown["card"]["min"] != shown["card"]["max"]
    # The demo's BMS bleeds every cell 10 mV above the lowest (a JK BMS's default), so
    # wait for a state with balancing cells and check the card marks exactly those.
    for _ in range(300):
        shown = consistent(page)
        if shown["card"]["bms"]:
            break
        page.wait_for_timeout(100)
    assert shown["card"]["bms"], "no cell was marked as balancing"
    header = page.locator(f"{CARD} .header")
    expect(header).to_contain_text("mV")
    expect(header).to_contain_text("V")
    screenshot(page, stack, "cells-card")
    assert console.errors == []


def test_tapping_a_cell_opens_its_more_info(stack: Stack, open_page: Any) -> None:
    page, _console = open_page("desktop")
    goto_view(page, stack, "battery")
    page.locator(f'{CARD} .cell[data-cell="2"]').first.click()
    dialog = page.locator("ha-more-info-dialog")
    expect(dialog).to_be_attached(timeout=LOAD_MS)
    expect(dialog).to_contain_text("2", timeout=LOAD_MS)
    expect(dialog).to_contain_text("voltage", timeout=LOAD_MS)


def test_the_visual_editor_opens(stack: Stack, open_page: Any) -> None:
    if stack.cells != 16:
        pytest.skip("the editor does not depend on the cell count")
    page, console = open_page("desktop")
    page.goto(f"{stack.url}/lovelace/0?edit=1", wait_until="domcontentloaded")
    expect(page.locator(f"{CARD} .cell").first).to_be_attached(timeout=LOAD_MS)
    options = page.locator("hui-card-options")
    expect(options.first).to_be_attached(timeout=LOAD_MS)  # the dashboard is in edit mode
    options.get_by_text("Edit", exact=True).first.click()
    editor = page.locator(f"{CARD}-editor")
    expect(editor).to_be_attached(timeout=LOAD_MS)
    expect(editor.locator("ha-form").first).to_be_attached(timeout=LOAD_MS)
    expect(editor.locator("ha-selector-device")).to_be_attached(timeout=LOAD_MS)
    # The preview beside the editor is the card itself.
    expect(page.locator(f"hui-dialog-edit-card {CARD} .cell")).to_have_count(
        stack.cells, timeout=LOAD_MS
    )
    screenshot(page, stack, "cells-card-editor")
    assert console.errors == []


@pytest.mark.parametrize("size", list(SIZES))
def test_dashboard_views_have_no_errors(stack: Stack, open_page: Any, size: str) -> None:
    page, console = open_page(size)
    for view in VIEWS:
        goto_view(page, stack, view)
        # Cards appear as the frontend loads them; entity rows fill in from the states.
        page.wait_for_load_state("networkidle")
        no_error_cards(page, view)
        if view in ("battery", "balancer"):
            card = page.locator(CARD).first
            expect(card.locator(".cell")).to_have_count(stack.cells, timeout=LOAD_MS)
            # Usable at phone width: the card is no wider than the screen.
            width = card.evaluate("(c) => c.getBoundingClientRect().width")
            assert width <= SIZES[size][0]
            overflow = card.evaluate(
                "(c) => { const r = c.shadowRoot.querySelector('ha-card');"
                " return r.scrollWidth - r.clientWidth; }"
            )
            assert overflow <= 0
        screenshot(page, stack, f"{view}-{size}")
    assert console.errors == [], console.errors


def test_the_device_page_lists_cells_in_number_order(stack: Stack, open_page: Any) -> None:
    if stack.cells != 16:
        pytest.skip("one pack with cells 1-9 and 10-16 shows the order")
    page, console = open_page("desktop")
    goto_view(page, stack, "battery")
    device = page.evaluate(
        "() => Object.values(document.querySelector('home-assistant').hass.entities)"
        ".find((e) => e.translation_key === 'cell_voltage').device_id"
    )
    page.goto(f"{stack.url}/config/devices/device/{device}", wait_until="domcontentloaded")
    # Entity rows of the device page, in the order the page shows them.
    rows = page.locator("div.info").filter(has_text=re.compile(r"Cell\s+\d+ voltage"))
    expect(rows).to_have_count(stack.cells, timeout=LOAD_MS)
    shown = [int(re.findall(r"\d+", text)[0]) for text in rows.all_inner_texts()]
    assert shown == list(range(1, stack.cells + 1))
    screenshot(page, stack, "battery-device-page")
    assert console.errors == []


def test_the_energy_dashboard_is_configured(stack: Stack, open_page: Any) -> None:
    if stack.cells != 16:
        pytest.skip("the Energy dashboard does not depend on the cell count")
    page, console = open_page("desktop")
    page.goto(f"{stack.url}/energy", wait_until="domcontentloaded")
    expect(page.locator("hui-energy-distribution-card")).to_be_attached(timeout=LOAD_MS)
    expect(page.locator("hui-energy-distribution-card")).to_contain_text("Solar", timeout=LOAD_MS)
    expect(page.locator("hui-energy-distribution-card")).to_contain_text("Battery", timeout=LOAD_MS)
    page.wait_for_load_state("networkidle")
    screenshot(page, stack, "energy")
    assert console.errors == []


def test_the_card_loads_when_its_module_runs_before_the_frontend(
    stack: Stack, open_page: Any
) -> None:
    """The card's module may run before the frontend's app (both are imported at once).

    The app replaces `window.customElements` with a scoped-registry polyfill; a card
    defined before that was invisible to Lovelace (an error card until a reload, on
    about one fresh page load in three). Here the app is held back until the card's
    module has been served, so the card's module always runs first.
    """
    if stack.cells != 16:
        pytest.skip("the load order does not depend on the cell count")
    page, console = open_page("desktop")
    held: list[Any] = []
    card_served = False

    def hold_app(route: Any) -> None:
        if card_served:
            route.continue_()
        else:
            held.append(route)

    def serve_card_then_app(route: Any) -> None:
        nonlocal card_served
        route.continue_()
        card_served = True
        while held:
            held.pop().continue_()

    page.route(re.compile(r"/frontend_latest/app\.[0-9a-f]+\.js"), hold_app)
    page.route(re.compile(r"/victron-balance-cells-card\.js"), serve_card_then_app)
    goto_view(page, stack, "battery")
    assert card_served
    expect(page.locator(f"{CARD} .cell")).to_have_count(stack.cells, timeout=LOAD_MS)
    expect(page.locator("hui-error-card")).to_have_count(0, timeout=LOAD_MS)
    assert console.errors == []
