"""Options as text (from .ini files and ``S3WSGI_*`` variables) to the
keyword arguments of :class:`~s3wsgi.S3Middleware`.

The options known are exactly the middleware's keyword parameters, so one
added there is configurable here too; each is converted by its annotation
(``bool``, ``int``, ``float``, ``str``) or by a converter of its own
(``headers``, ``authorize``). Every mistake raises a :class:`ValueError`
that names the option and the value, in words a user can act on.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping

from .middleware import S3Middleware

ENVIRON_PREFIX = "S3WSGI_"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

# Not options: the wrapped app is the middleware's first argument.
_NOT_OPTIONS = frozenset({"self", "app"})

# Other names accepted for an option: the command line's --region.
ALIASES = {"region": "region_name"}


def to_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{name}: {value!r} is not a boolean (use true/false, yes/no, on/off or 1/0)")


def to_int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number") from None


def to_float(name: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return number


def to_str(name: str, value: str) -> str:
    return value.strip()


def to_headers(name: str, value: str) -> list[tuple[str, str]]:
    """One ``Name: value`` per line; blank lines are skipped."""
    headers = []
    for line in value.splitlines():
        if not line.strip():
            continue
        header, colon, text = line.partition(":")
        header, text = header.strip(), text.strip()
        if not colon or not header or " " in header:
            raise ValueError(f"{name}: {line.strip()!r} is not a 'Name: value' header line")
        headers.append((header, text))
    return headers


def to_callable(name: str, value: str) -> Callable:
    """``package.module:attribute`` (the attribute may be dotted), imported."""
    spec = value.strip()
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"{name}: {value!r} is not a 'package.module:callable' path")
    try:
        target = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"{name}: cannot import module {module_name!r} ({error})") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{name}: module {module_name!r} has no {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{name}: {spec!r} is not callable")
    return target


_BY_NAME = {"headers": to_headers, "authorize": to_callable}
_BY_TYPE = (("bool", to_bool), ("float", to_float), ("int", to_int), ("str", to_str))


def _converter(parameter: inspect.Parameter) -> Callable[[str, str], object] | None:
    if parameter.name in _BY_NAME:
        return _BY_NAME[parameter.name]
    # Annotations are strings here (postponed evaluation): "int", "str | None".
    kinds = {part.strip() for part in str(parameter.annotation).split("|")}
    for kind, converter in _BY_TYPE:
        if kind in kinds:
            return converter
    default = parameter.default
    for kind, converter in _BY_TYPE:
        if type(default).__name__ == kind:
            return converter
    return None


def _options() -> dict[str, tuple[Callable[[str, str], object] | None, bool]]:
    """Each option's converter, and whether an empty value means None."""
    options = {}
    for parameter in inspect.signature(S3Middleware.__init__).parameters.values():
        if parameter.name in _NOT_OPTIONS or parameter.kind is not parameter.KEYWORD_ONLY:
            continue
        optional = parameter.default is None or "None" in str(parameter.annotation)
        options[parameter.name] = (_converter(parameter), optional)
    return options


OPTIONS = _options()


def convert(name: str, value: object, *, label: str | None = None) -> object:
    """One option's value: text is converted, anything else is kept as it is.

    :param label: what the user wrote to set it (e.g. ``S3WSGI_PORT``), for
        error messages; the option's name by default.
    """
    label = label or name
    name = ALIASES.get(name, name)
    if name not in OPTIONS:
        raise ValueError(f"{label}: unknown option (known: {', '.join(sorted(OPTIONS))})")
    if not isinstance(value, str):
        return value
    converter, optional = OPTIONS[name]
    if optional and not value.strip():
        return None
    if converter is None:
        raise ValueError(f"{label}: cannot be given as text")
    return converter(label, value)


def middleware_options(settings: Mapping[str, object]) -> dict[str, object]:
    """Keyword arguments for S3Middleware / S3App from ``name -> value``:
    text is converted, anything else (a boto3 client, a callable) kept."""
    return {ALIASES.get(name, name): convert(name, value) for name, value in settings.items()}


def environ_settings(environ: Mapping[str, object]) -> dict[str, object]:
    """The ``S3WSGI_*`` entries of an environment (or a Flask config) as
    ``name -> value``: ``S3WSGI_KEY_PREFIX`` gives ``key_prefix``."""
    return {
        name[len(ENVIRON_PREFIX) :].lower(): value
        for name, value in environ.items()
        if name.startswith(ENVIRON_PREFIX)
    }


def environ_name(option: str) -> str:
    """The variable that sets ``option``: ``key_prefix`` -> ``S3WSGI_KEY_PREFIX``."""
    return ENVIRON_PREFIX + option.upper()
