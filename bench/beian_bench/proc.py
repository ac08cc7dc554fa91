"""Processes the run started (and only those, stopped on the way out), commands, and CPU and memory from /proc."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
from pathlib import Path

from .settings import Fail


STARTED: list[subprocess.Popen] = []


def spawn(cmd: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
    handle = open(log, "ab")
    proc = subprocess.Popen(
        cmd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
        start_new_session=True,
    )
    handle.close()
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    if proc in STARTED:
        STARTED.remove(proc)


def stop_all() -> None:
    for proc in list(STARTED):
        stop(proc, timeout=10)


def run(cmd: list[str], *, env: dict[str, str] | None = None, check: bool = True, timeout: float | None = None,
        input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, input=input)
    if check and result.returncode != 0:
        said = result.stderr.strip() or result.stdout.strip()
        raise Fail(f"`{' '.join(cmd[:4])} ...` failed ({result.returncode}):\n{said}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces): state is [0], ppid [1], utime [11] ... cstime [14].
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = proc_stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def postgres_cpu_seconds(postmaster: int | None) -> float | None:
    """CPU of the whole PostgreSQL cluster: the postmaster, its live children, and (through the postmaster's
    cutime/cstime) the children that exited, e.g. pgbench's backends."""
    if postmaster is None:
        return None
    total = cpu_seconds(postmaster, children=True)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and fields[1] == str(postmaster):
                total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK_TCK
    return total


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def memory_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1])
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
