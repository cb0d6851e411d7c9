"""Everything a hosted site needs, over real HTTP against moto's server, both
stores: single-page apps, redirects, listings, versions, large downloads
redirected to S3, several mounts in one middleware."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
from faultproxy import CannedS3, FaultProxy

from s3wsgi import S3Middleware
from s3wsgi.publish import publish

NAVIGATE = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


def get(url: str, path: str, **headers) -> requests.Response:
    return requests.get(url + path, headers=headers, allow_redirects=False, timeout=10)


@pytest.fixture
def app_bucket(s3_client, bucket):
    for key, body, kind in (
        ("app/index.html", b"<div id=app></div><script src=/docs/app.js></script>", "text/html"),
        ("app/app.js", b"console.log('app')", "text/javascript"),
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind)
    return bucket


# --- single-page apps ---------------------------------------------------------


def test_a_client_side_route_gets_the_apps_page_and_revalidates(make_middleware, serve, app_bucket):
    url = serve(make_middleware(key_prefix="app", spa_fallback="index.html"))
    page = get(url, "/docs/users/42", **NAVIGATE)
    assert page.status_code == 200
    assert page.content.startswith(b"<div id=app>")
    assert "Sec-Fetch-Mode" in page.headers["Vary"]
    again = get(url, "/docs/users/42", **{"If-None-Match": page.headers["ETag"]}, **NAVIGATE)
    assert again.status_code == 304
    assert get(url, "/docs/settings/", **{"Sec-Fetch-Mode": "navigate"}).status_code == 200
    head = requests.head(url + "/docs/users/42", headers=NAVIGATE, timeout=10)
    assert (head.status_code, head.content) == (200, b"")


def test_a_missing_asset_stays_404_so_a_broken_deploy_shows(make_middleware, serve, app_bucket):
    url = serve(make_middleware(key_prefix="app", spa_fallback="index.html"))
    assert get(url, "/docs/app.js").status_code == 200
    missing = get(url, "/docs/app.4f3c2b1a.js", Accept="*/*")
    assert missing.status_code == 404
    assert "Sec-Fetch-Mode" in missing.headers["Vary"]
    assert get(url, "/docs/app.css", **{"Sec-Fetch-Mode": "no-cors"}).status_code == 404
    assert get(url, "/docs/logo.png", Accept="image/avif,image/webp,*/*").status_code == 404


# --- redirects ----------------------------------------------------------------


def test_an_s3_website_redirect_stays_on_this_site(make_middleware, serve, s3_client, bucket):
    s3_client.put_object(
        Bucket=bucket, Key="guide/old.html", Body=b"", WebsiteRedirectLocation="/guide/intro.html"
    )
    url = serve(make_middleware(), url_prefix="/intranet")
    moved = get(url, "/intranet/docs/guide/old.html")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/intranet/docs/guide/intro.html"
    assert get(url, "/intranet" + moved.headers["Location"][len("/intranet") :]).status_code == 200


@pytest.mark.parametrize(
    ("location", "allowed", "expected"),
    [
        ("https://docs.example.org/new/", "", 404),
        ("https://docs.example.org/new/", "docs.example.org", 301),
        ("//docs.example.org/new/", "docs.example.org", 404),
        ("javascript:alert(1)", "docs.example.org", 404),
        ("https://evil.example.net/", "docs.example.org", 404),
    ],
)
def test_a_website_redirect_off_site_needs_an_allowed_host(
    make_middleware, serve, s3_client, bucket, location, allowed, expected
):
    s3_client.put_object(Bucket=bucket, Key="away.html", Body=b"", WebsiteRedirectLocation=location)
    url = serve(make_middleware(redirect_hosts=allowed))
    answer = get(url, "/docs/away.html")
    assert answer.status_code == expected
    if expected == 301:
        assert answer.headers["Location"] == location


def test_configured_redirects_and_a_redirects_file(
    make_middleware, serve, s3_client, bucket, clock
):
    s3_client.put_object(
        Bucket=bucket, Key="redirects.json", Body=json.dumps({"/v1/start.html": "/guide/"})
    )
    url = serve(
        make_middleware(
            redirects={"/old.html": "/guide/intro.html", "/gone.html": "https://example.org/"},
            redirects_file="redirects.json",
            site_files_ttl=0.5,
            clock=clock,
        )
    )
    assert get(url, "/docs/old.html").headers["Location"] == "/docs/guide/intro.html"
    assert get(url, "/docs/gone.html").headers["Location"] == "https://example.org/"
    assert get(url, "/docs/v1/start.html").headers["Location"] == "/docs/guide/"
    # A new file is read within site_files_ttl: no restart.
    s3_client.put_object(Bucket=bucket, Key="redirects.json", Body=json.dumps({"/x.html": "/y"}))
    assert get(url, "/docs/x.html").status_code == 404  # until site_files_ttl has passed
    clock.advance(0.6)
    assert get(url, "/docs/x.html").status_code == 301
    assert get(url, "/docs/v1/start.html").status_code == 404


# --- listings -----------------------------------------------------------------


@pytest.fixture
def files(s3_client, bucket):
    for key in (
        "files/b.txt",
        "files/a <b>&.txt",
        "files/sub/one.txt",
        "files/.hidden",
        "files/report.csv",
        "files/report.csv.gz",
    ):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x" * 2048)
    return bucket


def test_a_folder_without_an_index_lists_its_entries(make_middleware, serve, files):
    url = serve(make_middleware(listing=True))
    page = get(url, "/docs/files/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = page.text
    assert "a &lt;b&gt;&amp;.txt" in html and "<b>&" not in html
    assert 'href="a%20%3Cb%3E%26.txt"' in html  # relative, escaped
    assert 'href="sub/"' in html and 'href="../"' in html
    assert "2.0 KiB" in html
    assert ".hidden" not in html and "report.csv.gz" not in html
    assert html.index("a &lt;b") < html.index("b.txt") < html.index("report.csv")
    listing = get(url, "/docs/files/", Accept="application/json").json()
    assert listing["folders"] == ["sub"]
    assert [item["name"] for item in listing["objects"]] == ["a <b>&.txt", "b.txt", "report.csv"]
    assert listing["objects"][0]["size"] == 2048 and listing["next"] is None
    # A folder with an index document is that page; a missing folder 404s.
    assert get(url, "/docs/guide/").content.startswith(b"<html><h1>Guide")
    assert get(url, "/docs/nothing/here/").status_code == 404
    assert get(make_middleware_url(serve, make_middleware), "/docs/files/").status_code == 404


def make_middleware_url(serve, make_middleware) -> str:
    return serve(make_middleware())  # listing off: today's answer, 404


def test_a_listing_comes_a_page_at_a_time(make_middleware, serve, files):
    url = serve(make_middleware(listing=True, listing_page_size=2))
    names, page = [], "/docs/files/"
    while page:
        listing = get(url, page, Accept="application/json").json()
        names += listing["folders"] + [item["name"] for item in listing["objects"]]
        page = "/docs/files/" + listing["next"] if listing["next"] else None
    assert names == ["a <b>&.txt", "b.txt", "report.csv", "sub"]
    assert "Next page" in get(url, "/docs/files/").text


def test_without_list_permission_a_listing_is_a_clean_404(store_kind):
    from appserver import AppServer
    from sample_site import host_app

    with CannedS3(403, "AccessDenied") as canned:
        options = {"store": store_kind} if store_kind != "boto3" else {}
        app = S3Middleware(host_app, bucket="b", endpoint_url=canned.url, listing=True, **options)
        server = AppServer(app)
        try:
            answer = get(server.url, "/docs/files/")
        finally:
            server.close()
    assert answer.status_code == 404


# --- versions -----------------------------------------------------------------


@pytest.fixture
def versioned(tmp_path, s3_client, bucket):
    def release(version: str, *aliases: str, default: str | None = "latest") -> None:
        folder = tmp_path / version
        folder.mkdir()
        (folder / "index.html").write_text(f"<h1>Kestrel {version}</h1>")
        (folder / "guide.html").write_text(f"<p>guide of {version}</p>")
        publish(
            folder,
            bucket=bucket,
            key_prefix="manual",
            client=s3_client,
            version=version,
            aliases=aliases,
            default=default,
        )

    release("v1", "stable", default=None)
    release("v2", "latest")
    return release


def test_versions_and_aliases_are_served_as_read_the_docs_does(
    make_middleware, serve, versioned, clock
):
    url = serve(
        make_middleware(key_prefix="manual", versions=True, site_files_ttl=0.5, clock=clock)
    )
    root = get(url, "/docs/")
    assert root.status_code == 302 and root.headers["Location"] == "/docs/latest/"
    assert get(url, "/docs/latest/").text == "<h1>Kestrel v2</h1>"
    assert get(url, "/docs/stable/guide.html").text == "<p>guide of v1</p>"
    assert get(url, "/docs/v1/").text == "<h1>Kestrel v1</h1>"
    assert get(url, "/docs/latest").headers["Location"] == "/docs/latest/"
    assert get(url, "/docs/v9/").status_code == 404
    switcher = get(url, "/docs/versions.json").json()
    assert switcher == {
        "versions": ["v1", "v2"],
        "aliases": {"stable": "v1", "latest": "v2"},
        "default": "latest",
    }
    # A release is one upload: latest follows it without a restart.
    versioned("v3", "latest")
    assert get(url, "/docs/latest/").text == "<h1>Kestrel v2</h1>"  # until site_files_ttl
    clock.advance(0.6)
    assert get(url, "/docs/latest/").text == "<h1>Kestrel v3</h1>"


def test_configured_aliases_win_over_the_file(make_middleware, serve, versioned):
    url = serve(
        make_middleware(
            key_prefix="manual",
            versions=True,
            version_aliases={"latest": "v1", "lts": "v1"},
            default_version="lts",
        )
    )
    assert get(url, "/docs/").headers["Location"] == "/docs/lts/"
    assert get(url, "/docs/latest/").text == "<h1>Kestrel v1</h1>"
    assert get(url, "/docs/versions.json").json()["aliases"]["lts"] == "v1"


# --- large downloads ------------------------------------------------------------


def test_a_large_object_is_a_redirect_to_s3_after_one_head(
    make_middleware, serve, s3_client, bucket, s3_endpoint
):
    big = bytes(range(256)) * 64  # 16 KiB
    s3_client.put_object(Bucket=bucket, Key="dl/setup.bin", Body=big)
    parts = urlsplit(s3_endpoint)
    with FaultProxy((parts.hostname, parts.port)) as proxy:
        app = make_middleware(
            endpoint_url=proxy.url, redirect_over_bytes=8192, authorize=lambda e: True
        )
        url = serve(app)
        get(url, "/docs/digits.txt")  # reads the publish manifest once
        before = proxy.accepted
        answer = get(url, "/docs/dl/setup.bin")
        assert proxy.accepted - before == 1  # the HeadObject, nothing more
        # Small objects are served as before.
        assert get(url, "/docs/digits.txt").content == b"0123456789"
    assert answer.status_code == 302
    assert "no-store" in answer.headers["Cache-Control"]
    location = answer.headers["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    direct = requests.get(location.replace(proxy.url, s3_endpoint), timeout=10)
    assert direct.content == big
    part = requests.get(
        location.replace(proxy.url, s3_endpoint), headers={"Range": "bytes=0-9"}, timeout=10
    )
    assert (part.status_code, part.content) == (206, big[:10])


def test_a_download_redirect_is_only_for_those_authorize_lets_in(
    make_middleware, serve, s3_client, bucket
):
    s3_client.put_object(Bucket=bucket, Key="dl/setup.bin", Body=b"x" * 9000)
    url = serve(make_middleware(redirect_over_bytes=8192, authorize=lambda e: False))
    assert get(url, "/docs/dl/setup.bin").status_code == 403


# --- several mounts --------------------------------------------------------------


def test_several_sites_in_one_middleware_share_a_store(
    s3_client, bucket, s3_endpoint, serve, store_kind
):
    from sample_site import host_app

    other = f"{bucket}-files"
    s3_client.create_bucket(Bucket=other)
    s3_client.put_object(Bucket=other, Key="tool.zip", Body=b"zip")
    s3_client.put_object(Bucket=bucket, Key="v2/index.html", Body=b"version two")
    app = S3Middleware(
        host_app,
        mounts={
            "/docs": {"bucket": bucket},
            "/docs/v2": {"bucket": bucket, "key_prefix": "v2"},
            "/downloads": {"bucket": other, "fallthrough": True},
        },
        endpoint_url=s3_endpoint,
        store=store_kind,
        server_threads=8,
    )
    url = serve(app, threads=8)
    assert get(url, "/docs/digits.txt").content == b"0123456789"
    assert get(url, "/docs/v2/").content == b"version two"  # the longest prefix answers
    assert get(url, "/downloads/tool.zip").content == b"zip"
    assert get(url, "/downloads/nope").text == "host app: GET /downloads/nope"
    assert get(url, "/elsewhere").text == "host app: GET /elsewhere"
    by_prefix = {mount.prefix: mount for mount in app.mounts}
    assert by_prefix["/docs"].store is by_prefix["/docs/v2"].store
    assert by_prefix["/docs"].store is not by_prefix["/downloads"].store
    assert len({id(mount.bulkhead) for mount in app.mounts}) == 1
