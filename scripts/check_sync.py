"Fail if nbdev_export, nbdev_clean or the README generator would change a file: generated files must be in sync."
import hashlib, pathlib, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
bin_ = pathlib.Path(sys.executable).parent

def digest(paths):
    "Hash of every file under `paths`, by name and content."
    h = {}
    for p in paths:
        for f in sorted((root/p).rglob('*') if (root/p).is_dir() else [root/p]):
            if f.is_file() and '__pycache__' not in f.parts: h[str(f.relative_to(root))] = hashlib.sha1(f.read_bytes()).hexdigest()
    return h

def changed(before, after): return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))

steps = [('nbdev_export', [str(bin_/'nbdev_export')], ['mlenb'], 'mlenb/ was out of sync with nbs/ (a module edited by hand, or a notebook not exported)'),
         ('nbdev_clean', [str(bin_/'nbdev_clean')], ['nbs'], 'notebooks were not committed clean'),
         ('readme', [sys.executable, str(root/'scripts'/'readme.py')], ['README.md'], 'README.md was out of sync with nbs/index.ipynb')]
bad = False
for name, cmd, paths, why in steps:
    before = digest(paths)
    subprocess.run(cmd, cwd=root, check=True, stdout=subprocess.DEVNULL)
    diff = changed(before, digest(paths))
    if diff:
        bad = True
        print(f"check-sync: {why}; `{name}` changed {', '.join(diff)}. They are regenerated now: review and commit them.", file=sys.stderr)
if bad: sys.exit(1)
print("check-sync: export, notebooks and README are in sync")
