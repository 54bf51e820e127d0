"""An in-memory stand-in for supervisord's ``supervisor.*`` API, for controller tests."""

from __future__ import annotations

import errno
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field

from supervisor_core.ctl.api import (
    ConfigInfoDict,
    ProcessInfoDict,
    ReloadResult,
    ResultDict,
)
from supervisor_core.ctl.codes import Fault
from supervisor_core.ctl.names import split_namespec
from supervisor_core.ctl.transport import StreamError

STATENAMES = {0: "STOPPED", 10: "STARTING", 20: "RUNNING", 100: "EXITED", 200: "FATAL"}


def fault(code: Fault, text: str = "") -> xmlrpc.client.Fault:
    """A fault as supervisord raises it: ``NAME: detail``."""
    return xmlrpc.client.Fault(int(code), f"{code.name}: {text}" if text else code.name)


@dataclass
class FakeProcess:
    """One fake process: its group, name, state and what starting it does."""

    group: str
    name: str
    state: int = 20
    pid: int = 100
    start_fault: Fault | None = None
    log: str = "line\n"


@dataclass
class FakeApi:
    """Implements ``SupervisorApi`` over a list of :class:`FakeProcess`; records calls."""

    processes: list[FakeProcess] = field(default_factory=list)
    version: str = "3.0"
    reload: ReloadResult = field(default_factory=lambda: [[[], [], []]])
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    # If set, raised by every call (connection problems, auth failures).
    error: BaseException | None = None
    stdin: list[str] = field(default_factory=list)
    after_stdin: Callable[[FakeApi], None] | None = None
    closed: bool = False

    def _record(self, method: str, *args: object) -> None:
        self.calls.append((method, args))
        if self.error is not None:
            raise self.error

    def _find(self, namespec: str) -> FakeProcess:
        group, name = split_namespec(namespec)
        for process in self.processes:
            if process.group == group and process.name == name:
                return process
        raise fault(Fault.BAD_NAME, namespec)

    def _group(self, group: str) -> list[FakeProcess]:
        members = [p for p in self.processes if p.group == group]
        if not members:
            raise fault(Fault.BAD_NAME, group)
        return members

    @staticmethod
    def _info(process: FakeProcess) -> ProcessInfoDict:
        return {
            "name": process.name,
            "group": process.group,
            "state": process.state,
            "statename": STATENAMES[process.state],
            "description": f"pid {process.pid}" if process.state == 20 else "Not started",
            "pid": process.pid if process.state == 20 else 0,
        }

    @staticmethod
    def _result(process: FakeProcess, status: int) -> ResultDict:
        return {"name": process.name, "group": process.group, "status": status, "description": ""}

    def getVersion(self) -> str:
        self._record("getVersion")
        return self.version

    def getSupervisorVersion(self) -> str:
        self._record("getSupervisorVersion")
        return "4.3.0"

    def getPID(self) -> int:
        self._record("getPID")
        return 42

    def getProcessInfo(self, name: str) -> ProcessInfoDict:
        self._record("getProcessInfo", name)
        return self._info(self._find(name))

    def getAllProcessInfo(self) -> list[ProcessInfoDict]:
        self._record("getAllProcessInfo")
        return [self._info(p) for p in self.processes]

    def getAllConfigInfo(self) -> list[ConfigInfoDict]:
        self._record("getAllConfigInfo")
        return [
            {
                "name": p.name,
                "group": p.group,
                "inuse": True,
                "autostart": p.state == 20,
                "group_prio": 999,
                "process_prio": 1,
            }
            for p in self.processes
        ]

    def _start(self, process: FakeProcess) -> int:
        if process.state == 20:
            return Fault.ALREADY_STARTED
        if process.start_fault is not None:
            return process.start_fault
        process.state = 20
        return Fault.SUCCESS

    def startProcess(self, name: str) -> bool:
        self._record("startProcess", name)
        code = self._start(self._find(name))
        if code != Fault.SUCCESS:
            raise fault(Fault(code), name)
        return True

    def startProcessGroup(self, name: str) -> list[ResultDict]:
        self._record("startProcessGroup", name)
        return [self._result(p, self._start(p)) for p in self._group(name)]

    def startAllProcesses(self) -> list[ResultDict]:
        self._record("startAllProcesses")
        return [self._result(p, self._start(p)) for p in self.processes]

    def _stop(self, process: FakeProcess) -> int:
        if process.state != 20:
            return Fault.NOT_RUNNING
        process.state = 0
        return Fault.SUCCESS

    def stopProcess(self, name: str) -> bool:
        self._record("stopProcess", name)
        code = self._stop(self._find(name))
        if code != Fault.SUCCESS:
            raise fault(Fault(code), name)
        return True

    def stopProcessGroup(self, name: str) -> list[ResultDict]:
        self._record("stopProcessGroup", name)
        return [self._result(p, self._stop(p)) for p in self._group(name)]

    def stopAllProcesses(self) -> list[ResultDict]:
        self._record("stopAllProcesses")
        return [self._result(p, self._stop(p)) for p in self.processes if p.state == 20]

    def _signal(self, process: FakeProcess, signal: str) -> int:
        if signal not in ("HUP", "TERM", "USR1"):
            return Fault.BAD_SIGNAL
        return Fault.SUCCESS if process.state == 20 else Fault.NOT_RUNNING

    def signalProcess(self, name: str, signal: str) -> bool:
        self._record("signalProcess", name, signal)
        code = self._signal(self._find(name), signal)
        if code != Fault.SUCCESS:
            raise fault(Fault(code), name)
        return True

    def signalProcessGroup(self, name: str, signal: str) -> list[ResultDict]:
        self._record("signalProcessGroup", name, signal)
        return [self._result(p, self._signal(p, signal)) for p in self._group(name)]

    def signalAllProcesses(self, signal: str) -> list[ResultDict]:
        self._record("signalAllProcesses", signal)
        return [self._result(p, self._signal(p, signal)) for p in self.processes]

    def readProcessStdoutLog(self, name: str, offset: int, length: int) -> str:
        self._record("readProcessStdoutLog", name, offset, length)
        return self._find(name).log[offset:]

    def readProcessStderrLog(self, name: str, offset: int, length: int) -> str:
        self._record("readProcessStderrLog", name, offset, length)
        self._find(name)
        raise fault(Fault.NO_FILE, name)

    def readLog(self, offset: int, length: int) -> str:
        self._record("readLog", offset, length)
        return "main log"

    def clearProcessLogs(self, name: str) -> bool:
        self._record("clearProcessLogs", name)
        self._find(name)
        return True

    def clearAllProcessLogs(self) -> list[ResultDict]:
        self._record("clearAllProcessLogs")
        return [self._result(p, Fault.SUCCESS) for p in self.processes]

    def sendProcessStdin(self, name: str, chars: str) -> bool:
        self._record("sendProcessStdin", name, chars)
        process = self._find(name)
        if process.state != 20:
            raise fault(Fault.NOT_RUNNING, name)
        self.stdin.append(chars)
        if self.after_stdin is not None:
            self.after_stdin(self)
        return True

    def reloadConfig(self) -> ReloadResult:
        self._record("reloadConfig")
        return self.reload

    def addProcessGroup(self, name: str) -> bool:
        self._record("addProcessGroup", name)
        if any(p.group == name for p in self.processes):
            raise fault(Fault.ALREADY_ADDED, name)
        if name not in self.reload[0][0] + self.reload[0][1]:
            raise fault(Fault.BAD_NAME, name)
        self.processes.append(FakeProcess(group=name, name=name))
        return True

    def removeProcessGroup(self, name: str) -> bool:
        self._record("removeProcessGroup", name)
        members = self._group(name)
        if any(p.state == 20 for p in members):
            raise fault(Fault.STILL_RUNNING, name)
        self.processes = [p for p in self.processes if p.group != name]
        return True

    def shutdown(self) -> bool:
        self._record("shutdown")
        return True

    def restart(self) -> bool:
        self._record("restart")
        return True

    def close(self) -> None:
        self.closed = True


def refused() -> OSError:
    """What connecting to a closed TCP port raises."""
    return ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")


def no_socket() -> OSError:
    """What connecting to a missing UNIX socket raises."""
    return FileNotFoundError(errno.ENOENT, "No such file or directory")


@dataclass
class FakeStream:
    """A log stream that emits fixed text, then an optional error or an interrupt."""

    pieces: tuple[str, ...] = ()
    problem: StreamError | None = None
    interrupt: bool = False
    closed: bool = False

    def follow(self, sink: Callable[[str], None]) -> StreamError | None:
        for piece in self.pieces:
            sink(piece)
        if self.interrupt:
            raise KeyboardInterrupt
        return self.problem

    def close(self) -> None:
        self.closed = True
