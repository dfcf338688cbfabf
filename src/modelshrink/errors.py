"""The one exception type the CLI turns into a clean error message."""


class ModelshrinkError(Exception):
    """A problem with the user's input (file, config key, option) rather than a bug.

    The message must name the offending file or key and say what was expected;
    the CLI prints it on one line without a traceback and exits non-zero.
    """
