"""The options schema: one typed definition from which the keywords, their
checks, their conversion from text (.ini files, S3WSGI_* variables) and the
docs' table come; every mistake is one clear ValueError."""

from __future__ import annotations

import dataclasses
import os.path
from pathlib import Path

import pytest

from s3wsgi import (
    S3,
    Access,
    Cache,
    Downloads,
    Listing,
    Observe,
    Options,
    Published,
    Redirects,
    S3App,
    S3Middleware,
    Safety,
    Versions,
)
from s3wsgi import options as config


@pytest.mark.parametrize("text", ["true", "True", " yes ", "ON", "1"])
def test_true_words_are_true(text):
    assert config.convert("fallthrough", text) is True


@pytest.mark.parametrize("text", ["false", "FALSE", "no", " off", "0"])
def test_false_words_are_false(text):
    assert config.convert("fallthrough", text) is False


def test_a_word_that_is_not_a_boolean_names_the_option_and_the_value():
    with pytest.raises(ValueError, match=r"^fallthrough: 'maybe' is not a boolean \(use true/"):
        config.convert("fallthrough", "maybe")


def test_whole_numbers_and_numbers_are_converted():
    assert config.convert("max_attempts", " 5 ") == 5
    assert config.convert("max_pool_connections", "64") == 64
    assert config.convert("read_timeout", "2.5") == 2.5
    assert config.convert("connect_timeout", "1") == 1.0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("max_attempts", "five", "max_attempts: 'five' is not a whole number"),
        ("max_attempts", "2.5", "max_attempts: '2.5' is not a whole number"),
        ("read_timeout", "soon", "read_timeout: 'soon' is not a number"),
        ("read_timeout", "nan", "read_timeout: 'nan' is not a finite number"),
        ("connect_timeout", "inf", "connect_timeout: 'inf' is not a finite number"),
    ],
)
def test_bad_numbers_name_the_option_and_the_value(name, text, message):
    with pytest.raises(ValueError) as raised:
        config.convert(name, text)
    assert str(raised.value) == message


def test_strings_are_stripped_and_kept():
    assert config.convert("bucket", " my-docs ") == "my-docs"
    assert config.convert("prefix", "/manual") == "/manual"


def test_an_empty_value_of_an_option_that_may_be_none_is_none():
    assert config.convert("error_document", "") is None
    assert config.convert("endpoint_url", "  ") is None
    assert config.convert("headers", "") == ()


def test_an_empty_key_prefix_stays_an_empty_string():
    assert config.convert("key_prefix", "") == ""


def test_headers_are_one_name_value_pair_per_line():
    text = "\nContent-Security-Policy: sandbox; default-src 'self'\n\nX-Frame-Options:DENY\n"
    assert config.convert("headers", text) == (
        ("Content-Security-Policy", "sandbox; default-src 'self'"),
        ("X-Frame-Options", "DENY"),
    )


@pytest.mark.parametrize("line", ["no colon here", ": empty name", "Two Words: x"])
def test_a_malformed_header_line_is_named(line):
    with pytest.raises(ValueError, match="^headers: .* is not a 'Name: value' header line"):
        config.convert("headers", f"X-Ok: 1\n{line}")


def test_authorize_is_imported_from_a_dotted_path():
    assert config.convert("authorize", "os.path:isabs") is os.path.isabs
    assert config.convert("authorize", "os:path.isabs") is os.path.isabs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("os.path.isabs", "authorize: 'os.path.isabs' is not a 'package.module:callable' path"),
        ("no_such_module_s3wsgi:check", "authorize: cannot import module 'no_such_module_s3wsgi'"),
        ("os:no_such_function", "authorize: module 'os' has no 'no_such_function'"),
        ("os:sep", "authorize: 'os:sep' is not callable"),
    ],
)
def test_a_bad_authorize_path_says_what_is_wrong(text, message):
    with pytest.raises(ValueError) as raised:
        config.convert("authorize", text)
    assert str(raised.value).startswith(message)
    assert "Traceback" not in str(raised.value)


def test_an_unknown_option_is_named_and_the_known_ones_listed():
    with pytest.raises(ValueError) as raised:
        config.convert_settings({"bucket": "b", "bukket": "b"})
    message = str(raised.value)
    assert message.startswith("bukket: unknown option (known: ")
    assert "bucket" in message and "key_prefix" in message


