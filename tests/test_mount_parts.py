"""The parts of a mount, each on its own (fast tier: a store over a dict,
no S3 server, no network): the guard lets a request through or answers it
itself, the resolver says what a request asks for (best first), and the
mount answers the first target that is there, asking S3 in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from wsgiref.util import setup_testing_defaults

from s3wsgi.middleware import Mount
from s3wsgi.mount.asked import (
    NAVIGATION_VARY,
    Asked,
    Fallback,
    HandOn,
    Listing,
    Miss,
    ObjectTarget,
    Redirect,
    Target,
    VersionsDocument,
)
from s3wsgi.site import MANIFEST_NAME, manifest
from s3wsgi.site.manifest import Entry
from s3wsgi.stores.base import Budget, Listed, NotFound, ObjectRequest, S3Object
from s3wsgi.stores.base import Listing as Page

SITE = "site/"


class DictStore:
    """A store over a dict (key -> bytes) that records every call, in order:
    ``("get", key)``, ``("head", key)``, ``("list", folder)``."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects
        self.calls: list[tuple[str, str]] = []

    def _found(self, call: str, key: str) -> bytes:
        self.calls.append((call, key))
        if key not in self.objects:
            raise NotFound()
        return self.objects[key]

    def get(self, request: ObjectRequest) -> S3Object:
        data = self._found("get", request.key)
        return S3Object(200, {"content-length": str(len(data)), "etag": '"e"'}, [data])

    def head(self, request: ObjectRequest) -> S3Object:
        data = self._found("head", request.key)
        return S3Object(200, {"content-length": str(len(data)), "etag": '"e"'})

    def list(
        self, prefix: str, *, after: str | None, limit: int, budget: Budget | None = None
    ) -> Page:
        self.calls.append(("list", prefix))
        names = sorted(key for key in self.objects if key.startswith(prefix))
        objects = [
            Listed(key, len(self.objects[key]), None) for key in names if key > (after or "")
        ]
        return Page(folders=[], objects=objects[:limit], more=len(objects) > limit)

    def presign(self, key: str, expires: int) -> str:
        return f"https://signed.example/{key}?expires={expires}"


def mounted(objects: dict[str, bytes], **options: object) -> tuple[Mount, DictStore]:
    store = DictStore({SITE + key: body for key, body in objects.items()})
    options.setdefault("prefix", "/docs")
    options.setdefault("variants", False)  # no manifest read unless a test asks
    return Mount(store=store, key_prefix=SITE, **options), store


def environ_for(path_info: str, method: str = "GET", **headers: str) -> dict[str, object]:
    environ: dict[str, object] = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path_info, QUERY_STRING="", SCRIPT_NAME="")
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    return environ


def asked_of(mount: Mount, path_info: str, **headers: str) -> Asked:
    """The Asked the guard hands on for a request, the request served by
    nothing: the guard's own reading of the path."""
    environ = environ_for(path_info, **headers)
    rest = mount.match(path_info)
    assert rest is not None
    seen: list[Asked] = []

    def serve(asked: Asked, budget: Budget) -> None:
        seen.append(asked)

    assert mount.guard.respond(environ, rest, serve) is None
    [asked] = seen
    return asked


def targets(mount: Mount, path_info: str, **headers: str) -> list[Target]:
    """Every target a request resolves to, best first (as if each proved
    missing in turn)."""
    found: Iterator[Target] = mount.resolver.targets(
        asked_of(mount, path_info, **headers), Budget(mount.options.request_deadline)
    )
    return list(found)


NAVIGATION = {"sec_fetch_mode": "navigate", "accept": "text/html"}


def test_a_folder_path_asks_for_its_index_key_before_anything_else():
    mount, store = mounted({"guide/index.html": b"<p>guide</p>"})
    asked = asked_of(mount, "/docs/guide/")
    assert (asked.wsgi_path, asked.path, asked.site, asked.key) == (
        "guide/",
        "guide/",
        SITE,
        SITE + "guide/index.html",
    )
    assert asked.folder
    resolved = mount.resolver.targets(asked, Budget(mount.options.request_deadline))
    assert next(resolved) == ObjectTarget(SITE + "guide/index.html")
    assert store.calls == []  # the key is known without asking S3


def test_a_missing_key_with_spa_fallback_resolves_to_the_apps_page_then_a_miss():
    mount, store = mounted({"app.html": b"<div id=app>"}, spa_fallback="app.html")
    assert targets(mount, "/docs/users/42", **NAVIGATION) == [
        ObjectTarget(SITE + "users/42"),
        Fallback(SITE + "app.html"),
        Miss("a missing key", vary=NAVIGATION_VARY),
    ]
    # Between the object and the page: is it a folder (its index)?
    assert store.calls == [("head", SITE + "users/42/index.html")]


def test_a_missing_key_answers_the_spa_page_asking_s3_in_order():
    mount, store = mounted({"app.html": b"<div id=app>"}, spa_fallback="app.html")
    answer = mount.respond(environ_for("/docs/users/42", **NAVIGATION), "users/42")
    assert answer is not None and answer.status == 200
    assert b"".join(answer.body) == b"<div id=app>"
    assert ("Vary", NAVIGATION_VARY) in answer.headers
    assert store.calls == [
        ("get", SITE + "users/42"),
        ("head", SITE + "users/42/index.html"),
        ("get", SITE + "app.html"),
    ]


def test_a_missing_key_is_handed_on_with_fallthrough():
    mount, _ = mounted({}, fallthrough=True)
    assert targets(mount, "/docs/nothing.html")[-1] == HandOn("a missing key")
    assert mount.respond(environ_for("/docs/nothing.html"), "nothing.html") is None


