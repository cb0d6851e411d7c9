"""What ``s3wsgi publish`` reads of DIR, run for real against moto's S3
server: never a byte outside DIR (links leaving it, files swapped for links
mid-run), only regular files, no build leftovers, and no name the
middleware could never serve; every refusal before anything is uploaded."""

from __future__ import annotations

import json
import os
import socket

import pytest
from test_publish import SITE, s3wsgi_publish, stored_keys, write_site

from s3wsgi.publish import PublishError, apply, plan_or_fail, publish
from s3wsgi.publish import plan as plan_module

SECRET = b"AWS_SECRET_ACCESS_KEY=do-not-publish-me\n" * 20


@pytest.fixture
def site(tmp_path):
    """The sample site in tmp_path/build/html, a secret beside the build."""
    (tmp_path / "outside.txt").write_bytes(SECRET)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_bytes(SECRET)
    return write_site(tmp_path / "build" / "html", SITE)


def publish_command(site, bucket, endpoint, *args):
    return s3wsgi_publish(site, "--bucket", bucket, "--endpoint-url", endpoint, *args)


def refusals(result) -> str:
    """The error line of a refused publish (status 2, nothing printed)."""
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    usage, error = result.stderr.splitlines()
    assert usage.startswith("usage: s3wsgi publish")
    assert error.startswith("s3wsgi publish: error: ") and "nothing was published" in error
    return error


def all_bytes(s3_client, bucket) -> bytes:
    return b"".join(
        s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in stored_keys(s3_client, bucket)
    )


# -- 1. links and files that are not regular ------------------------------------


@pytest.mark.parametrize("follow", [(), ("--follow-links",)], ids=["default", "follow-links"])
def test_links_leaving_dir_and_special_files_are_refused_before_any_upload(
    site, s3_endpoint, s3_client, empty_bucket, follow
):
    (site / "passwd.txt").symlink_to("/etc/passwd")
    (site / "guide" / "up.txt").symlink_to("../../../outside.txt")
    (site / "environ.txt").symlink_to("/proc/self/environ")
    (site / "keys").symlink_to(site.parent.parent / "private")  # a folder outside
    (site / "chain.txt").symlink_to("guide/up.txt")  # inside, then out
    os.mkfifo(site / "pipe.txt")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(site / "sock"))
    try:
        error = refusals(publish_command(site, empty_bucket, s3_endpoint, *follow))
    finally:
        listener.close()
    assert "7 paths cannot be" in error
    assert "pipe.txt (a named pipe, not a regular file)" in error
    assert "sock (a socket, not a regular file)" in error
    if follow:
        assert "passwd.txt (a symbolic link to /etc/passwd, outside DIR)" in error
        assert "guide/up.txt (a symbolic link to ../../../outside.txt, outside DIR)" in error
        assert "environ.txt (a symbolic link to /proc/self/environ, outside DIR)" in error
        assert f"keys (a symbolic link to {site.parent.parent / 'private'}, outside DIR)" in error
        assert "chain.txt (a symbolic link to guide/up.txt, outside DIR)" in error
    else:
        assert "environ.txt (a symbolic link to /proc/self/environ; --follow-links" in error
    assert stored_keys(s3_client, empty_bucket) == {}


def test_links_inside_dir_are_refused_unless_followed(site, s3_endpoint, s3_client, empty_bucket):
    (site / "latest.html").symlink_to("index.html")
    (site / "current").symlink_to("guide")  # a folder link
    (site / "again.html").symlink_to("latest.html")  # a link to a link, inside
    error = refusals(publish_command(site, empty_bucket, s3_endpoint))
    assert "3 paths cannot be" in error
    assert "latest.html (a symbolic link to index.html; --follow-links follows links" in error
    assert "current (a symbolic link to guide; --follow-links" in error
    assert stored_keys(s3_client, empty_bucket) == {}

    result = publish_command(site, empty_bucket, s3_endpoint, "--follow-links", "--json")
    assert result.returncode == 0, result.stderr
    keys = stored_keys(s3_client, empty_bucket)
    assert {"latest.html", "again.html", "current/intro.htm", "current/café.html"} <= set(keys)
    for key in ("latest.html", "again.html"):
        stored = s3_client.get_object(Bucket=empty_bucket, Key=key)
        assert stored["Body"].read() == SITE["index.html"]
        assert stored["ContentLength"] == len(SITE["index.html"])
    assert keys["current/intro.htm"] == keys["guide/intro.htm"]


