"""The first hour on a fresh database (issue 19), in Chromium: sign in through the development
sign-in and become admin, upload a Cursor CSV export, map its identity to a person (one click
on the suggestion) and undo it, checking the page at each step. Screenshots:
tests/artifacts/first-hour-*.png."""

from __future__ import annotations

from tests.browser import test_status as status_tests
from tests.browser.conftest import settled, shoot
from tests.test_import_cursor_csv import VARIANTS, variant_rows, write_csv

worker = status_tests.worker  # a real RQ worker runs the import job
JOB_TIMEOUT_MS = status_tests.JOB_TIMEOUT_MS


def test_first_hour_admin_upload_map_and_undo(live_server, page, worker, tmp_path):
    base = live_server
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm on "Remove"

    # 1. Nobody is an admin yet: the development sign-in offers it, ticked.
    page.goto(base + "/auth/dev-login")
    admin_box = page.get_by_label("Sign in as admin")
    assert admin_box.is_checked()
    shoot(page, "first-hour-0-dev-sign-in")
    page.get_by_label("E-mail").fill("owner@example.com")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")
    nav_admin = page.get_by_role("navigation").get_by_role("link", name="Admin", exact=True)
    assert nav_admin.count() >= 1
    shoot(page, "first-hour-1-signed-in")

    # 2. Admin → CSV upload: a personal Cursor export (no User column) into a new account.
    page.goto(base + "/admin")
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="CSV upload").click()
    page.wait_for_url(base + "/admin/upload")
    header = VARIANTS["v3"]
    export = write_csv(tmp_path / "ana-usage.csv", header, variant_rows(header))
    page.get_by_label("CSV file").set_input_files(str(export))
    page.get_by_label("Account").fill("ana-laptop")
    page.get_by_role("button", name="Upload and import").click()
    done = page.locator("#jobs .job-card[data-job-state='finished']")
    done.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "Imported 5 rows into account ana-laptop: 5 new" in done.inner_text().replace(
        "\xa0", " ")
    shoot(page, "first-hour-2-uploaded")

    # Status counts the import as the account's last success.
    page.goto(base + "/status")
    card = page.locator(".account-card", has_text="ana-laptop")
    assert "last import just now (ana-usage.csv)" in card.inner_text()
    assert "no account has synced" not in page.locator(".status-strip").inner_text()

    # 3. Admin → Identities: the export's identity is unmapped, with a one-click suggestion
    #    guessed from the account's name (offered, not applied).
    page.goto(base + "/admin/identities")
    unmapped = page.locator("#unmapped")
    assert "seat:ana-laptop" in unmapped.inner_text()
    suggestion = unmapped.get_by_role("button", name="Assign seat:ana-laptop to ana@example.com")
    assert "a guess from the name" in unmapped.locator(".suggestion").first.inner_text()
    assert "Every identity has a person" not in unmapped.inner_text()
    shoot(page, "first-hour-3-unmapped")
    suggestion.click()
    page.wait_for_url(base + "/admin/identities")
    settled(page)
    notice = page.get_by_role("status").filter(has_text="seat:ana-laptop is now")
    assert "5 events re-attributed" in notice.inner_text()
    assert "Every identity has a person" in page.locator("#unmapped").inner_text()
    row = page.locator("#mapping-rows tr", has_text="seat:ana-laptop")
    assert "ana@example.com" in row.inner_text() and "owner@example.com" in row.inner_text()
    shoot(page, "first-hour-4-mapped")

    # The identity's old page now leads to the person.
    page.goto(base + "/users/seat:ana-laptop?days=365")
    page.wait_for_url(base + "/users/ana@example.com?days=365")

    # 4. Undo: remove the mapping; the usage is the identity's again, unmapped.
    page.goto(base + "/admin/identities")
    page.locator("#mapping-rows tr", has_text="seat:ana-laptop").get_by_role(
        "button", name="Remove").click()
    page.get_by_role("status").filter(has_text="moved back").wait_for()
    assert "5 records moved back to seat:ana-laptop" in page.get_by_role("status").filter(
        has_text="moved back").inner_text()
    assert "seat:ana-laptop" in page.locator("#unmapped").inner_text()
    assert page.locator("#mapping-rows tr", has_text="seat:ana-laptop").count() == 0
    shoot(page, "first-hour-5-undone")
    page.goto(base + "/users/seat:ana-laptop?days=365")
    assert page.url == base + "/users/seat:ana-laptop?days=365"  # its own page again

    assert worker.poll() is None
    assert page.problems == []
