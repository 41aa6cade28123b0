"The app in a real browser: `mlenb app` served by Voila on 127.0.0.1, driven by Playwright with Debian's Chromium."
import os, pathlib, re, signal, socket, subprocess, sys, time
import pytest

pytestmark = pytest.mark.browser
CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run']
SHOTS = pathlib.Path(__file__).resolve().parent.parent / 'artifacts' / 'screenshots'   # not committed (.gitignore)


def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='module')
def app_url():
    "Start `mlenb app` on a free port, wait until it answers, stop it with Ctrl-C afterwards."
    if not os.path.exists(CHROMIUM): pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    port = free_port()
    proc = subprocess.Popen([str(pathlib.Path(sys.executable).with_name('mlenb')), 'app', '--port', str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    url = f'http://127.0.0.1:{port}/'
    for _ in range(120):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1): break
        except OSError: time.sleep(.5)
        if proc.poll() is not None: pytest.fail(f"mlenb app exited: {proc.stdout.read()}")
    yield url
    proc.send_signal(signal.SIGINT)                      # what Ctrl-C does
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and 'stopped' in out, out


@pytest.fixture(scope='module')
def page(app_url):
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={'width': 1300, 'height': 950})
        page.goto(app_url, timeout=180_000)
        page.locator('.mlenb-em .mlenb-status').wait_for(timeout=180_000)   # the kernel ran and drew the panel
        yield page
        browser.close()


def loglik(text:str)->float: return float(re.search(r'mean log-likelihood (-?[\d.]+)', text).group(1))


def test_em_tab_steps_and_the_page_shows_a_higher_log_likelihood(page):
    em = page.locator('.mlenb-em')
    status = em.locator('.mlenb-status')
    before = status.inner_text()
    assert 'snapshot 0/0' in before
    for i in range(1, 4):
        em.get_by_role('button', name='Step', exact=True).click()
        page.wait_for_function(f"document.querySelector('.mlenb-em .mlenb-status').innerText.includes('snapshot {i}/{i}')", timeout=60_000)
    after = status.inner_text()
    assert loglik(after) > loglik(before)
    assert em.locator('.js-plotly-plot').count() == 1      # the figure is drawn in the page
    page.screenshot(path=str(SHOTS / 'em.png'), full_page=True)


def test_em_errors_show_in_the_page(page):
    em = page.locator('.mlenb-em')
    em.get_by_role('button', name='M-step', exact=True).click()
    # wait for the first M-step to be drawn: a click that lands while the kernel has the buttons disabled is dropped
    page.wait_for_function("document.querySelector('.mlenb-em .mlenb-status').innerText.includes('(M)')", timeout=60_000)
    em.get_by_role('button', name='M-step', exact=True).click()          # a second M-step needs an E-step first
    page.wait_for_function("document.querySelector('.mlenb-em .mlenb-message').innerText.includes('failed')", timeout=60_000)
    em.get_by_role('button', name='Step', exact=True).click()            # the panel is still usable
    page.wait_for_function("document.querySelector('.mlenb-em .mlenb-message').innerText === ''", timeout=60_000)


def flow_step(page)->int: return int(re.search(r'step (\d+)', page.locator('.mlenb-flow .mlenb-status').inner_text()).group(1))


def test_flows_tab_trains_and_the_loss_falls(page):
    page.get_by_role('tab', name='Flows').click()
    flow = page.locator('.mlenb-flow')
    status = flow.locator('.mlenb-status')
    status.wait_for(timeout=60_000)
    kl = lambda: float(re.search(r'KL (-?[\d.]+)', status.inner_text()).group(1))
    before = kl()
    for i in range(1, 4):                                 # each click: 50 steps, drawn chunk by chunk; then Train again
        flow.get_by_role('button', name='Train', exact=True).click()
        page.wait_for_function(f"/step {50 * i} /.test(document.querySelector('.mlenb-flow .mlenb-status').innerText)", timeout=120_000)
        flow.get_by_role('button', name='Train', exact=True).wait_for(timeout=60_000)
    assert kl() < before                                   # the flow moved towards the target
    assert flow.locator('.js-plotly-plot').count() == 1
    page.screenshot(path=str(SHOTS / 'flows.png'), full_page=True)


def test_flows_tab_stop_ends_a_long_training_run(page):
    "The kernel handles the Stop click while it trains: a 5,000-step run ends early, and the panel stays usable."
    flow = page.locator('.mlenb-flow')
    start = flow_step(page)
    steps = flow.locator('.mlenb-steps input')
    steps.fill('5000'); steps.press('Enter')
    flow.get_by_role('button', name='Train', exact=True).click()
    page.wait_for_function("document.querySelector('.mlenb-flow .mlenb-message').innerText.includes('of 5000 steps')", timeout=60_000)
    page.screenshot(path=str(SHOTS / 'flows-training.png'), full_page=True)
    flow.get_by_role('button', name='Stop', exact=True).click()
    page.wait_for_function("document.querySelector('.mlenb-flow .mlenb-message').innerText.includes('stopped after')", timeout=60_000)
    done = int(re.search(r'stopped after (\d+) of 5000', flow.locator('.mlenb-message').inner_text()).group(1))
    assert 0 < done < 5000 and flow_step(page) == start + done
    flow.get_by_role('button', name='Train', exact=True).wait_for(timeout=10_000)   # the button is Train again


def test_decoding_tab_shows_one_row_per_rule(page):
    page.get_by_role('tab', name='Decoding').click()
    dec = page.locator('.mlenb-decoding')
    dec.locator('table.mlenb-rules').wait_for(timeout=60_000)
    select = dec.locator('select[multiple]')
    rules = select.evaluate("s => Array.from(s.selectedOptions).map(o => o.value)") + ['top_k']
    select.select_option(rules)                            # one more rule than the table built at start shows
    rules = select.evaluate("s => Array.from(s.selectedOptions).map(o => o.value)")   # in the list's order, as the table has them
    dec.get_by_role('button', name='Run', exact=True).click()
    page.wait_for_function(f"document.querySelector('.mlenb-decoding .mlenb-status').innerText.includes('{len(rules)} rules in')", timeout=120_000)
    rows = dec.locator('table.mlenb-rules tr')
    assert rows.count() == 1 + len(rules) >= 5
    first = [rows.nth(i).locator('td').first.inner_text() for i in range(1, rows.count())]
    assert first == list(rules)
    assert dec.locator('.js-plotly-plot g.trace.bars .point path').count() > 0   # the next-token bars are drawn
    page.screenshot(path=str(SHOTS / 'decoding.png'), full_page=True)
