"""Driving `kubectl exec -it` (or `mkpy exec -it`) from a test: the command on a pseudo-terminal
that is its controlling tty (tests/ptyterm.py)."""

from __future__ import annotations

import os

from ptyterm import Terminal


def tty_session(
    argv: list[str],
    exit_code: int = 5,
    typed: tuple[tuple[bytes, bytes], ...] = (),
    kubeconfig: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[bytes, int]:
    """Run `... exec -it ... -- sh` on a pty of 24x80: type each (command, what it must print)
    of `typed`, check `stty size`, resize to 40x100 and check again, `exit <exit_code>`. Returns
    what it printed since the resize arrived, and its exit code. `kubeconfig` goes in $KUBECONFIG,
    for argv without --kubeconfig; `env` replaces the environment (TERM is set either way)."""
    env = dict(env if env is not None else {k: v for k, v in os.environ.items() if k != "KUBECONFIG"})
    env["TERM"] = "xterm"
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    with Terminal(argv, env, rows=24, cols=80) as term:
        for command, shows in typed:
            term.type(command)
            term.read_until(shows)
        term.type(b"stty size; echo MA''RK1")
        out = term.read_until(b"MARK1")
        assert b"24 80" in out, out
        # The kernel sends SIGWINCH to kubectl; it sends a resize to the remote terminal, which
        # travels asynchronously: ask until it has arrived.
        term.resize(40, 100)
        term.ask(b"stty size; echo MA''RK2", b"MARK2", b"40 100", timeout=20)
        term.type(b"exit %d" % exit_code)
        code = term.finish()
        return bytes(term.seen), code
