"Servers the browser tests start (Voila, JupyterLab), started in their own process group and stopped surely."
import os, signal, socket, subprocess, tempfile, time, warnings


def free_port()->int:
    "A TCP port on 127.0.0.1 that nothing listens on now."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def start(cmd:list, port:int, timeout:float=300, **kw)->subprocess.Popen:
    "Start `cmd` in a new process group, its output in a temporary file (`.log`), and wait until `port` answers."
    log = tempfile.NamedTemporaryFile('w+', prefix='mlenb-server-', suffix='.log', delete=False)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)
    proc.log = log.name
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None: raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}: {output(proc)}")
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1): return proc
        except OSError: time.sleep(.5)
    stop(proc)
    raise RuntimeError(f"{cmd[0]} did not answer on port {port} within {timeout:.0f} s: {output(proc)}")


def output(proc:subprocess.Popen)->str:
    "What the server printed so far."
    with open(proc.log) as f: return f.read()


def stop(proc:subprocess.Popen, grace:float=60)->bool:
    """Ctrl-C the process group, wait `grace` s, then SIGTERM and SIGKILL: the server and its kernels end surely.

    Returns whether it stopped on Ctrl-C within `grace`. A slow stop (a busy machine) is only a warning, never a failure."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try: os.killpg(proc.pid, sig)
        except ProcessLookupError: pass                    # the group is gone already
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGINT: return True
            break
        except subprocess.TimeoutExpired: continue
    try: os.killpg(proc.pid, signal.SIGKILL)                # children left behind by a leader that exited
    except ProcessLookupError: pass
    warnings.warn(f"{proc.args[0]} took more than {grace:.0f} s to stop on Ctrl-C; it was terminated")
    return False