def test_a_folder_link_loop_is_refused(site, s3_endpoint, s3_client, empty_bucket):
    (site / "guide" / "loop").symlink_to("..")
    (site / "ping.html").symlink_to("pong.html")
    (site / "pong.html").symlink_to("ping.html")
    (site / "odd.html").symlink_to("new\nline.html")
    error = refusals(publish_command(site, empty_bucket, s3_endpoint, "--follow-links"))
    assert "guide/loop (a link to a folder holding it: a loop)" in error
    assert "ping.html (a symbolic link to pong.html: a loop of links)" in error
    assert "odd.html (a symbolic link to 'new\\nline.html', which does not exist)" in error
    assert stored_keys(s3_client, empty_bucket) == {}


@pytest.mark.parametrize("swapped", ["assets/app.3f9a1c2e.js", "assets"])
def test_a_file_swapped_for_a_link_after_the_plan_is_not_read(
    site, client, s3_client, empty_bucket, swapped
):
    # The secret is the size of the file it replaces: only the way the file
    # is opened can tell them apart.
    size = len(SITE["assets/app.3f9a1c2e.js"])
    outside = site.parent.parent / "elsewhere"
    (outside / "assets").mkdir(parents=True)
    (outside / "assets" / "app.3f9a1c2e.js").write_bytes(SECRET[:size].ljust(size, b"#"))
    plan = plan_or_fail(site, client=client, bucket=empty_bucket)

    target = site / swapped
    target.rename(site.parent / "moved")
    target.symlink_to(outside / swapped)
    with pytest.raises(PublishError, match="assets"):
        apply(plan, client)
    assert SECRET[:40] not in all_bytes(s3_client, empty_bucket)
    assert ".s3wsgi-manifest.json" not in stored_keys(s3_client, empty_bucket)


def test_a_file_swapped_for_a_link_while_planned_is_not_compressed(
    site, client, s3_client, empty_bucket, monkeypatch
):
    """Its variants are made from a second read: a swap before it is refused."""
    found_by_scan = plan_module.scan
    target = site / "_static" / "docs.css"
    (site.parent / "docs.css").write_bytes(SECRET)

    def scan_then_swap(*args, **kwargs):
        found = found_by_scan(*args, **kwargs)
        target.unlink()
        target.symlink_to(site.parent / "docs.css")
        return found

    monkeypatch.setattr(plan_module, "scan", scan_then_swap)
    with pytest.raises(PublishError, match=r"^_static/docs\.css: became a symbolic link"):
        publish(site, bucket=empty_bucket, client=client)
    assert stored_keys(s3_client, empty_bucket) == {}


# -- 2. build leftovers -----------------------------------------------------------


LEFTOVERS = {
    ".buildinfo": b"# Sphinx build info\n",
    ".doctrees/environment.pickle": b"\x80\x04pickle",
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "_static/.DS_Store": b"\x00\x00\x00\x01Bud1",
    ".well-known/security.txt": b"Contact: mailto:security@example.org\n",
    "js/app.js": b"console.log('app');\n" * 40,
    "js/app.js.map": b'{"version": 3}' * 60,
    "drafts/next.html": b"<p>not yet</p>",
    "drafts/old/last.html": b"<p>not yet</p>",
}


def test_hidden_files_are_skipped_and_counted(site, s3_endpoint, s3_client, empty_bucket):
    write_site(site, LEFTOVERS)
    result = publish_command(site, empty_bucket, s3_endpoint, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped_paths"] == [".DS_Store", ".buildinfo", ".doctrees/", ".git/"] + [
        "_static/.DS_Store"
    ]
    assert summary["skipped"] == 5
    keys = stored_keys(s3_client, empty_bucket)
    hidden = {key for key in keys if any(name.startswith(".") for name in key.split("/"))}
    assert hidden == {".s3wsgi-manifest.json", ".well-known/security.txt"}
    text = publish_command(site, empty_bucket, s3_endpoint)
    assert " · skipped 5 · " in text.stdout.splitlines()[-1]

    every = publish_command(site, empty_bucket, s3_endpoint, "--include-hidden", "--json")
    assert json.loads(every.stdout)["skipped"] == 0
    assert {".git/HEAD", ".doctrees/environment.pickle", "_static/.DS_Store"} <= set(
        stored_keys(s3_client, empty_bucket)
    )
    # Skipped, a name is not checked: the dry run shows it on one line.
    (site / ".odd\nname").write_bytes(b"")
    dry = publish_command(site, empty_bucket, s3_endpoint, "--dry-run").stdout.splitlines()
    assert {"skip .git/", "skip _static/.DS_Store", "skip '.odd\\nname'"} <= set(dry)


