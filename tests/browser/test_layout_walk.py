"""Every page at desktop (1440) and phone (390) width, with demo data, signed in as an admin:
no horizontal page scroll, chart text drawn at its own proportions (not stretched with the
plot), the nav and Admin reachable on a phone, popovers that close on Apply and outside
clicks. Screenshots go to a temporary folder (printed) for a person to look at."""

from __future__ import annotations

import tempfile
from pathlib import Path

from abacus.demo.seed import seed_demo, seed_demo_commits
from tests.browser.conftest import dev_sign_in, settled

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(tempfile.gettempdir()) / "abacus-layout-walk"

# (path, a heading the page shows)
PAGES = [
    ("/?days=30", "Overview"), ("/team?days=30", "Team"), ("/usage?days=30", "Usage"),
    ("/usage?days=30&view=tools", "Usage"), ("/commits?days=30", "Commits"),
    ("/status", "Status"), ("/seats", "Seats"), ("/budgets", "Budgets"),
    ("/incidents", "Incidents"), ("/admin", "Admin"), ("/admin/accounts", "Accounts"),
    ("/admin/identities", "Identity mapping"), ("/admin/pricing", "Pricing"),
    ("/admin/people", "People and roles"), ("/admin/upload", "Admin"),
    ("/users/ada.lovelace@example.com?days=30", "ada.lovelace"),
    # Teams, roles, tokens and telemetry (issues 17, 19, 21).
    ("/team?days=30&by=team", "Team"), ("/chargeback", "Chargeback"),
    ("/admin/teams", "Teams"), ("/admin/api-tokens", "API tokens"),
    ("/admin/ingest-tokens", "Ingest tokens"), ("/admin/access-log", "Access log"),
]
# The pages those issues added, walked again in the dark theme.
NEW_PAGES = PAGES[-6:]

# For every <text> in a chart: its horizontal and vertical scale on screen (getScreenCTM).
# Text drawn at its own proportions has equal scales; a stretched viewBox makes them differ.
TEXT_SCALES = """() => [...document.querySelectorAll('figure.chart svg text, svg text')]
  .filter(t => t.getBBox().width > 0)
  .map(t => { const m = t.getScreenCTM();
              return [t.textContent, Math.hypot(m.a, m.b), Math.hypot(m.c, m.d)]; })"""

# The page's width, and what sticks out of the window (outside any scrolling box, or an
# absolute element escaping one): the culprits when the page scrolls sideways.
OVERFLOW = """() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
  wide: [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    if (r.right <= innerWidth + 1 || !r.width) return false;
    for (let p = e.parentElement; p; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible')
        return getComputedStyle(e).position === 'absolute'; }
    return true; }).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
})"""


def _check_page(page, base: str, path: str, heading: str, size: dict, label: str) -> list[str]:
    """What is wrong with `path` at `size` (nothing: [])."""
    page.set_viewport_size(size)
    page.goto(base + path)
    page.get_by_role("heading", name=heading, exact=False).first.wait_for()
    settled(page)
    SHOTS.mkdir(exist_ok=True)
    name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
    name += "-tools" if "view=" in path else ""
    page.screenshot(path=str(SHOTS / f"{name}-{label}.png"))
    page.screenshot(path=str(SHOTS / f"{name}-{label}-full.png"), full_page=True)
    wrong = []
    overflow = page.evaluate(OVERFLOW)
    if overflow["scroll"] > overflow["inner"]:
        wrong.append(f"{path} at {size['width']}: scrolls sideways {overflow}")
    for text, sx, sy in page.evaluate(TEXT_SCALES):
        if abs(sx / sy - 1) > 0.05:
            wrong.append(f"{path} at {size['width']}: {text!r} drawn {sx:.2f}×{sy:.2f}")
    return wrong


def _seed_teams(app) -> None:
    """Two teams (one inside the other) over the demo people, so team views have rows."""
    from datetime import date

    from abacus.extensions import db
    from abacus.teams import tree

    with app.app_context():
        platform = tree.create_team("Platform", cost_centre="CC-100")
        payments = tree.create_team("Payments", parent=platform, cost_centre="CC-200")
        tree.add_membership(platform, "ada.lovelace@example.com", date(2020, 1, 1), lead=True)
        tree.add_membership(payments, "ben.kim@example.com", date(2020, 1, 1))
        db.session.commit()


