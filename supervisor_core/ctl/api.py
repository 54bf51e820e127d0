"""The typed face of the remote ``supervisor`` XML-RPC namespace that superctl uses.

``SupervisorApi`` lists exactly the calls the commands make, with supervisord's
method names and return shapes; :class:`RpcApi` implements it over an
``xmlrpc.client.ServerProxy`` and unit tests implement it with a fake. Faults arrive
as ``xmlrpc.client.Fault`` with supervisord's codes (see ``codes.Fault``).
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any, Protocol, TypedDict, cast


class ProcessInfoDict(TypedDict):
    """One struct of ``getProcessInfo`` / ``getAllProcessInfo`` (the fields we read)."""

    name: str
    group: str
    state: int
    statename: str
    description: str
    pid: int


class ResultDict(TypedDict):
    """One struct of the multi-process calls (``startAllProcesses`` ...)."""

    name: str
    group: str
    status: int
    description: str


class ConfigInfoDict(TypedDict):
    """One struct of ``getAllConfigInfo`` (the fields ``avail`` prints)."""

    name: str
    group: str
    inuse: bool
    autostart: bool
    group_prio: int
    process_prio: int


# reloadConfig returns [[added, changed, removed]], each a list of group names.
ReloadResult = list[list[list[str]]]


class SupervisorApi(Protocol):
    """The ``supervisor.*`` methods superctl calls, named and shaped as supervisord has them."""

    def getVersion(self) -> str: ...
    def getSupervisorVersion(self) -> str: ...
    def getPID(self) -> int: ...
    def getProcessInfo(self, name: str) -> ProcessInfoDict: ...
    def getAllProcessInfo(self) -> list[ProcessInfoDict]: ...
    def getAllConfigInfo(self) -> list[ConfigInfoDict]: ...
    def startProcess(self, name: str) -> bool: ...
    def startProcessGroup(self, name: str) -> list[ResultDict]: ...
    def startAllProcesses(self) -> list[ResultDict]: ...
    def stopProcess(self, name: str) -> bool: ...
    def stopProcessGroup(self, name: str) -> list[ResultDict]: ...
    def stopAllProcesses(self) -> list[ResultDict]: ...
    def signalProcess(self, name: str, signal: str) -> bool: ...
    def signalProcessGroup(self, name: str, signal: str) -> list[ResultDict]: ...
    def signalAllProcesses(self, signal: str) -> list[ResultDict]: ...
    def readProcessStdoutLog(self, name: str, offset: int, length: int) -> str: ...
    def readProcessStderrLog(self, name: str, offset: int, length: int) -> str: ...
    def readLog(self, offset: int, length: int) -> str: ...
    def clearProcessLogs(self, name: str) -> bool: ...
    def clearAllProcessLogs(self) -> list[ResultDict]: ...
    def sendProcessStdin(self, name: str, chars: str) -> bool: ...
    def reloadConfig(self) -> ReloadResult: ...
    def addProcessGroup(self, name: str) -> bool: ...
    def removeProcessGroup(self, name: str) -> bool: ...
    def shutdown(self) -> bool: ...
    def restart(self) -> bool: ...
    def close(self) -> None:
        """Release the connection (not a remote call)."""


class RpcApi:
    """:class:`SupervisorApi` over a ``ServerProxy``: every call is one XML-RPC request.

    Each method forwards to ``supervisor.<method>`` and casts the unmarshalled value
    to the documented shape; faults and transport errors propagate unchanged.
    """

    def __init__(self, proxy: xmlrpc.client.ServerProxy) -> None:
        self._proxy = proxy
        self._namespace: Any = proxy.supervisor

    def close(self) -> None:
        """Close the persistent connection (the next call would reopen it)."""
        self._proxy("close")()

    def _call(self, method: str, *args: object) -> Any:
        return getattr(self._namespace, method)(*args)

    def getVersion(self) -> str:
        return cast("str", self._call("getVersion"))

    def getSupervisorVersion(self) -> str:
        return cast("str", self._call("getSupervisorVersion"))

    def getPID(self) -> int:
        return cast("int", self._call("getPID"))

    def getProcessInfo(self, name: str) -> ProcessInfoDict:
        return cast("ProcessInfoDict", self._call("getProcessInfo", name))

    def getAllProcessInfo(self) -> list[ProcessInfoDict]:
        return cast("list[ProcessInfoDict]", self._call("getAllProcessInfo"))

    def getAllConfigInfo(self) -> list[ConfigInfoDict]:
        return cast("list[ConfigInfoDict]", self._call("getAllConfigInfo"))

    def startProcess(self, name: str) -> bool:
        return cast("bool", self._call("startProcess", name))

    def startProcessGroup(self, name: str) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("startProcessGroup", name))

    def startAllProcesses(self) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("startAllProcesses"))

    def stopProcess(self, name: str) -> bool:
        return cast("bool", self._call("stopProcess", name))

    def stopProcessGroup(self, name: str) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("stopProcessGroup", name))

    def stopAllProcesses(self) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("stopAllProcesses"))

    def signalProcess(self, name: str, signal: str) -> bool:
        return cast("bool", self._call("signalProcess", name, signal))

    def signalProcessGroup(self, name: str, signal: str) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("signalProcessGroup", name, signal))

    def signalAllProcesses(self, signal: str) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("signalAllProcesses", signal))

    def readProcessStdoutLog(self, name: str, offset: int, length: int) -> str:
        return cast("str", self._call("readProcessStdoutLog", name, offset, length))

    def readProcessStderrLog(self, name: str, offset: int, length: int) -> str:
        return cast("str", self._call("readProcessStderrLog", name, offset, length))

    def readLog(self, offset: int, length: int) -> str:
        return cast("str", self._call("readLog", offset, length))

    def clearProcessLogs(self, name: str) -> bool:
        return cast("bool", self._call("clearProcessLogs", name))

    def clearAllProcessLogs(self) -> list[ResultDict]:
        return cast("list[ResultDict]", self._call("clearAllProcessLogs"))

    def sendProcessStdin(self, name: str, chars: str) -> bool:
        return cast("bool", self._call("sendProcessStdin", name, chars))

    def reloadConfig(self) -> ReloadResult:
        return cast("ReloadResult", self._call("reloadConfig"))

    def addProcessGroup(self, name: str) -> bool:
        return cast("bool", self._call("addProcessGroup", name))

    def removeProcessGroup(self, name: str) -> bool:
        return cast("bool", self._call("removeProcessGroup", name))

    def shutdown(self) -> bool:
        return cast("bool", self._call("shutdown"))

    def restart(self) -> bool:
        return cast("bool", self._call("restart"))