def test_excluded_paths_are_not_published(site, s3_endpoint, s3_client, empty_bucket):
    write_site(site, LEFTOVERS)
    result = publish_command(
        site, empty_bucket, s3_endpoint, "--exclude", "*.map", "--exclude", "drafts/", "--json"
    )
    assert result.returncode == 0, result.stderr
    skipped = json.loads(result.stdout)["skipped_paths"]
    assert {"js/app.js.map", "drafts/"} <= set(skipped)
    keys = set(stored_keys(s3_client, empty_bucket))
    assert "js/app.js" in keys
    assert not {key for key in keys if key.startswith("drafts/") or ".map" in key}
    # Nor is what is left out published under another name.
    (site / "js" / "shown.js").symlink_to("app.js.map")
    (site / "build.txt").symlink_to(".buildinfo")
    linked = publish_command(
        site, empty_bucket, s3_endpoint, "--exclude", "*.map", "--follow-links"
    )
    error = refusals(linked)
    assert "build.txt (a symbolic link to .buildinfo, which is left out)" in error
    assert "js/shown.js (a symbolic link to app.js.map, which is left out)" in error


def test_delete_leaves_excluded_and_hidden_keys_alone(site, s3_endpoint, s3_client, empty_bucket):
    write_site(site, LEFTOVERS)
    first = publish_command(site, empty_bucket, s3_endpoint, "--include-hidden")
    assert first.returncode == 0, first.stderr
    published = set(stored_keys(s3_client, empty_bucket))
    assert {"drafts/next.html", "js/app.js.map", "js/app.js.map.gz", ".buildinfo"} <= published

    again = publish_command(
        site, empty_bucket, s3_endpoint, "--delete", "--exclude", "*.map", "--exclude", "drafts"
    )
    assert again.returncode == 0, again.stderr
    assert " · deleted 0 · " in again.stdout
    # Left out of this publish, as rsync --exclude leaves them: still there.
    assert set(stored_keys(s3_client, empty_bucket)) == published


# -- 3. names the middleware can never serve ----------------------------------------


def test_names_no_url_can_name_are_refused_before_any_upload(
    site, s3_endpoint, s3_client, empty_bucket
):
    for name in ("back\\slash.html", "tab\there.html", "new\nline.html", "del\x7f.html"):
        (site / name).write_bytes(b"<p>x</p>")
    (site / "ctl\x01dir").mkdir()
    (site / "ctl\x01dir" / "page.html").write_bytes(b"<p>x</p>")
    os.close(os.open(os.fsencode(site) + b"/caf\xe9.html", os.O_CREAT | os.O_WRONLY))
    deep = site / "/".join(["d" * 200] * 4)
    deep.mkdir(parents=True)
    (deep / ("e" * 180 + ".html")).write_bytes(b"<p>x</p>")  # 985 bytes; 1025 with the prefix
    error = refusals(publish_command(site, empty_bucket, s3_endpoint, "--key-prefix", "a" * 39))
    assert "7 paths cannot be" in error
    assert "back\\slash.html (no URL can name it: path holds a backslash" in error
    assert "'tab\\there.html' (no URL can name it: path holds a backslash or a control" in error
    assert "'new\\nline.html' (no URL can name it" in error
    assert "'del\\x7f.html' (no URL can name it" in error
    assert "'ctl\\x01dir' (no URL can name it" in error
    assert "'caf\\udce9.html' (the name is not valid UTF-8)" in error
    assert "(no URL can name it: path is longer than an S3 key may be)" in error
    assert stored_keys(s3_client, empty_bucket) == {}
