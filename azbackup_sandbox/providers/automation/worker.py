"""A job's worker: the runbook's published script run as a real process, as an Automation cloud worker runs it.

Each job gets a fresh HOME and temp directory (Automation's sandboxes share nothing between jobs), the
managed identity's IDENTITY_ENDPOINT/IDENTITY_HEADER and the server's CA as the trust store, and its
parameters as arguments: Python runbooks take them positionally, each value split at whitespace (which is
why Automation's own webhook samples join ``sys.argv`` again). stdout lines become the Output stream,
stderr lines the Error stream, as they are written. Exit code 0 is Completed, anything else Failed with
the last error line as the job's exception.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .models import EVICTED

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox
    from .models import Job

__all__ = ["JobProcess", "runbook_arguments"]

_PYTHON_TYPES = ("python", "python2", "python3")
# The server's own settings that must not steer a job (it gets the identity, the CA and nothing else).
_NOT_INHERITED = ("AZBACKUP_", "AZURE_", "IDENTITY_", "MSI_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                  "GITHUB_", "TF_BUILD")
_POLL = 0.05  # real seconds between fair-share checks of a running job


def runbook_arguments(parameters: dict[str, str]) -> list[str]:
    """Positional arguments of a Python runbook job: the parameter values in order, split at whitespace."""
    return [token for value in parameters.values() for token in value.split()]


class JobProcess:
    def __init__(self, sandbox: Sandbox, job: Job, script: str, runbook_type: str) -> None:
        self._sb, self.job, self._script, self._type = sandbox, job, script, runbook_type
        self._proc: subprocess.Popen[str] | None = None
        self._killed = threading.Event()
        self._evicted = False
        self._thread = threading.Thread(target=self._run, name=f"automation-job-{job.name[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kill(self) -> None:
        self._killed.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # ---- the job's life -------------------------------------------------------------------------
    def _run(self) -> None:
        automation = self._sb.automation
        with self._sb.lock:
            automation.set_status(self.job, "Activating")
        problem = self._cannot_run()
        if problem is not None or self._killed.is_set():
            with self._sb.lock:
                if problem is not None:
                    automation.add_line(self.job, "Error", problem)
                automation.set_status(self.job, "Failed" if problem else "Stopped", exception=problem)
            return
        home = Path(tempfile.mkdtemp(prefix="azbackup-sandbox-job-"))
        try:
            self._execute(home)
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def _cannot_run(self) -> str | None:
        if self._type.lower() not in _PYTHON_TYPES:
            return f"The sandbox runs Python runbooks only; this runbook is of type '{self._type}'."
        if self._sb.job_environment is None:
            return ("Jobs run only while the sandbox serves HTTPS (azbackup-sandbox serve): a job's process "
                    "cannot reach the in-process transport.")
        return None

    def _environment(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        env.update(self._sb.job_environment or {})
        tmp = home / "tmp"
        tmp.mkdir()
        env.update(HOME=str(home), TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp), PYTHONUNBUFFERED="1",
                   XDG_STATE_HOME=str(home / ".local" / "state"), AUTOMATION_JOB_ID=self.job.name)
        return env

    def _execute(self, home: Path) -> None:
        automation = self._sb.automation
        script = home / f"{self.job.runbook}.py"
        script.write_text(self._script, encoding="utf-8")
        python = self._sb.config.automation_python or sys.executable
        argv = [python, str(script), *runbook_arguments(self.job.parameters)]
        try:
            self._proc = subprocess.Popen(argv, cwd=home, env=self._environment(home), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          encoding="utf-8", errors="replace")
        except OSError as exc:
            with self._sb.lock:
                automation.set_status(self.job, "Failed", exception=f"The runbook could not start: {exc}")
            return
        with self._sb.lock:  # a stop that came while the job was activating takes effect now
            if self._killed.is_set():
                self._proc.kill()
            else:
                automation.set_status(self.job, "Running")
            started = self._sb.clock.now()
        readers = [threading.Thread(target=self._read, args=(stream, kind), daemon=True)
                   for stream, kind in ((self._proc.stdout, "Output"), (self._proc.stderr, "Error"))]
        for reader in readers:
            reader.start()
        limit = self._sb.config.automation_fair_share_seconds
        while True:
            try:
                code = self._proc.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                if self.job.run_on is None and limit and \
                        (self._sb.clock.now() - started).total_seconds() > limit:
                    self._evicted = True  # fair share: Azure's workers unload a job after 3 hours
                    self._proc.kill()
        for reader in readers:
            reader.join(timeout=10)
        with self._sb.lock:
            if self._evicted:
                automation.set_status(self.job, "Stopped", exception=EVICTED)
            elif self.job.stop_requested or self._killed.is_set():
                automation.set_status(self.job, "Stopped")
            elif code == 0:
                automation.set_status(self.job, "Completed")
            else:
                errors = [s.text for s in self.job.streams if s.stream_type == "Error"]
                automation.set_status(self.job, "Failed",
                                      exception=errors[-1] if errors else f"The runbook exited with code {code}.")

    def _read(self, stream: IO[str] | None, kind: str) -> None:
        if stream is None:
            return
        for line in stream:
            with self._sb.lock:
                evict = self._sb.automation.add_line(self.job, kind, line.rstrip("\r\n"))
            if evict and not self._evicted:
                self._evicted = True
                if self._proc is not None:
                    self._proc.kill()
        stream.close()
