import os
from abacus.demo.seed import seed_demo, seed_demo_commits
from tests.browser.conftest import dev_sign_in, settled


def test_debug(app, live_server, page):
    with app.app_context():
        seed_demo(people=14, days=60, seed=5)
        seed_demo_commits(people=14, days=60, seed=5)
    dev_sign_in(page, live_server)
    for w in (390,):
        page.set_viewport_size({"width": w, "height": 900})
        for path in os.environ["DBG"].split(";"):
            for dark in (False, True):
                page.emulate_media(color_scheme="dark" if dark else "light")
                page.goto(live_server + path)
                settled(page)
                name = path.strip('/').replace('/', '-').split('?')[0] or "overview"
                page.locator(os.environ.get("SEL", "figure.chart")).first.screenshot(
                    path=f"/tmp/uiedges/chart-{name}-{w}{'-dark' if dark else ''}.png")
