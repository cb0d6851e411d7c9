"""Options given as text (.ini files, S3WSGI_* variables) become the
middleware's keyword arguments, and every mistake is one clear ValueError."""

from __future__ import annotations

import inspect
import os.path

import pytest

from s3wsgi import S3App, S3Middleware, config


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
    assert config.convert("headers", "") is None


def test_an_empty_key_prefix_stays_an_empty_string():
    assert config.convert("key_prefix", "") == ""


def test_headers_are_one_name_value_pair_per_line():
    text = "\nContent-Security-Policy: sandbox; default-src 'self'\n\nX-Frame-Options:DENY\n"
    assert config.convert("headers", text) == [
        ("Content-Security-Policy", "sandbox; default-src 'self'"),
        ("X-Frame-Options", "DENY"),
    ]


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
        config.middleware_options({"bucket": "b", "bukket": "b"})
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
    assert config.middleware_options({"region": "eu-west-1"}) == {"region_name": "eu-west-1"}


def test_every_keyword_option_of_the_middleware_can_be_given_as_text():
    parameters = inspect.signature(S3Middleware.__init__).parameters.values()
    keyword = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
    assert set(config.OPTIONS) == keyword
    # A live boto3 client is the one option only Python can give.
    text_less = {name for name, (converter, _) in config.OPTIONS.items() if converter is None}
    assert text_less == {"client"}


def test_a_client_is_kept_and_cannot_be_given_as_text():
    client = object()
    assert config.middleware_options({"bucket": "b", "client": client})["client"] is client
    with pytest.raises(ValueError, match="client: cannot be given as text"):
        config.middleware_options({"client": "my-client"})


def test_converted_options_configure_the_middleware():
    options = config.middleware_options(
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
    assert middleware.cache_control == "max-age=60"
    assert middleware.headers == [("X-Frame-Options", "DENY")]
    assert middleware.authorize is os.path.isabs
    assert S3App(**config.middleware_options({"bucket": "my-docs"})).prefix == ""


def test_environ_settings_are_the_s3wsgi_variables_by_option_name():
    environ = {"S3WSGI_BUCKET": "docs", "S3WSGI_KEY_PREFIX": "v2", "HOME": "/home/someone"}
    assert config.environ_settings(environ) == {"bucket": "docs", "key_prefix": "v2"}
    assert config.environ_name("endpoint_url") == "S3WSGI_ENDPOINT_URL"
