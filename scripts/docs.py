"""`make docs`: every notebook to HTML in _docs/ with nbconvert (quarto cannot be installed here; _quarto.yml stays valid).

The tutorials are committed executed (`make tutorials`), so their pages show their figures without running anything;
the module notebooks are rendered as they are, and `make test` runs them. Cells are shown as nbdev shows them: `#| hide`
cells left out, `#| code-fold` answers folded. Each tutorial page must hold every figure of its notebook, or this fails."""
import html, json, pathlib, re, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
bin_ = pathlib.Path(sys.executable).parent
out = root / '_docs'

def figures(nb:pathlib.Path)->int:
    "How many pictures the notebook's outputs hold."
    cells = json.loads(nb.read_text())['cells']
    return sum('image/png' in o.get('data', {}) or 'image/svg+xml' in o.get('data', {}) for c in cells for o in c.get('outputs', []))

def title(nb:pathlib.Path)->str:
    "The notebook's first heading."
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] == 'markdown' and (m := re.search(r'^#\s+(.+)$', ''.join(c['source']), re.M)): return m.group(1)
    return nb.stem

def directives(c:dict)->set:
    "nbdev's `#| name` directives at the top of a cell."
    src = ''.join(c['source']).splitlines()
    return {l[3:].split(':')[0].split()[0] for l in src if l.startswith('#| ') and len(l) > 3}

def folded(c:dict, summary)->dict:
    """A code cell and its outputs as HTML that opens on a click (`<details>`), as quarto's code-fold does (raw cells' HTML
    is sanitised by nbconvert, which drops `<details>`; markdown's is not)."""
    parts = [f"<pre><code>{html.escape(''.join(c['source']).strip())}</code></pre>"]
    for o in c.get('outputs', []):
        data = o.get('data', {})
        if o.get('output_type') == 'stream': parts.append(f"<pre>{html.escape(''.join(o['text']))}</pre>")
        elif 'image/png' in data: parts.append(f'<img src="data:image/png;base64,{data["image/png"]}" alt="figure of the answer">')
        elif 'text/plain' in data: parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
    label = html.escape(summary.group(1) if summary else 'Answer')
    block = f"<details class='mlenb-answer'><summary>{label}</summary>{''.join(parts)}</details>"
    return {'cell_type': 'markdown', 'metadata': {}, 'id': c.get('id', 'fold'),   # one line: markdown keeps an HTML block whole
            'source': [block.replace('\n', '&#10;')]}

def for_page(nb:pathlib.Path, tmp:pathlib.Path)->pathlib.Path:
    "A copy of `nb` as nbdev would show it: `#| hide` cells left out, answers (`#| code-fold`) folded, directive lines dropped."
    d = json.loads(nb.read_text())
    cells = []
    for c in d['cells']:
        if c['cell_type'] == 'code' and 'hide' in directives(c): continue
        if c['cell_type'] == 'code':
            src, fold = ''.join(c['source']), 'code-fold' in directives(c)
            c['source'] = [l for l in src.splitlines(keepends=True) if not l.startswith('#| ')]
            if fold: c = folded(c, re.search(r'^#\| code-summary:\s*"?([^"\n]*)', src, re.M))
        cells.append(c)
    d['cells'] = cells
    (tmp / nb.name).write_text(json.dumps(d))
    return tmp / nb.name

if __name__ == '__main__':
    import tempfile
    nbs = sorted((root / 'nbs').glob('[0-9]*.ipynb')) + [root / 'nbs' / 'index.ipynb']
    with tempfile.TemporaryDirectory() as tmp:
        pages = [for_page(nb, pathlib.Path(tmp)) for nb in nbs]
        subprocess.run([str(bin_ / 'jupyter'), 'nbconvert', '--to', 'html', '--log-level=ERROR', '--output-dir', str(out), *map(str, pages)],
                       check=True, cwd=root)
    bad, rows = [], []
    for nb in nbs:
        page = out / f'{nb.stem}.html'
        want, got = figures(nb), page.read_text().count('<img ')
        rows.append(f'<li><a href="{page.name}">{html.escape(title(nb))}</a> <small>({nb.name}, {got} figures)</small></li>')
        print(f"  {page.relative_to(root)}: {page.stat().st_size / 1e3:.0f} kB, {got} figures")
        if 'tutorial' in nb.stem and (want == 0 or got < want): bad.append(f"{nb.name}: {got} figures on the page, {want} in the notebook")
    (out / 'toc.html').write_text('<!doctype html><meta charset="utf-8"><title>mlenb</title><h1>mlenb</h1><ul>' + ''.join(rows) + '</ul>\n')
    if bad: sys.exit('docs: a tutorial page lacks its figures (run `make tutorials`): ' + '; '.join(bad))
    print(f"docs: {len(nbs)} pages in {out.relative_to(root)}/, the list in {out.relative_to(root)}/toc.html")
