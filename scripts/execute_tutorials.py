"""Execute the tutorials so that they are committed with their pictures: `make tutorials` (or name notebooks).

The panel cells' outputs and the notebook's widget state are dropped: they draw only with a live kernel, and would
store the widget models (about 100 kB) in the file. Then nbdev_clean, as for every notebook."""
import json, pathlib, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
bin_ = pathlib.Path(sys.executable).parent
WIDGET = 'application/vnd.jupyter.widget-view+json'

def drop_widgets(path:pathlib.Path):
    "Clear the outputs of cells that show a widget, and the stored widget state."
    nb = json.loads(path.read_text())
    for c in nb['cells']:
        if c['cell_type'] == 'code' and any(WIDGET in o.get('data', {}) for o in c.get('outputs', [])):
            c['outputs'], c['execution_count'] = [], None
    nb['metadata'].pop('widgets', None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

if __name__ == '__main__':
    paths = [pathlib.Path(p).resolve() for p in sys.argv[1:]] or sorted((root / 'nbs').glob('1[0-9]_tutorial_*.ipynb'))
    for p in paths:
        print(f"executing {p.name}", flush=True)
        subprocess.run([str(bin_ / 'jupyter'), 'nbconvert', '--to', 'notebook', '--execute', '--inplace', str(p)], check=True, cwd=p.parent)
        drop_widgets(p)
        subprocess.run([str(bin_ / 'nbdev_clean'), '--fname', str(p)], check=True, cwd=root)
        print(f"  {p.name}: {p.stat().st_size / 1e3:.0f} kB", flush=True)