def test_every_page_fits_desktop_and_phone(app, live_server, page):
    with app.app_context():
        seed_demo(people=14, days=60, seed=5)
        seed_demo_commits(people=14, days=60, seed=5)
    _seed_teams(app)
    dev_sign_in(page, live_server)
    charts, wrong = 0, []
    for path, heading in PAGES:
        for size, label in ((WIDE, "desktop"), (PHONE, "phone")):
            wrong += _check_page(page, live_server, path, heading, size, label)
        charts += page.locator("figure.chart .chart-svg").count()
    assert not wrong, "\n".join(wrong)
    assert charts >= 4  # overview, usage ×2, commits, person: the aspect check saw charts
    print(f"screenshots: {SHOTS}")
    assert page.problems == []


def test_new_pages_fit_in_the_dark_theme_too(app, live_server, page):
    with app.app_context():
        seed_demo(people=8, days=40, seed=5)
    _seed_teams(app)
    page.emulate_media(color_scheme="dark")
    dev_sign_in(page, live_server)
    wrong = []
    for path, heading in NEW_PAGES:
        for size, label in ((WIDE, "dark-desktop"), (PHONE, "dark-phone")):
            wrong += _check_page(page, live_server, path, heading, size, label)
    assert not wrong, "\n".join(wrong)
    assert page.problems == []


def test_phone_nav_reaches_every_page_and_admin(app, live_server, page):
    with app.app_context():
        seed_demo(people=4, days=10, seed=5)
    dev_sign_in(page, live_server)
    page.set_viewport_size(PHONE)
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Overview", "Team", "Usage", "Commits", "Status", "Admin"):
        link = nav.get_by_role("link", name=name, exact=True)
        assert link.is_visible(), name
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
    nav.get_by_role("link", name="Admin", exact=True).click()
    page.wait_for_url(live_server + "/admin")
    assert page.locator(".mainnav a[aria-current=page]").text_content() == "Admin"
    # the CSV upload tab stays inside Admin: its tabs, and Admin current in the main nav
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="CSV upload").click()
    page.wait_for_url(live_server + "/admin/upload")
    page.get_by_role("navigation", name="Admin sections").wait_for()
    assert page.locator(".mainnav a[aria-current=page]").text_content() == "Admin"
    assert page.problems == []


def test_popovers_close_on_apply_and_outside_clicks(app, live_server, page):
    with app.app_context():
        seed_demo(people=6, days=30, seed=5)
    dev_sign_in(page, live_server, then="/usage?days=30")
    custom = page.locator("details.range-custom")
    custom.locator("summary").click()
    assert custom.get_attribute("open") is not None
    page.get_by_role("heading", name="Usage", exact=True).click()  # anywhere else
    assert custom.get_attribute("open") is None
    custom.locator("summary").click()
    page.keyboard.press("Escape")
    assert custom.get_attribute("open") is None
    custom.locator("summary").click()
    today = page.locator("input[name=end]").input_value()
    page.locator("input[name=start]").fill(today[:8] + "01")
    custom.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/usage?start=*")
    settled(page)
    custom = page.locator("details.range-custom")
    assert custom.get_attribute("open") is None  # Apply closes it, also after the new page
    assert custom.locator("summary").get_attribute("aria-current") == "true"

    page.goto(live_server + "/team?days=30")
    columns = page.locator("details.col-chooser")
    columns.locator("summary").click()
    assert columns.get_attribute("open") is not None
    columns.get_by_label("Input").check()  # a click inside keeps it open
    assert columns.get_attribute("open") is not None
    page.locator("h1").first.click()
    assert columns.get_attribute("open") is None
    assert page.problems == []


def test_team_filter_reacts_to_paste_and_the_sorted_column_shows_on_a_phone(app, live_server,
                                                                            page):
    with app.app_context():
        seed_demo(people=8, days=30, seed=5)
    dev_sign_in(page, live_server, then="/team?days=30")
    # fill() types nothing: it sets the value and fires `input`, as a paste does
    page.get_by_placeholder("Filter by e-mail or identity").fill("ada")
    page.wait_for_url("**q=ada*")
    settled(page)
    assert page.locator("#team-results tbody tr").count() >= 1

    page.set_viewport_size(PHONE)
    page.goto(live_server + "/team?days=30&sort=last&dir=desc")
    settled(page)
    page.wait_for_function("() => document.querySelector('#team-results .table-wrap')"
                           ".scrollLeft > 0")
    wrap = page.locator("#team-results .table-wrap").bounding_box()
    sorted_th = page.locator("#team-results th[aria-sort]").bounding_box()
    assert wrap and sorted_th
    assert sorted_th["x"] >= wrap["x"] and sorted_th["x"] + sorted_th["width"] <= (
        wrap["x"] + wrap["width"] + 1)
    # and the box shows that it scrolls: faded on the side with more columns
    assert "fade-left" in (page.locator("#team-results .table-wrap").get_attribute("class")
                           or "")
    assert page.problems == []
