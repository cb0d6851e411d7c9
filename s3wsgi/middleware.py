"""The WSGI middleware: claim a path prefix, answer it from S3, pass the rest on."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from .bulkhead import Bulkhead
from .check import BucketProblem, check_bucket
from .http import responses
from .http.responses import Response
from .mount.answer import Answers, cache_control
from .mount.asked import Asked, Environ, Fallback, ObjectTarget
from .mount.guard import Guard
from .mount.hosted import WebsiteRedirect
from .mount.objects import ObjectAnswers
from .mount.resolve import Resolver
from .observe.observer import Observer, observer_for
from .options import (
    STORE_MAKING,
    Options,
    environ_name,
    environ_options,
    given_names,
    is_ready_store,
    ready_client,
)
from .stores.base import Budget, Clock, NotFound, Store
from .stores.events import NO_EVENTS, StoreEvents
from .stores.factory import StoreChain, make_store

log = logging.getLogger("s3wsgi")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def not_found_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The app behind :class:`S3App`: everything outside the prefix is 404."""
    return responses.text_response(HTTPStatus.NOT_FOUND, [])(environ, start_response)


class Mount:
    """One path prefix served from one bucket: which requests it claims
    (:meth:`match`) and their answers (:meth:`respond`), for the WSGI
    middleware below and the framework adapters alike.

    A request is guarded (:class:`~s3wsgi.mount.guard.Guard`), then resolved
    (:class:`~s3wsgi.mount.resolve.Resolver`) and answered
    (:class:`~s3wsgi.mount.answer.Answers`) inside its S3 turn and deadline.

    :param options: an :class:`~s3wsgi.options.Options`, or none and the
        options as keywords (``bucket``, ``prefix``, ...): the docs' options
        table lists them all.
    :param chain: the stores to read through instead of ones made from the
        options (mounts of one middleware share theirs).
    :param clock: a monotonic clock, in seconds, that the breaker's
        cool-down, the cache's and the site files' TTLs and the deadline
        are measured by (a test hands its own; never the bound's waits).
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        chain: StoreChain | None = None,
        clock: Clock = time.monotonic,
        **keywords: Any,
    ):
        if options is None:
            options = Options(**_with_environ(keywords))
        elif keywords:
            raise TypeError("give options either as an Options or as keywords, not both")
        self.options = options
        self.prefix = options.prefix.rstrip("/")
        key_prefix = options.key_prefix.strip("/")
        self.key_prefix = key_prefix + "/" if key_prefix else ""
        self.index_document = options.index_document
        self.fallthrough = options.fallthrough
        self.headers = list(options.headers)
        self.authorize = options.access.authorize
        scope = options.access.scope
        self.private = scope == "private" or (scope == "auto" and self.authorize is not None)
        if options.check:
            problem = check_bucket(options)
            if problem:
                raise BucketProblem(problem)
        # Logs S3's faults; metrics and Server-Timing if asked. The stores
        # report to it from the start; a chain another mount made already
        # reports to that mount's, which shares with this one.
        self.clock = clock
        self.observer = observer_for(options, clock)
        if chain is None:
            chain = store_for(options, self.observer, clock)
        elif isinstance(chain.events, Observer):
            chain.events.share(self.observer)
            self.observer.breaker_state(chain.resilient.breaker.state)
        self.chain = chain
        self.store = chain.top
        self.objects = ObjectAnswers(
            self.store, cache_control=cache_control(options), extra=self.headers
        )
        # The other mounts of the middleware: a key is answered only under
        # the rules of the mount that owns it (set by S3Middleware).
        self.owners: Callable[[Mount, str], Mount] = _self_owner
        self.resolver = Resolver(
            options,
            prefix=self.prefix,
            key_prefix=self.key_prefix,
            objects=self.objects,
            # Site files are read past the object cache, or a publish would
            # be seen only after cache_ttl.
            uncached=chain.resilient,
            fresh=chain.fresh,
            owner=self._other_owner,
            clock=clock,
        )
        self.guard = Guard(
            options,
            prefix=self.prefix,
            key_prefix=self.key_prefix,
            extra=self.headers,
            observer=self.observer,
            from_memory=self.resolver.from_memory,
        )
        self.answers = Answers(self.objects, self.headers, self.guard.listed)

    @property
    def bulkhead(self) -> Bulkhead:
        """The bound on S3 requests this mount's requests take turns in
        (one for every mount of a middleware)."""
        return self.guard.bulkhead

    @bulkhead.setter
    def bulkhead(self, bulkhead: Bulkhead) -> None:
        self.guard.bulkhead = bulkhead

    def match(self, path_info: str) -> str | None:
        """Whether the prefix claims a request: the WSGI path after
        ``prefix + "/"`` (PEP 3333's latin-1 string) if it does, else None."""
        prefix = self.prefix
        if path_info == prefix or path_info.startswith(prefix + "/"):
            return path_info[len(prefix) + 1 :]
        return None

    def respond(self, environ: Environ, rest: str) -> Response | None:
        """The answer to a claimed request, or None when it is not ours
        after all (a missing key with ``fallthrough``): hand it on.

        ``rest`` is what :meth:`match` returned. The answer is a WSGI app;
        the framework adapters turn it into their own responses.
        """
        watched = self.observer.begin(environ)
        answer = None
        try:
            answer = self.guard.respond(environ, rest, self._serve)
            if answer is not None and self.private:
                responses.make_private(answer, self.options.access.vary)
        finally:
            # Also when the answer failed: the thread's next request starts clean.
            self.observer.end(watched, answer)
        return answer

    def _serve(self, asked: Asked, budget: Budget) -> Response | None:
        """What ``asked`` resolves to, answered: a target that proves
        missing gives way to the resolver's next one."""
        targets = self.resolver.targets(asked, budget)
        target = next(targets)
        while True:
            try:
                return self.answers.answer(asked.environ, target, budget)
            except WebsiteRedirect as redirect:
                # The key's object or the app's page, which S3 website
                # hosting would redirect: checked as the bucket's data.
                assert isinstance(target, (ObjectTarget, Fallback))  # what reads an object
                moved = self.resolver.website_redirect(
                    target.key,
                    redirect.location,
                    asked.environ,
                    navigation=isinstance(target, Fallback),
                )
                return self.answers.answer(asked.environ, moved, budget)
            except NotFound:
                target = next(targets)

    def _other_owner(self, key: str) -> str | None:
        """The prefix of the other mount whose rules ``key`` is read under,
        or None when it is this mount's own."""
        owner = self.owners(self, key)
        return None if owner is self else owner.prefix


def _with_environ(keywords: dict[str, Any]) -> dict[str, Any]:
    """The keywords, over the options ``S3WSGI_*`` variables set (as
    ``s3wsgi serve`` and the examples read them): a keyword wins."""
    given = given_names(keywords)
    if is_ready_store(keywords.get("store")):
        given.update(STORE_MAKING)  # a ready store knows how to reach S3
    taken = environ_options(os.environ, given=given)
    if taken:
        names = ", ".join(environ_name(name) for name in sorted(taken))
        log.info("options from the environment: %s", names)
    return {**taken, **keywords}


def _self_owner(mount: Mount, key: str) -> Mount:
    """A mount alone owns every key it maps to."""
    return mount


def store_for(
    options: Options, events: StoreEvents = NO_EVENTS, clock: Clock = time.monotonic
) -> StoreChain:
    """The chain of stores a mount with these options reads through."""
    client = ready_client(options)
    return make_store(
        options.bucket,
        options.connection,
        options.policy,
        store=options.store if client is None else "boto3",
        client=client,
        cache_max_bytes=options.cache.max_bytes,
        cache_ttl=options.cache.ttl,
        cache_max_object_bytes=options.cache.max_object_bytes,
        events=events,
        clock=clock,
    )


class S3Middleware:
    """Serve the objects of an S3 bucket under a path prefix of a WSGI app.

    Requests under ``prefix`` are answered from S3 by streaming the object;
    every other request reaches ``app`` untouched (the same environ, nothing
    read from its input, no header added).

    :param app: the WSGI application to wrap.
    :param options: an :class:`~s3wsgi.options.Options`, or none and the
        options as keywords (``bucket``, ``prefix``, ...).
    :param mounts: several sites in one middleware: ``prefix -> options``
        (a dict of keywords, or an Options), each over the keywords given
        here. Mounts of one bucket share one store and its connections, and
        all share the bound on S3 requests (the server's threads are one
        pool). The longest matching prefix answers.
    :param clock: what TTLs, cool-downs and deadlines are measured by
        (:class:`Mount`'s ``clock``).

    Usage::

        app.wsgi_app = S3Middleware(app.wsgi_app, bucket="my-docs", prefix="/docs")

        app.wsgi_app = S3Middleware(
            app.wsgi_app,
            mounts={"/docs": {"bucket": "my-docs"}, "/downloads": {"bucket": "my-files"}},
            server_threads=8,
        )
    """

    def __init__(
        self,
        app: WSGIApp,
        options: Options | None = None,
        *,
        mounts: Mapping[str, Mapping[str, Any] | Options] | None = None,
        clock: Clock = time.monotonic,
        **keywords: Any,
    ):
        self.app = app
        if mounts is None:
            self.mounts: list[Mount] = [Mount(options, clock=clock, **keywords)]
            return
        if options is not None:
            raise TypeError("give mounts with shared keywords, not an Options")
        if not mounts:
            raise ValueError("mounts: at least one prefix")
        made: list[Mount] = []
        stores: dict[tuple[object, ...], StoreChain] = {}
        bulkhead = None
        for prefix, given in mounts.items():
            if isinstance(given, Options):
                mount_options = dataclasses.replace(given, prefix=prefix)
            else:
                mount_options = Options(**_with_environ({**keywords, **given, "prefix": prefix}))
            spec = _store_spec(mount_options)
            shared = stores.get(spec) if spec is not None else None
            mount = Mount(mount_options, chain=shared, clock=clock)
            if spec is not None:
                stores.setdefault(spec, mount.chain)
            if bulkhead is None:
                bulkhead = mount.bulkhead
            elif mount.options.s3_request_bound != bulkhead.limit:
                # The server's threads are one pool: one bound for them all.
                raise ValueError(
                    f"mounts: {prefix} asks for another bound on S3 requests"
                    f" ({mount.options.s3_request_bound}) than {made[0].prefix}"
                    f" ({bulkhead.limit}): give max_s3_requests and server_threads"
                    " once, beside mounts"
                )
            mount.bulkhead = bulkhead
            made.append(mount)
        prefixes = [mount.prefix for mount in made]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError(f"mounts: a prefix is given twice: {prefixes}")
        self.mounts = sorted(made, key=lambda mount: len(mount.prefix), reverse=True)
        for mount in made:
            mount.owners = self._owner

    @property
    def mount(self) -> Mount:
        """The one mount of a middleware made without ``mounts``; with
        several, read them in :attr:`mounts`."""
        if len(self.mounts) != 1:
            raise AttributeError("mount")  # said by __getattr__, with the prefixes
        return self.mounts[0]

    # The one mount's, for a middleware of one (the common case).

    @property
    def options(self) -> Options:
        return self.mount.options

    @property
    def prefix(self) -> str:
        return self.mount.prefix

    @property
    def key_prefix(self) -> str:
        return self.mount.key_prefix

    @property
    def headers(self) -> list[tuple[str, str]]:
        return self.mount.headers

    @property
    def chain(self) -> StoreChain:
        return self.mount.chain

    @property
    def store(self) -> Store:
        return self.mount.store

    @property
    def bulkhead(self) -> Bulkhead:
        return self.mount.bulkhead

    @property
    def observer(self) -> Observer:
        return self.mount.observer

    def __getattr__(self, name: str) -> Any:
        # Any other attribute of the one mount (fallthrough, resolver, ...);
        # also where a property above found several.
        mounts: list[Mount] | None = self.__dict__.get("mounts")
        if name.startswith("__") or mounts is None:
            raise AttributeError(name)
        if len(mounts) != 1:
            prefixes = ", ".join(mount.prefix or "/" for mount in mounts)
            raise AttributeError(
                f"{name}: this middleware has several mounts ({prefixes}): see .mounts"
            )
        return getattr(mounts[0], name)

    def match(self, path_info: str) -> str | None:
        return self.mount.match(path_info)

    def respond(self, environ: Environ, rest: str) -> Response | None:
        return self.mount.respond(environ, rest)

    def _owner(self, mount: Mount, key: str) -> Mount:
        """The mount whose rules a key of ``mount``'s bucket is read under:
        of the mounts on that bucket, the one with the longest key_prefix
        holding the key, unless it guards its keys as ``mount`` does."""
        owner = mount
        bucket = mount.options.bucket
        for other in self.mounts:
            same = other.store is mount.store or (bucket and other.options.bucket == bucket)
            longer = len(other.key_prefix) > len(owner.key_prefix)
            if same and longer and key.startswith(other.key_prefix):
                owner = other
        if owner.authorize is mount.authorize and owner.private == mount.private:
            return mount
        return owner

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path_info = environ.get("PATH_INFO", "")
        for mount in self.mounts:
            rest = mount.match(path_info)
            if rest is not None:
                answer = mount.respond(environ, rest)
                if answer is None:
                    break
                return answer(environ, start_response)
        return self.app(environ, start_response)


def _store_spec(options: Options) -> tuple[object, ...] | None:
    """What makes two mounts' stores the same one, or None for a ready store."""
    if is_ready_store(options.store):
        return None
    return (
        options.bucket,
        options.connection,
        options.policy,
        options.store if isinstance(options.store, str) else id(options.store),
        options.cache.max_bytes,
        options.cache.ttl,
        options.cache.max_object_bytes,
    )


class S3App(S3Middleware):
    """A complete WSGI app serving a bucket: at ``/`` by default, 404 elsewhere.

    Usage::

        application = S3App(bucket="my-docs")
    """

    def __init__(self, options: Options | None = None, **keywords: Any):
        if options is None:
            keywords.setdefault("prefix", "/")
        super().__init__(not_found_app, options, **keywords)