def test_the_label_says_where_the_value_came_from():
    with pytest.raises(ValueError, match="^S3WSGI_MAX_ATTEMPTS: 'x' is not a whole number"):
        config.convert("max_attempts", "x", label="S3WSGI_MAX_ATTEMPTS")


def test_values_that_are_not_text_are_kept_as_they_are():
    headers = [("X-A", "1")]
    assert config.convert("headers", headers) is headers
    assert config.convert("fallthrough", True) is True


def test_region_is_another_name_for_region_name():
    assert config.convert_settings({"region": "eu-west-1"}) == {"region_name": "eu-west-1"}


def test_every_option_but_a_live_object_can_be_given_as_text():
    text_less = set()
    for name in config.FIELDS:
        try:
            config.convert(name, "1")
        except ValueError as error:
            if "cannot be given as text" in str(error):
                text_less.add(name)
    # A live boto3 client is the one option only Python can give.
    assert text_less == {"client"}


def test_a_client_is_kept_and_cannot_be_given_as_text():
    client = object()
    assert config.convert_settings({"bucket": "b", "client": client})["client"] is client
    with pytest.raises(ValueError, match="client: cannot be given as text"):
        config.convert_settings({"client": "my-client"})


def test_converted_options_configure_the_middleware():
    options = config.convert_settings(
        {
            "bucket": "my-docs",
            "prefix": "/manual",
            "key_prefix": "v2/",
            "fallthrough": "yes",
            "cache_control": "max-age=60",
            "headers": "X-Frame-Options: DENY",
            "authorize": "os.path:isabs",
            "read_timeout": "30",
        }
    )
    middleware = S3Middleware(lambda environ, start_response: [], **options)
    assert middleware.prefix == "/manual"
    assert middleware.key_prefix == "v2/"
    assert middleware.fallthrough is True
    assert middleware.options.cache_control == "max-age=60"
    assert middleware.headers == [("X-Frame-Options", "DENY")]
    assert middleware.authorize is os.path.isabs
    assert middleware.options.s3.read_timeout == 30.0
    assert S3App(**config.convert_settings({"bucket": "my-docs"})).prefix == ""


def test_environ_settings_are_the_s3wsgi_variables_by_option_name():
    environ = {"S3WSGI_BUCKET": "docs", "S3WSGI_KEY_PREFIX": "v2", "HOME": "/home/someone"}
    assert config.environ_settings(environ) == {"bucket": "docs", "key_prefix": "v2"}
    assert config.environ_name("endpoint_url") == "S3WSGI_ENDPOINT_URL"


def test_every_option_has_a_type_a_default_and_a_line_of_help():
    for spec in dataclasses.fields(Options):
        assert spec.metadata["help"], spec.name
        assert "\n" not in spec.metadata["help"], spec.name
        assert spec.metadata["group"], spec.name
        assert spec.default is not dataclasses.MISSING, spec.name


def test_the_docs_options_table_is_the_schema():
    docs = Path(__file__).resolve().parents[1] / "docs" / "options.rst"
    assert config.options_table() in docs.read_text(encoding="utf-8"), (
        "docs/options.rst is out of date: paste python -c "
        "'from s3wsgi.options import options_table; print(options_table())'"
    )


def test_options_are_frozen_and_checked_once():
    options = Options(bucket="docs", read_timeout=2)
    assert options.s3.read_timeout == 2.0 and isinstance(options.s3.read_timeout, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.bucket = "other"  # type: ignore[misc]
    middleware = S3Middleware(lambda environ, start_response: [], options)
    assert middleware.options is options


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"bucket": "b", "read_timeout": "15"}, "read_timeout must be a number, not '15'"),
        ({"bucket": "b", "max_attempts": 2.5}, "max_attempts must be a whole number"),
        ({"bucket": "b", "fallthrough": "yes"}, "fallthrough must be true or false"),
        ({"bucket": "b", "max_attempts": True}, "max_attempts must be a whole number"),
        ({"bucket": "b", "store": "s4"}, "store must be 'auto', 'obstore', 'boto3' or a store"),
        ({"bucket": "b", "cache_scope": "shared"}, "cache_scope must be one of auto, private"),
        ({"bucket": "b", "addressing_style": "dns"}, "addressing_style must be one of auto"),
        ({}, "bucket: a bucket name is required"),
        ({"bucket": "b", "prefix": "docs"}, "prefix must start with '/'"),
        ({"bucket": "b", "chunk_size": 1024}, "chunk_size must be at least 64 KiB"),
        ({"bucket": "b", "deadline": 10}, "deadline (10 s) must be at least connect_timeout +"),
        ({"bucket": "b", "max_attempts": 0}, "max_attempts must be at least 1"),
        ({"bucket": "b", "headers": "X-A 1"}, "headers: 'X-A 1' is not a 'Name: value' header"),
        ({"bucket": "b", "authorize": "yes"}, "authorize must be callable"),
    ],
)
def test_a_wrong_value_is_refused_with_the_option_named(given, message):
    with pytest.raises(ValueError) as raised:
        Options(**given)
    assert str(raised.value).startswith(message)


