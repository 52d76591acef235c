import os
from abacus.demo.seed import seed_demo, seed_demo_commits
from tests.browser.conftest import dev_sign_in, settled

JS = """(sel) => { const out=[]; let e=document.querySelector(sel); while(e){ const r=e.getBoundingClientRect();
 const cs=getComputedStyle(e); out.push(e.tagName+'.'+e.className+' w='+Math.round(r.width)+' ov='+cs.overflowX+' disp='+cs.display+' minw='+cs.minWidth); e=e.parentElement;} return out; }"""

WIDE = """() => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect(); if (r.right <= innerWidth + 1 || !r.width) return false;
  for (let p = e.parentElement; p; p = p.parentElement) { if (getComputedStyle(p).overflowX !== 'visible') return getComputedStyle(e).position === 'absolute'; }
  return true; }).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ' ' + getComputedStyle(e).position + ' in ' + e.parentElement.tagName + '.' + e.parentElement.className + ' < ' + e.parentElement.parentElement.className + ' :: ' + e.textContent.slice(0,60))"""

def test_debug(app, live_server, page):
    with app.app_context():
        seed_demo(people=14, days=60, seed=5)
        seed_demo_commits(people=14, days=60, seed=5)
    dev_sign_in(page, live_server)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, sel in [p.split(" ", 1) for p in os.environ["DBG"].split(";")]:
        page.goto(live_server + path)
        settled(page)
        print(path, page.evaluate('document.documentElement.scrollWidth'), page.evaluate(WIDE))
        page.screenshot(path=f"/tmp/uiedges/dbg-{path.strip('/').replace('/','-').split('?')[0]}.png")
