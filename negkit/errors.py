"""The exceptions a user may see. Anything else escaping to the CLI is a bug in negkit or a plugin."""

from __future__ import annotations


class NegkitError(Exception):
    """A problem the user can fix. The CLI prints ``str(error)`` on one line and exits 1."""


class RecipeError(NegkitError):
    """A recipe that cannot be read or does not validate. Names the file and the key."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.path = path
        self.key = key
        where = ": ".join(p for p in (path, f"[{key}]" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


    def in_file(self, path: str | None) -> RecipeError:
        """The same error naming ``path`` when it named no file yet (errors raised deep in a run)."""
        if self.path is not None or path is None:
            return self
        return RecipeError(self.message, path=path, key=self.key)


class UnknownComponentError(NegkitError):
    """A component name that no loaded plugin registers."""


class DuplicateComponentError(NegkitError):
    """Two plugins register the same name for the same kind."""


class PluginLoadError(NegkitError):
    """A plugin that failed to import is needed by a recipe."""


class ResourceMissingError(NegkitError):
    """Model data (spaCy pipeline, WordNet, norms, weights) is not installed; the message says how to get it."""


class DataError(NegkitError):
    """Missing or malformed data files."""


class TrainingError(NegkitError):
    """Training cannot go on (non-finite loss, out of memory, a checkpoint that does not fit)."""


class DiskFullError(NegkitError):
    """No space left (or quota exceeded) while writing a file; names the file and the space it needed."""


class RunLockedError(NegkitError):
    """Another live process holds the run directory (or cache entry) this one wanted."""


class IntegrityError(NegkitError):
    """A file negkit wrote earlier no longer matches the checksum recorded when it was written."""


class PluginError(NegkitError):
    """A plugin's component broke its contract (raised, or returned the wrong type); names it and its plugin."""


class Interrupted(NegkitError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM); ``exit_code`` is what the command line exits with."""

    def __init__(self, message: str, *, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple:
        return (_interrupted, (str(self), self.exit_code))


def _interrupted(message: str, exit_code: int) -> Interrupted:
    return Interrupted(message, exit_code=exit_code)


class SweepError(RecipeError):
    """A sweep file that cannot be read or does not validate, or a sweep that cannot start. Names the file
    and the key."""