class _ReadyStore:
    def get(self, request):
        raise AssertionError("not called")

    def head(self, request):
        raise AssertionError("not called")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"store": _ReadyStore(), "bucket": "b"}, "bucket does nothing with a ready store"),
        (
            {"store": _ReadyStore(), "endpoint_url": "http://s3"},
            "endpoint_url does nothing with a ready store",
        ),
        ({"store": _ReadyStore(), "read_timeout": 5.0}, "read_timeout does nothing with a ready"),
        ({"store": _ReadyStore(), "client": object()}, "client does nothing with a ready store"),
        ({"bucket": "b", "store": "obstore", "client": object()}, "client: a boto3 client needs"),
        (
            {"bucket": "b", "fallthrough": True, "error_document": "404.html"},
            "error_document does nothing with fallthrough",
        ),
        ({"bucket": "b", "cache_ttl": 5}, "cache_ttl does nothing without cache_max_bytes"),
        (
            {"bucket": "b", "server_threads": 4, "max_s3_requests": 5},
            "max_s3_requests (5) must not exceed server_threads (4)",
        ),
    ],
)
def test_contradictory_options_are_refused_not_ignored(given, message):
    with pytest.raises(ValueError) as raised:
        Options(**given)
    assert str(raised.value).startswith(message)


def test_a_ready_store_needs_no_bucket():
    store = _ReadyStore()
    assert Options(store=store).store is store


@pytest.mark.parametrize(
    ("threads", "bound"), [(None, 3), (1, 1), (2, 1), (4, 3), (8, 6), (16, 12), (64, 48)]
)
def test_the_bound_on_s3_requests_leaves_the_app_threads_of_its_own(threads, bound):
    options = Options(bucket="b", server_threads=threads)
    assert options.s3_request_bound == bound
    assert threads is None or bound < threads or threads == 1


def test_an_explicit_bound_wins_and_zero_means_none():
    assert Options(bucket="b", max_s3_requests=7).s3_request_bound == 7
    assert Options(bucket="b", max_s3_requests=0).s3_request_bound is None
    # The pool holds a connection for every request inside the bound.
    assert Options(bucket="b", max_s3_requests=48).connection.max_pool_connections == 48


@pytest.mark.parametrize(("name", "text"), [("store", " obstore "), ("cache_scope", "private")])
def test_a_choice_is_given_as_text(name, text):
    assert config.convert(name, text) == text.strip()
    with pytest.raises(ValueError, match=f"^{name}: 'other' is not one of"):
        config.convert(name, "other")


# The flags every flat name had before the options were grouped: grouping
# changes no flag (generated from command_line_options() at that time).
FLAGS_BEFORE_GROUPS = {
    "bucket": "--bucket",
    "prefix": "--prefix",
    "key_prefix": "--key-prefix",
    "index_document": "--index-document",
    "error_document": "--error-document",
    "cache_control": "--cache-control",
    "headers": "--header",
    "authorize": "--authorize",
    "cache_scope": "--cache-scope",
    "authorize_vary": "--authorize-vary",
    "variants": "--variants",
    "immutable_hashed": "--immutable-hashed",
    "hashed_pattern": "--hashed-pattern",
    "site_files_ttl": "--site-files-ttl",
    "spa_fallback": "--spa-fallback",
    "redirects": "--redirect",
    "redirects_file": "--redirects-file",
    "redirect_hosts": "--redirect-hosts",
    "listing": "--listing",
    "hidden": "--hidden",
    "listing_hidden": "--listing-hidden",
    "listing_page_size": "--listing-page-size",
    "versions": "--versions",
    "version_aliases": "--version-alias",
    "default_version": "--default-version",
    "redirect_over_bytes": "--redirect-over-bytes",
    "presign_expires": "--presign-expires",
    "endpoint_url": "--endpoint-url",
    "region_name": "--region",
    "addressing_style": "--addressing-style",
    "store": "--store",
    "connect_timeout": "--connect-timeout",
    "read_timeout": "--read-timeout",
    "max_pool_connections": "--max-pool-connections",
    "chunk_size": "--chunk-size",
    "server_threads": "--server-threads",
    "max_s3_requests": "--max-s3-requests",
    "send_timeout": "--send-timeout",
    "deadline": "--deadline",
    "max_attempts": "--max-attempts",
    "breaker_failures": "--breaker-failures",
    "breaker_cooldown": "--breaker-cooldown",
    "cache_max_bytes": "--cache-max-bytes",
    "cache_ttl": "--cache-ttl",
    "cache_max_object_bytes": "--cache-max-object-bytes",
    "server_timing": "--server-timing",
}
# Options with no flag: a callable's or an object's, or the app's own.
PYTHON_ONLY = {"fallthrough", "client", "check", "metrics"}


