"""A command's settings from its flags, else from ``S3WSGI_*`` variables.

Every option that ``s3wsgi serve`` offers has a flag and a variable named
after it (:func:`s3wsgi.options.flag`, :func:`s3wsgi.options.environ_name`);
a flag wins over its variable.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, cast

from .. import options
from .errors import UsageError, in_flags

if TYPE_CHECKING:
    # The ``s3wsgi`` command's subparsers: each command adds its own.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

# Settings of the server rather than of the app. Its threads are the app's
# ``server_threads`` option (which sizes the bound on S3 requests): one
# setting, flag ``--threads`` (FLAG_ALIASES).
SERVER_HELP = {
    "host": "the address to listen on (default: 127.0.0.1)",
    "port": "the port to listen on; 0 picks a free one (default: 8080)",
    "server": "the WSGI server: waitress, or granian (needs the granian extra) (default: waitress)",
}
SERVER_DEFAULTS: dict[str, str | int] = {"host": "127.0.0.1", "port": 8080, "server": "waitress"}
SERVERS = ("waitress", "granian")

# An option's flags besides its own, first the one shown: ``--threads``
# and ``S3WSGI_THREADS`` set ``server_threads``, as they set waitress's
# threads before the two were one setting.
FLAG_ALIASES = {"server_threads": "--threads"}
VARIABLE_ALIASES = {"server_threads": "threads"}


class ServerSettings(TypedDict, total=False):
    """The server settings a command asked for, as ``create_server`` takes them."""

    host: str
    port: int
    server: str


def add_option_flags(
    parser: argparse.ArgumentParser,
    names: Iterable[str],
    *,
    defaults: Mapping[str, str] | None = None,
) -> None:
    """A flag per option, with its help, default and variable.

    :param defaults: defaults of this command's own, as shown.
    """
    for name in names:
        flat = options.FIELDS[name]
        shown = (defaults or {}).get(name) or options.shown_default(name)
        default = f"; default: {shown}" if shown not in ("none", '""') else ""
        flags = [flat.flag]
        if name in FLAG_ALIASES:
            flags.insert(0, FLAG_ALIASES[name])
        parser.add_argument(
            *flags,
            dest=name,
            # Lists of pairs (headers, redirects): the flag repeats.
            action="append" if flat.default == () else "store",
            metavar="|".join(flat.choices) if flat.choices else "VALUE",
            help=f"{flat.help}{default} [{' or '.join(variables(name))}]",
        )


def add_server_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        parser.add_argument(
            "--" + name,
            dest=name,
            metavar="|".join(SERVERS) if name == "server" else "VALUE",
            help=f"{SERVER_HELP[name]} [{options.environ_name(name)}]",
        )


def setting(
    args: argparse.Namespace, name: str, environ: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """A flag's text and how the user wrote it, else its variable's, else None."""
    value = getattr(args, name)
    flag = FLAG_ALIASES.get(name) or (options.flag(name) if name in options.FIELDS else "--" + name)
    if isinstance(value, list):
        return "\n".join(value), flag
    if value is not None:
        return value, flag
    for variable in variables(name):
        if variable in environ:
            return environ[variable], variable
    return None, None


def variables(name: str) -> list[str]:
    """The ``S3WSGI_*`` variables that set a setting: its own, and its
    aliases' (``S3WSGI_REGION`` for ``region_name``)."""
    names = [name] + [alias for alias, target in options.ALIASES.items() if target == name]
    names += [VARIABLE_ALIASES[name]] if name in VARIABLE_ALIASES else []
    return [options.environ_name(each) for each in names]


def server_settings(
    args: argparse.Namespace, environ: Mapping[str, str], names: Sequence[str]
) -> ServerSettings:
    settings: dict[str, str | int] = {}
    for name in names:
        text, label = setting(args, name, environ)
        if text is None or label is None:
            settings[name] = SERVER_DEFAULTS[name]
        elif name == "host":
            settings[name] = text.strip()
        elif name == "server":
            if text.strip() not in SERVERS:
                raise UsageError(f"{label}: {text!r} is not one of {', '.join(SERVERS)}")
            settings[name] = text.strip()
        else:
            try:
                number = options.to_int(label, text)
            except ValueError as error:
                raise UsageError(str(error)) from None
            if not 0 <= number <= 65535:
                raise UsageError(f"{label}: {text!r} is not between 0 and 65535")
            settings[name] = number
    # Each name is one of SERVER_DEFAULTS's: host text, the others numbers.
    return cast(ServerSettings, settings)


def option_settings(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    names: Sequence[str],
    *,
    also_known: Iterable[str] = (),
) -> dict[str, object]:
    """The options given by flag or variable, converted; an unknown
    ``S3WSGI_*`` variable is a usage error (a typo must not pass unseen)."""
    known = {variable for name in [*names, *also_known] for variable in variables(name)}
    for variable in sorted(environ):
        if variable.startswith(options.ENVIRON_PREFIX) and variable not in known:
            raise UsageError(f"{variable}: unknown setting (see --help)")
    given: dict[str, object] = {}
    for name in names:
        text, label = setting(args, name, environ)
        if text is None:
            continue
        try:
            given[name] = options.convert(name, text, label=label)
        except ValueError as error:
            raise UsageError(str(error)) from None
    return given


def required_options(given: Mapping[str, Any]) -> options.Options:
    """The options a command was given, a bucket among them: a usage error
    names what is missing or wrong by its flag."""
    if not given.get("bucket"):
        raise UsageError(
            f"the following arguments are required: --bucket (or {options.environ_name('bucket')})"
        )
    try:
        return options.Options(**given)  # S3 is not called yet
    except ValueError as error:
        raise UsageError(in_flags(str(error))) from None
