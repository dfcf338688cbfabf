"""The one exception type the CLI turns into a clean error message."""


class ModelshrinkError(Exception):
    """A problem with the user's input (file, config key, option) rather than a bug.

    The message must name the offending file or key and say what was expected;
    the CLI prints it on one line without a traceback and exits non-zero.
    """


#: How much of an offending value an error message quotes.
QUOTED_CHARACTERS = 80


def quoted(value: object) -> str:
    """An offending value from an untrusted file, safe to put into an error message.

    Containers are named by type only: printing one a hostile file built from shared
    references can take exponential time. Text is cut to one line of QUOTED_CHARACTERS.
    """
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"<an integer of {value.bit_length()} bits>"
    if not isinstance(value, str | int | float | type(None)):
        return f"<a {type(value).__name__}>"
    line = " ".join(str(value).split())
    if len(line) > QUOTED_CHARACTERS:
        return line[:QUOTED_CHARACTERS] + "..."
    return line