def test_every_flat_name_keeps_its_flag_and_its_variable():
    flags = {name: config.flag(name) for name in config.command_line_options()}
    assert flags == FLAGS_BEFORE_GROUPS
    assert set(config.FIELDS) == set(FLAGS_BEFORE_GROUPS) | PYTHON_ONLY
    assert config.environ_name("cache_ttl") == "S3WSGI_CACHE_TTL"


def test_options_has_about_twenty_top_level_fields():
    # 10 plain options (bucket ... headers), store and check, and 10 groups:
    # access, published, redirects, listing, versions, downloads, s3,
    # safety, cache, observe.
    assert len(dataclasses.fields(Options)) == 22
    assert len(config.FIELDS) == 50  # the flat names, as many as before


@pytest.mark.parametrize(
    ("group", "flat"),
    [
        ({"cache": Cache(ttl=60, max_bytes=2**20)}, {"cache_ttl": 60, "cache_max_bytes": 2**20}),
        (
            {"s3": S3(read_timeout=30, region_name="eu-west-1")},
            {"read_timeout": 30.0, "region_name": "eu-west-1"},
        ),
        ({"safety": Safety(max_attempts=5, deadline=60)}, {"max_attempts": 5, "deadline": 60}),
        (
            {"listing": Listing(enabled=True, page_size=5)},
            {"listing": True, "listing_page_size": 5},
        ),
        (
            {"versions": Versions(enabled=True, aliases={"latest": "v2"}, default="latest")},
            {"versions": True, "version_aliases": [("latest", "v2")], "default_version": "latest"},
        ),
        (
            {"downloads": Downloads(over_bytes=10**8, expires=60)},
            {"redirect_over_bytes": 10**8, "presign_expires": 60},
        ),
        (
            {"redirects": Redirects(paths={"/old": "/new"}, file="moved.json", hosts="a.example")},
            {
                "redirects": {"/old": "/new"},
                "redirects_file": "moved.json",
                "redirect_hosts": "a.example",
            },
        ),
        (
            {"access": Access(authorize=os.path.isabs, scope="public", vary="Cookie")},
            {"authorize": os.path.isabs, "cache_scope": "public", "authorize_vary": "Cookie"},
        ),
        (
            {
                "published": Published(
                    variants=False, hashed_pattern=r"\.[0-9a-f]{8}\.", files_ttl=2
                )
            },
            {"variants": False, "hashed_pattern": r"\.[0-9a-f]{8}\.", "site_files_ttl": 2},
        ),
        ({"observe": Observe(server_timing=True)}, {"server_timing": True}),
    ],
)
def test_a_group_object_and_its_flat_names_give_the_same_options(group, flat):
    grouped = Options(bucket="b", **group)
    assert grouped == Options(bucket="b", **flat)
    assert grouped != Options(bucket="b")
    # Read back grouped, of the group's class, its values checked and converted.
    (name,) = group
    assert type(getattr(grouped, name)) is type(group[name])


def test_a_group_and_one_of_its_flat_names_together_are_refused_naming_both():
    with pytest.raises(TypeError) as raised:
        Options(bucket="b", cache=Cache(max_bytes=2**20), cache_ttl=60)
    assert "cache=Cache(...)" in str(raised.value) and "cache_ttl" in str(raised.value)
    with pytest.raises(TypeError, match=r"published=Published\(\.\.\.\) and immutable_hashed"):
        Options(bucket="b", published=Published(), immutable_hashed=True)


