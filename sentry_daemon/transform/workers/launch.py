"""Start a transform worker under its limits: ``python launch.py CPU_SECONDS MEMORY_BYTES PROGRAM ARGS...``.

Node has no ``setrlimit``, so the daemon starts the javascript worker through this: it detaches
the process (below), sets the limits, and ``exec``s the program in place. The CPU limit is the
worker's lifetime budget; the worker asks to be retired before it runs out (``node_worker.cjs``).
The python worker imports ``detach`` from here and sets each job's limits itself.
"""

import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1


def detach() -> None:
    """Lead a process group of its own (the daemon kills the group on a timeout: the worker and
    whatever its callback started) and die with the daemon, even a daemon that was SIGKILLed."""
    os.setpgid(0, 0)
    die_with_parent()


def die_with_parent() -> None:
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # Linux; kept across exec
    except (OSError, AttributeError):
        return  # elsewhere: a worker still exits when its stdin closes
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def limit(cpu_seconds: int, memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))


if __name__ == "__main__":
    detach()
    limit(int(sys.argv[1]), int(sys.argv[2]))
    os.execv(sys.argv[3], sys.argv[3:])
