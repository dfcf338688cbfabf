"""The one exception type the CLI turns into a clean error message, and how messages quote
values from untrusted files."""


class ModelshrinkError(Exception):
    """A problem with the user's input (file, config key, option) rather than a bug.

    The message must name the offending file or key and say what was expected;
    the CLI prints it on one line without a traceback and exits non-zero.
    """


#: How much of an offending value an error message quotes.
QUOTED_CHARACTERS = 80
#: Lists up to this long are quoted item by item; longer ones by type only.
QUOTED_ITEMS = 8


def quoted(value: object) -> str:
    """An offending value from an untrusted file, safe to put into an error message.

    Strings are cut to QUOTED_CHARACTERS and shown as Python literals (one line), short
    lists item by item, anything else by type only: printing a container a hostile file
    built from shared references can take exponential time, and printing a huge integer
    raises ValueError.
    """
    if isinstance(value, str):
        if len(value) <= QUOTED_CHARACTERS:
            return repr(value)
        text = repr(value[:QUOTED_CHARACTERS])
        return text[:-1] + "..." + text[-1]
    if isinstance(value, bool | float | type(None)):
        return repr(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else f"<an integer of {value.bit_length()} bits>"
    short = isinstance(value, list | tuple) and len(value) <= QUOTED_ITEMS
    if short and all(isinstance(item, str | int | float | type(None)) for item in value):
        return "[" + ", ".join(quoted(item) for item in value) + "]"
    return f"<a {type(value).__name__}>"


def brief(error: BaseException) -> str:
    """A library's error message about an untrusted file, on one line and cut short."""
    line = " ".join(str(error).split())
    return line if len(line) <= 2 * QUOTED_CHARACTERS else line[: 2 * QUOTED_CHARACTERS] + "..."
