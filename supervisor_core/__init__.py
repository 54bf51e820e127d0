"""supervisor-core: a supervisord-compatible process supervisor whose every state
transition is an observable event."""

__version__ = "0.1.0"

# The version supervisord clients see from getSupervisorVersion(); we speak the
# protocol of supervisord 4.x, so tools that gate features on it keep working.
SUPERVISORD_COMPAT_VERSION = "4.3.0"
