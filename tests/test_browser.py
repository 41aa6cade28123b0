"""The panels in a real browser, as a person meets them: the Voila app (`mlenb app`) and the panels in a JupyterLab
notebook, driven by Playwright with Debian's Chromium on a page whose CPU is slowed 4x (CDP's
`Emulation.setCPUThrottlingRate`). What is checked is what the page draws: the plot data plotly holds in the page."""
import json, os, pathlib, re, sys, tempfile
import pytest

import servers

pytestmark = pytest.mark.browser                # (make test runs these alone, after the rest)
CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run']
SHOTS = pathlib.Path(__file__).resolve().parent.parent / 'artifacts' / 'screenshots'   # not committed (.gitignore)
SLOW = 4                                                     # the page's CPU slowed this many times
WAIT = 240_000                                               # ms: generous, for a busy 2-core machine
BIN = pathlib.Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
PANELS_NB = {'cells': [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'source': src}
                       for i, src in enumerate(['from mlenb.widgets import EMPanel, FlowPanel, DecodingPanel\nEMPanel()',
                                                'FlowPanel()', 'DecodingPanel()'])],
             'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
             'nbformat': 4, 'nbformat_minor': 5}

# The traces plotly drew in the page, read from the plot's own state (x and y decoded from plotly's typed arrays).
PLOT_JS = """root => { const gd = document.querySelector(root + ' .js-plotly-plot');
  if (!gd || !gd._fullData) return null;
  const arr = v => (v && typeof v.length === 'number' && typeof v !== 'string') ? Array.from(v) : [];
  return gd._fullData.map(t => ({name: t.name, type: t.type, x: arr(t.x), y: arr(t.y),
                                 color: t.marker && Array.isArray(t.marker.color) ? t.marker.color : null})); }"""


def plot(page, root:str)->list[dict]|None:
    "The traces of the plot inside `root` (a CSS selector), as the page holds them."
    return page.evaluate(PLOT_JS, root)


def trace(page, root:str, name:str)->dict:
    return next(t for t in plot(page, root) if t['name'] == name)


KINDS = ['voila', 'lab', 'notebook']