def test_a_hidden_name_is_a_miss_without_any_store_call():
    mount, store = mounted({"secret/.env": b"KEY=1"}, hidden=".*")
    answer = mount.respond(environ_for("/docs/secret/.env"), "secret/.env")
    assert answer is not None and answer.status == 404
    assert b"".join(answer.body) == b"404 Not Found\n"
    assert store.calls == []
    handed_on, store = mounted({"secret/.env": b"KEY=1"}, hidden=".*", fallthrough=True)
    assert handed_on.respond(environ_for("/docs/secret/.env"), "secret/.env") is None
    assert store.calls == []


def test_a_redirect_from_the_redirects_file_resolves_to_a_redirect():
    moved = json.dumps({"/old.html": "/new.html", "/away": "https://example.org/x"})
    mount, store = mounted({"_redirects.json": moved.encode()}, redirects_file="_redirects.json")
    assert targets(mount, "/docs/old.html") == [Redirect("/docs/new.html")]
    # Off this host only where redirect_hosts allows: a logged miss, never a 5xx.
    assert targets(mount, "/docs/away") == [Miss("a redirect the bucket may not give")]
    assert store.calls == [("get", SITE + "_redirects.json")]  # read once, then kept


def test_the_versions_path_resolves_to_the_versions_document():
    document = {"versions": ["v1", "v2"], "aliases": {"latest": "v2"}, "default": "latest"}
    mount, store = mounted({"versions.json": json.dumps(document).encode()}, versions=True)
    [target] = targets(mount, "/docs/versions.json")
    assert isinstance(target, VersionsDocument)
    assert target.document["versions"] == ["v1", "v2"]
    assert target.document["aliases"] == {"latest": "v2"}
    assert store.calls == [("get", SITE + "versions.json")]


def test_an_alias_resolves_to_its_versions_key_and_the_root_to_the_default():
    document = {"versions": ["v1", "v2"], "aliases": {"latest": "v2"}, "default": "latest"}
    mount, _ = mounted({"versions.json": json.dumps(document).encode()}, versions=True)
    assert targets(mount, "/docs/latest/guide.html")[0] == ObjectTarget(SITE + "v2/guide.html")
    [root] = targets(mount, "/docs/")
    assert isinstance(root, Redirect) and root.location == "/docs/latest/"
    assert targets(mount, "/docs/v9/guide.html") == [Miss("no such version")]


def test_a_folder_without_its_index_resolves_to_its_listing():
    mount, store = mounted({"files/a.txt": b"a", "files/b.txt": b"bb"}, listing=True)
    listed = targets(mount, "/docs/files/")
    assert listed[0] == ObjectTarget(SITE + "files/index.html")
    listing = listed[1]
    assert isinstance(listing, Listing)
    assert [item.key for item in listing.listed.objects] == [
        SITE + "files/a.txt",
        SITE + "files/b.txt",
    ]
    assert (listing.folder, listing.shown) == (SITE + "files/", "/docs/files/")
    assert store.calls == [("list", SITE + "files/")]


def test_a_folder_of_a_version_is_listed_under_the_path_the_reader_asked_for():
    document = {"versions": ["v2"], "aliases": {"latest": "v2"}, "default": "latest"}
    mount, _ = mounted(
        {"versions.json": json.dumps(document).encode(), "v2/files/a.txt": b"a"},
        listing=True,
        versions=True,
    )
    listing = targets(mount, "/docs/latest/files/")[1]
    assert isinstance(listing, Listing)
    assert (listing.folder, listing.shown) == (SITE + "v2/files/", "/docs/latest/files/")


def test_a_large_object_resolves_to_a_presigned_redirect():
    mount, store = mounted({"big.iso": bytes(2_000)}, redirect_over_bytes=1_000)
    asked = asked_of(mount, "/docs/big.iso")
    target = next(mount.resolver.targets(asked, Budget(mount.options.request_deadline)))
    assert isinstance(target, Redirect)
    assert target.location.startswith("https://signed.example/site/big.iso?expires=")
    assert target.cache_control == "private, no-store"
    assert store.calls == [("head", SITE + "big.iso")]


def test_the_guard_answers_bad_methods_and_paths_before_anything_is_resolved():
    mount, store = mounted({"a.html": b"a"})
    assert mount.respond(environ_for("/docs/a.html", method="POST"), "a.html").status == 405
    assert mount.respond(environ_for("/docs/\xc0\xaf"), "\xc0\xaf").status == 400
    assert store.calls == []


def test_variants_of_an_object_come_from_the_manifest_and_a_variants_own_key_is_missing():
    entry = Entry("0" * 64, 100, "text/javascript", "no-cache", {"br": 40, "gzip": 50})
    site = {
        MANIFEST_NAME: manifest.dumps({"app.js": entry}),
        "app.js": bytes(100),
        "app.js.br": bytes(40),
    }
    mount, store = mounted(site, variants=True)
    [found, _] = targets(mount, "/docs/app.js")
    assert isinstance(found, ObjectTarget) and found.key == SITE + "app.js"
    assert sorted(found.encodings) == ["br", "gzip"]
    # Reached only through its file: the variant's key resolves straight to a miss.
    assert targets(mount, "/docs/app.js.br") == [Miss("a missing key")]
    answer = mount.respond(environ_for("/docs/app.js", accept_encoding="br"), "app.js")
    assert answer is not None and answer.status == 200
    assert b"".join(answer.body) == bytes(40)
    assert ("Vary", "Accept-Encoding") in answer.headers
    assert ("get", SITE + "app.js.br") in store.calls
