"""The panels' latency as a person meets it, in a real browser: `mlenb app` served by Voila, driven by Playwright with
Debian's Chromium. Times app start -> EM usable, Step -> redraw, Train chunk -> redraw and Run -> table and figures
drawn with the buttons usable again; counts the bytes the page receives on load and per update (websocket frames).

    python bench/browser.py [--throttle 4] [--repeats 5]
"""
import argparse, os, pathlib, platform, statistics, sys, time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / 'tests'))
import servers                                                         # start and stop a server surely

CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run']
CURVE = "name => { const gd = document.querySelector('%s .js-plotly-plot'); const t = gd && gd._fullData && gd._fullData.find(t => t.name === name); return t ? t.y.length : -1; }"


def frames(cdp)->list:
    "A list that fills with the byte size of every websocket frame the page receives."
    got = []
    cdp.send('Network.enable')
    cdp.on('Network.webSocketFrameReceived', lambda e: got.append(len(e['response']['payloadData'])))
    return got


def timed(page, click, done, arg=None, timeout=300_000)->float:
    "Seconds from `click()` until the page function `done` holds."
    t = time.perf_counter()
    click()
    page.wait_for_function(done, arg=arg, timeout=timeout)
    return time.perf_counter() - t


def main(throttle:float, repeats:int):
    from playwright.sync_api import sync_playwright
    port = servers.free_port()
    t0 = time.perf_counter()
    proc = servers.start([str(pathlib.Path(sys.executable).with_name('mlenb')), 'app', '--port', str(port)], port,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'})
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={'width': 1300, 'height': 950})
            cdp = page.context.new_cdp_session(page)
            cdp.send('Emulation.setCPUThrottlingRate', {'rate': throttle})
            ws = frames(cdp)
            loaded = []
            cdp.on('Network.loadingFinished', lambda e: loaded.append(e['encodedDataLength']))
            page.goto(f'http://127.0.0.1:{port}/', timeout=300_000)
            page.wait_for_function(f"({CURVE % '.mlenb-em'})('log-likelihood / ELBO') >= 1", timeout=300_000)
            out['app start -> EM usable (s)'] = [time.perf_counter() - t0]
            out['page load: bytes'] = [sum(loaded) + sum(ws)]
            em = page.locator('.mlenb-em')
            steps, sent = [], []
            for i in range(repeats):
                n, k = page.evaluate(f"({CURVE % '.mlenb-em'})('log-likelihood / ELBO')"), len(ws)
                steps.append(timed(page, lambda: em.get_by_role('button', name='Step', exact=True).click(),
                                   f"n => ({CURVE % '.mlenb-em'})('log-likelihood / ELBO') >= n + 2", n))
                em.get_by_role('button', name='Step', exact=True).wait_for()
                page.wait_for_timeout(300); sent.append(sum(ws[k:]))
            out['EM Step -> redraw (s)'], out['EM Step: bytes'] = steps, sent
            page.get_by_role('tab', name='Flows').click()
            flow = page.locator('.mlenb-flow')
            chunks = []
            for i in range(repeats):
                n = page.evaluate(f"({CURVE % '.mlenb-flow'})('validation NLL')")
                chunks.append(timed(page, lambda: flow.get_by_role('button', name='Train', exact=True).click(),
                                    f"n => ({CURVE % '.mlenb-flow'})('validation NLL') > n", n))
                flow.get_by_role('button', name='Train', exact=True).wait_for(timeout=300_000)
            out['Flows Train chunk -> redraw (s)'] = chunks
            page.get_by_role('tab', name='Decoding').click()
            dec = page.locator('.mlenb-decoding')
            runs = []
            watch = """() => { const m = document.querySelector('.mlenb-decoding .mlenb-message'); window.__progress = false;
                new MutationObserver(() => { if (/^\d+ of \d+:/.test(m.innerText)) window.__progress = true; }).observe(m, {subtree: true, childList: true, characterData: true}); }"""
            for i in range(repeats):                          # Run shows its progress on the message line, then the hint again
                page.evaluate(watch)
                runs.append(timed(page, lambda: dec.get_by_role('button', name='Run', exact=True).click(),
                                  """() => { const m = document.querySelector('.mlenb-decoding .mlenb-message');
                                     const b = [...document.querySelectorAll('.mlenb-decoding button')].find(b => b.innerText.trim() === 'Run');
                                     return window.__progress && m.innerText.startsWith('Try first') && b && !b.disabled; }"""))
            out['Decoding Run -> table, figures, usable (s)'] = runs
            browser.close()
    finally:
        servers.stop(proc)
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    print(f"mlenb panels in Chromium, CPU slowed {throttle:g}x, {os.cpu_count()} cores ({cpu}), median of {repeats}")
    for k, v in out.items():
        med = statistics.median(v)
        print(f"  {k:44s} {med:10.3f}" if '(s)' in k else f"  {k:44s} {med / 1e3:10.1f} kB")


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--throttle', type=float, default=1., help='slow the page CPU this many times (CDP)')
    ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    main(a.throttle, a.repeats)
