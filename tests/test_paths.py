"""Pure tests of the path -> key mapping and of redirect locations."""

from __future__ import annotations

import pytest

from s3wsgi.http.paths import BadPath, key_for, redirect_location, wsgi_to_text


def key(rest, key_prefix="", index_document="index.html"):
    return key_for(rest, key_prefix=key_prefix, index_document=index_document)


@pytest.mark.parametrize(
    "rest, expected",
    [
        ("", "index.html"),
        ("guide/", "guide/index.html"),
        ("guide/intro.html", "guide/intro.html"),
        ("a/b/c/", "a/b/c/index.html"),
        ("style.css", "style.css"),
        ("caf\u00e9/menu.html", "caf\u00e9/menu.html"),
        ("with space.html", "with space.html"),
        ("...", "..."),
        ("a..b/.hidden", "a..b/.hidden"),
    ],
)
def test_paths_map_to_keys(rest, expected):
    assert key(rest) == expected


def test_key_prefix_is_the_folder_the_path_maps_to():
    assert key("guide/", key_prefix="site/v1/") == "site/v1/guide/index.html"
    assert key("", key_prefix="site/") == "site/index.html"


def test_index_document_is_configurable():
    assert key("api/", index_document="default.htm") == "api/default.htm"


@pytest.mark.parametrize(
    "rest",
    [
        "..",
        "../secret",
        "a/../../secret",
        ".",
        "./a",
        "a/./b",
        "a/..",
        "a//b",
        "/a",
        "a//",
        "/",
        "a\\b",
        "..\\secret",
        "a\x00b",
        "a\nb",
        "a\rb",
        "a\tb",
        "a\x7fb",
        "a\x85b",
    ],
)
def test_unsafe_paths_are_refused(rest):
    with pytest.raises(BadPath):
        key(rest)


def test_keys_longer_than_s3_allows_are_refused():
    assert key("a" * 1024) == "a" * 1024
    with pytest.raises(BadPath):
        key("a" * 1025)
    # The limit counts UTF-8 bytes, not characters.
    with pytest.raises(BadPath):
        key("\u00e9" * 513)
    with pytest.raises(BadPath):
        key("a" * 1000, key_prefix="p" * 30 + "/")


def test_wsgi_strings_are_decoded_as_utf8():
    assert wsgi_to_text("caf\u00c3\u00a9") == "caf\u00e9"
    with pytest.raises(BadPath):
        wsgi_to_text("\u00ff\u00fe")  # not UTF-8
    with pytest.raises(BadPath):
        wsgi_to_text("\u00c0\u00ae")  # overlong encoding of "."


@pytest.mark.parametrize(
    "path, query, expected",
    [
        ("/docs/", "", "/docs/"),
        ("/docs/guide/", "a=1&b=2", "/docs/guide/?a=1&b=2"),
        ("/docs/caf\u00c3\u00a9/", "", "/docs/caf%C3%A9/"),
        ("/docs/a b/", "q=a%20b", "/docs/a%20b/?q=a%20b"),
        ("//evil.example/", "", "/evil.example/"),
        ("///evil.example/", "", "/evil.example/"),
        ("/docs/x\r\nSet-Cookie: a=b/", "", "/docs/x%0D%0ASet-Cookie:%20a=b/"),
        ("/docs/", "x=\r\n", "/docs/?x=%0D%0A"),
        ("/docs/%2e/", "", "/docs/%252e/"),
    ],
)
def test_redirect_locations_stay_on_this_host_and_are_encoded_once(path, query, expected):
    assert redirect_location(path, query) == expected