def serve(kind:str)->tuple:
    "The app in Voila, or the three panels in a notebook in JupyterLab or Notebook 7: the server and the page's address."
    port, tmp = servers.free_port(), tempfile.mkdtemp(prefix='mlenb-browser-')
    if kind == 'voila':
        cmd, url = [str(BIN / 'mlenb'), 'app', '--port', str(port)], f'http://127.0.0.1:{port}/'
    else:
        (pathlib.Path(tmp) / 'panels.ipynb').write_text(json.dumps(PANELS_NB))
        cmd = [str(BIN / 'jupyter'), kind, '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1', '--allow-root',
               "--IdentityProvider.token=", f'--ServerApp.root_dir={tmp}', '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
        url = f'http://127.0.0.1:{port}/' + ('lab/tree' if kind == 'lab' else 'notebooks') + '/panels.ipynb'
    return servers.start(cmd, port, env={**ENV, 'JUPYTER_CONFIG_DIR': tmp, 'JUPYTERLAB_WORKSPACES_DIR': tmp}), url


def open_page(browser, kind:str, url:str):
    "A page on the served panels, CPU slowed 4x, with every console error and uncaught exception collected."
    page = browser.new_page(viewport={'width': 1300, 'height': 1150})
    page.errors, page.kind = [], kind                   # (Voila's template also links the Font Awesome it bundles from a
    offline = lambda text: 'ERR_NAME_NOT_RESOLVED' in text   # CDN; this machine has no internet, so that request fails)
    page.on('console', lambda m: m.type == 'error' and not offline(m.text) and page.errors.append(m.text))
    ours = lambda e: kind != 'notebook' or '/static/notebook/' not in (e.stack or '')   # Notebook 7's own start-up
    page.on('pageerror', lambda e: ours(e) and page.errors.append(f'{e} {(e.stack or "")[:300]}'))  # error ('schema'), on any notebook
    page.on('requestfailed', lambda r: r.url.startswith('http://127.0.0.1') and page.errors.append(f'{r.url}: {r.failure}'))
    page.context.new_cdp_session(page).send('Emulation.setCPUThrottlingRate', {'rate': SLOW})
    page.set_default_timeout(WAIT)                      # every click too: on a loaded machine a page drawing a flow while it
                                                        # trains took over Playwright's 30 s to take a click (CI, JupyterLab)
    page.goto(url, timeout=WAIT)
    if kind != 'voila':                                 # open the notebook and run it, as a person does
        page.locator('.jp-Notebook .jp-Cell').first.wait_for(timeout=WAIT)
        for attempt in range(4):                        # a Run All before the kernel is connected may be dropped: again
            page.get_by_role('menuitem', name='Run', exact=True).click()
            page.get_by_text('Run All Cells', exact=True).click()
            try: page.locator('.mlenb-em').wait_for(timeout=WAIT // 4); break
            except Exception: page.keyboard.press('Escape')
    page.locator('.mlenb-em .mlenb-status').wait_for(timeout=WAIT)   # the kernel ran and the panel is there
    page.wait_for_function("document.querySelector('.mlenb-em .js-plotly-plot')", timeout=WAIT)
    return page


@pytest.fixture(scope='session')
def pages():
    """Pages by kind, each served and opened on first use and kept to the end: the tests of one kind share one page, in
    their order, however the runner interleaves the kinds. Afterwards every server is stopped as Ctrl-C does, surely."""
    if not os.path.exists(CHROMIUM): pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    started, pw = {}, sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    def get(kind:str):
        if kind not in started:
            proc, url = serve(kind)
            started[kind] = proc
            started[kind, 'page'] = open_page(browser, kind, url)
        return started[kind, 'page']
    yield get
    browser.close(); pw.stop()
    clean = {k: servers.stop(started[k]) for k in KINDS if k in started}
    if clean.get('voila'):                              # on Ctrl-C in time, the app says goodbye and exits 0
        out = servers.output(started['voila'])
        assert started['voila'].returncode == 0 and 'stopped' in out, out


@pytest.fixture(params=KINDS)
def page(request, pages): return pages(request.param)


def tab(page, title:str):
    "In the Voila app, bring the panel's tab to the front (a notebook shows every panel)."
    if page.kind == 'voila': page.get_by_role('tab', name=title).click()


def shot(page, name:str):
    page.screenshot(path=str(SHOTS / f'{page.kind}-{name}.png'), full_page=page.kind == 'voila')


def number(text:str, label:str)->float: return float(re.search(label + r' (-?[\d.]+)', text).group(1))


def test_em_steps_and_the_page_draws_responsibilities_ellipses_and_the_staircase(page):
    tab(page, 'EM')
    em = page.locator('.mlenb-em')
    em.scroll_into_view_if_needed()
    status = em.locator('.mlenb-status')
    assert 'snapshot 0/0' in status.inner_text()
    n = len(trace(page, '.mlenb-em', 'data')['x'])
    for i in range(1, 4):                                   # a Step is two half-steps: M, then E
        em.get_by_role('button', name='Step', exact=True).click()
        page.wait_for_function(f"document.querySelector('.mlenb-em .mlenb-status').innerText.includes('snapshot {2 * i}/{2 * i}')", timeout=WAIT)
    page.wait_for_function("""() => { const gd = document.querySelector('.mlenb-em .js-plotly-plot');
        return gd && gd._fullData && gd._fullData.some(t => t.name.startsWith('log-likelihood') && t.y && t.y.length === 7); }""", timeout=WAIT)
    traces = plot(page, '.mlenb-em')
    colors = next(t for t in traces if t['name'] == 'data')['color']
    assert n >= 300 and colors is not None and len(colors) == n and len(set(colors)) > 10     # coloured by responsibilities
    ellipses = [t for t in traces if t['name'].startswith('component ')]
    assert len(ellipses) == 3 and all(sum(v is not None for v in t['x']) >= 100 for t in ellipses)   # 1- and 2-sigma rings
    curve = next(t for t in traces if t['name'].startswith('log-likelihood'))['y']
    assert all(b >= a - 1e-9 for a, b in zip(curve, curve[1:]))                                    # the staircase climbs
    assert round(curve[-1], 5) == number(status.inner_text(), 'mean log-likelihood')               # as the status line says
    assert curve[-1] > curve[0] + .1
    shot(page, 'em')


def test_em_errors_show_in_the_page_and_it_stays_usable(page):
    tab(page, 'EM')
    em = page.locator('.mlenb-em')
    em.get_by_role('button', name='M-step', exact=True).click()
    # wait for the M-step to be drawn: a click that lands while the kernel has the buttons disabled is dropped
    page.wait_for_function("document.querySelector('.mlenb-em .mlenb-status').innerText.includes('(M)')", timeout=WAIT)
    em.get_by_role('button', name='M-step', exact=True).click()          # a second M-step needs an E-step first
    page.wait_for_function("document.querySelector('.mlenb-em .mlenb-message').innerText.includes('failed')", timeout=WAIT)
    em.get_by_role('button', name='Step', exact=True).click()            # the panel is still usable: the error gives way to the hint
    page.wait_for_function("document.querySelector('.mlenb-em .mlenb-message').innerText.startsWith('Try first')", timeout=WAIT)


def flow_step(page)->int: return int(re.search(r'step (\d+)', page.locator('.mlenb-flow .mlenb-status').inner_text()).group(1))


def test_flows_train_adds_points_to_the_curve_and_the_kl_falls(page):
    tab(page, 'Flows')
    flow = page.locator('.mlenb-flow')
    flow.scroll_into_view_if_needed()
    status = flow.locator('.mlenb-status')
    status.wait_for(timeout=WAIT)
    page.wait_for_function("document.querySelector('.mlenb-flow .js-plotly-plot')", timeout=WAIT)
    before, points = number(status.inner_text(), 'KL'), len(trace(page, '.mlenb-flow', 'validation NLL')['y'])
    for i in range(1, 3):                                 # each click: 50 steps, drawn chunk by chunk; then Train again
        flow.get_by_role('button', name='Train', exact=True).click()
        page.wait_for_function(f"/step {50 * i} /.test(document.querySelector('.mlenb-flow .mlenb-status').innerText)", timeout=WAIT)
        flow.get_by_role('button', name='Train', exact=True).wait_for(timeout=WAIT)
    page.wait_for_function("""n => { const gd = document.querySelector('.mlenb-flow .js-plotly-plot');
        const t = gd && gd._fullData && gd._fullData.find(t => t.name === 'validation NLL'); return t && t.y.length > n + 1; }""", arg=points, timeout=WAIT)
    assert number(status.inner_text(), 'KL') < before                  # the flow moved towards the target
    samples = trace(page, '.mlenb-flow', 'samples')
    assert len(samples['x']) >= 100
    shot(page, 'flows')


def test_flows_stop_ends_a_long_training_run(page):
    "The kernel handles the Stop click while it trains: a 5,000-step run ends early, and the panel stays usable."
    tab(page, 'Flows')
    flow = page.locator('.mlenb-flow')
    start = flow_step(page)
    steps = flow.locator('.mlenb-steps input')
    steps.fill('5000'); steps.press('Enter')
    flow.get_by_role('button', name='Train', exact=True).click()
    page.wait_for_function("document.querySelector('.mlenb-flow .mlenb-message').innerText.includes('of 5000 steps')", timeout=WAIT)
    flow.get_by_role('button', name='Stop', exact=True).click()
    page.wait_for_function("document.querySelector('.mlenb-flow .mlenb-message').innerText.includes('stopped after')", timeout=WAIT)
    done = int(re.search(r'stopped after (\d+) of 5000', flow.locator('.mlenb-message').inner_text()).group(1))
    assert 0 < done < 5000 and flow_step(page) == start + done
    flow.get_by_role('button', name='Train', exact=True).wait_for(timeout=WAIT)   # the button is Train again
    steps.fill('50'); steps.press('Enter')


def test_decoding_run_fills_one_row_per_rule_and_draws_the_bars(page):
    tab(page, 'Decoding')
    dec = page.locator('.mlenb-decoding')
    dec.scroll_into_view_if_needed()
    dec.locator('table.mlenb-rules').wait_for(timeout=WAIT)
    select = dec.locator('select[multiple]')
    rules = select.evaluate("s => Array.from(s.selectedOptions).map(o => o.value)") + ['top_k']
    select.select_option(rules)                            # one more rule than the table built at start shows
    rules = select.evaluate("s => Array.from(s.selectedOptions).map(o => o.value)")   # in the list's order, as the table has them
    dec.get_by_role('button', name='Run', exact=True).click()
    page.wait_for_function(f"document.querySelector('.mlenb-decoding .mlenb-status').innerText.includes('{len(rules)} rules in')", timeout=WAIT)
    rows = dec.locator('table.mlenb-rules tr')
    assert rows.count() == 1 + len(rules) >= 5
    assert [rows.nth(i).locator('td').first.inner_text() for i in range(1, rows.count())] == list(rules)
    page.wait_for_function(f"""() => {{ const gd = document.querySelector('.mlenb-decoding .js-plotly-plot');
        return gd && gd._fullData && gd._fullData.filter(t => t.meta === 'rule').length === {len(rules)}; }}""", timeout=WAIT)
    bars = trace(page, '.mlenb-decoding', 'kept')
    assert bars['type'] == 'bar' and len(bars['x']) > 0 and all(0 < p <= 1 for p in bars['y'])   # the next-token bars
    dec.get_by_role('button', name='Run', exact=True).wait_for(timeout=WAIT)
    assert dec.get_by_role('button', name='Run', exact=True).is_enabled()
    shot(page, 'decoding')


def test_the_panels_fit_the_page_and_nothing_failed_in_it(page):
    for root in ('.mlenb-em', '.mlenb-flow', '.mlenb-decoding'):
        panel = page.locator(root)
        if not panel.is_visible(): continue                 # (Voila: the panel on another tab)
        box, parent = panel.bounding_box(), panel.evaluate("e => e.parentElement.getBoundingClientRect().width")
        assert box['width'] <= parent + 1, (root, box, parent)                     # within the page or the notebook column
        plot, room = panel.evaluate("e => [e.querySelector('.js-plotly-plot')._fullLayout.width, e.querySelector('.mlenb-figure').clientWidth]")
        assert plot >= .9 * room, (root, plot, room)                               # ... and the figure uses the room it has
    assert page.errors == [], page.errors


def test_decoding_pydoc_text_fills_the_table_without_a_known_P_and_draws_the_plot(page):
    "Choose the model of real text: its rules, a table with model log p and expected chrF against samples, no true log p, the plot."
    tab(page, 'Decoding')
    dec = page.locator('.mlenb-decoding')
    dec.scroll_into_view_if_needed()
    dec.locator('table.mlenb-rules').wait_for(timeout=WAIT)
    dec.locator('.widget-dropdown select').first.select_option('pydoc text')
    page.wait_for_function("document.querySelector('.mlenb-decoding .mlenb-message').innerText.includes('highest expected chrF')", timeout=WAIT)  # its hint
    rules = dec.locator('select[multiple]').evaluate("s => Array.from(s.selectedOptions).map(o => o.value)")
    assert rules == ['greedy', 'beam', 'sample', 'nucleus', 'mbr'], rules
    dec.get_by_role('button', name='Run', exact=True).click()
    page.wait_for_function("document.querySelector('.mlenb-decoding .mlenb-status').innerText.includes('P is not known for this model')", timeout=WAIT)
    rows = dec.locator('table.mlenb-rules tr')
    assert rows.count() == 1 + len(rules)
    cells = [[c.inner_text() for c in rows.nth(i).locator('td').all()] for i in range(1, rows.count())]
    assert [c[0] for c in cells] == rules and all(c[4] == '–' for c in cells), cells          # no true log p
    assert all(float(c[5]) >= 0 and float(c[3]) <= 0 for c in cells), cells                   # expected chrF, model log p: numbers
    page.wait_for_function(f"""() => {{ const gd = document.querySelector('.mlenb-decoding .js-plotly-plot');
        return gd && gd._fullData && gd._fullData.filter(t => t.meta === 'rule').length === {len(rules)}; }}""", timeout=WAIT)
    bars = trace(page, '.mlenb-decoding', 'kept')
    assert bars['type'] == 'bar' and len(bars['x']) > 0 and all(0 < p <= 1 for p in bars['y'])
    assert all(len(t) == 1 and t != ' ' for t in bars['x']), bars['x']                       # characters, a space shown as '␣'
    hist = trace(page, '.mlenb-decoding', 'samples')
    assert hist['type'] == 'histogram' and len(hist['x']) > 0
    assert page.errors == [], page.errors
    shot(page, 'decoding-pydoc')
