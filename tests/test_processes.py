"""mmlib.processes.pid_alive: a running process, a finished one, a zombie, nonsense pids."""

import os
import subprocess
import sys
import time

from mmlib.processes import pid_alive


def test_this_process_is_alive():
    assert pid_alive(os.getpid())


def test_non_positive_pids_are_never_alive():
    assert not pid_alive(0) and not pid_alive(-1)


def test_a_reaped_process_is_gone_and_a_zombie_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 20
    while pid_alive(child.pid) and time.time() < deadline:  # exited but not reaped: a zombie
        time.sleep(0.05)
    assert not pid_alive(child.pid), "an exited, unreaped child (zombie) must not count as alive"
    child.wait()
    assert not pid_alive(child.pid)