def test_a_group_value_is_checked_by_the_flat_name_the_user_reads_in_the_docs():
    with pytest.raises(ValueError, match="^read_timeout must be a number, not '15'"):
        Options(bucket="b", s3=S3(read_timeout="15"))
    with pytest.raises(ValueError, match="^cache_ttl does nothing without cache_max_bytes"):
        Options(bucket="b", cache=Cache(ttl=5))
    with pytest.raises(ValueError, match="^listing_page_size must be between 1 and 1000"):
        Options(bucket="b", listing=Listing(enabled=True, page_size=0))
    with pytest.raises(ValueError, match="^cache must be a Cache, not 5"):
        Options(bucket="b", cache=5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'cache_tll'"):
        Options(bucket="b", cache_tll=5)


def test_a_group_is_read_and_replaced_whole():
    options = Options(bucket="b", cache_max_bytes=100, cache_ttl=7)
    assert options.cache == Cache(max_bytes=100, ttl=7.0)
    assert isinstance(options.cache.ttl, float)
    moved = dataclasses.replace(options, prefix="/other")
    assert moved.cache == options.cache and moved.prefix == "/other"


def test_flat_names_from_the_environment_land_in_their_group():
    environ = {
        "S3WSGI_CACHE_TTL": "60",
        "S3WSGI_CACHE_MAX_BYTES": "4096",
        "S3WSGI_REGION": "eu-west-1",
    }
    options = Options(bucket="b", **config.environ_options(environ))
    assert options.cache == Cache(max_bytes=4096, ttl=60.0)
    assert options.s3.region_name == "eu-west-1"


def test_a_group_given_whole_takes_none_of_its_fields_from_the_environment(monkeypatch):
    monkeypatch.setenv("S3WSGI_CACHE_TTL", "60")
    monkeypatch.setenv("S3WSGI_LISTING", "yes")
    middleware = S3Middleware(
        lambda environ, start_response: [], bucket="b", cache=Cache(max_bytes=4096, ttl=5)
    )
    assert middleware.options.cache == Cache(max_bytes=4096, ttl=5.0)
    assert middleware.options.listing.enabled is True


def test_flat_names_from_ini_and_framework_settings_land_in_their_group():
    from s3wsgi.integrations.paste import app_factory

    ini = app_factory({}, bucket="b", listing="yes", listing_page_size="5", cache_scope="public")
    assert ini.options.listing == Listing(enabled=True, page_size=5)
    assert ini.options.access.scope == "public"
    # Django's S3WSGI dict and Pyramid's s3wsgi.* settings come this way too.
    settings = Options.from_settings(
        {"bucket": "b", "versions": "on", "version_aliases": "latest = v2"}
    )
    assert settings.versions == Versions(enabled=True, aliases=(("latest", "v2"),))
    # Settings that Python writes (Django's) may hold a group object too.
    grouped = Options.from_settings({"bucket": "b", "cache": Cache(max_bytes=10)})
    assert grouped.cache == Cache(max_bytes=10)
    with pytest.raises(ValueError, match="^cache: unknown option"):
        Options.from_settings({"bucket": "b", "cache": "10"})


def test_immutable_hashed_is_the_hashed_pattern_s3wsgi_publish_uses():
    from s3wsgi.site import HASHED_PATTERN

    assert Options(bucket="b").published.hashed_pattern is None
    assert Options(bucket="b", immutable_hashed=True).published.hashed_pattern == HASHED_PATTERN
    # A pattern given turns immutable answers on by itself, and wins.
    for on in (True, False):
        given = Options(bucket="b", immutable_hashed=on, hashed_pattern="-[0-9]+[.]")
        assert given.published.hashed_pattern == "-[0-9]+[.]"
    with pytest.raises(ValueError, match="^immutable_hashed must be true or false"):
        Options(bucket="b", immutable_hashed="yes")


def test_a_boto3_client_is_given_as_store_or_as_client():
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", region_name="us-east-1")
    assert Options(bucket="b", client=client) == Options(bucket="b", store=client)
    assert Options(bucket="b", client=client, store="boto3").store is client
    with pytest.raises(ValueError, match="^client must be a boto3 S3 client"):
        Options(bucket="b", client=object())
    with pytest.raises(ValueError, match="^store must be 'auto', 'obstore', 'boto3', a store or"):
        Options(bucket="b", store=object())
    with pytest.raises(ValueError, match="^bucket: a bucket name is required"):
        Options(store=client)
    client.close()
