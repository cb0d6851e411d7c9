"""The site's own pages: a home page, a form, a JSON route, a cookie, a login."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.urls import get_script_prefix, reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(PAGE.format(title=escape(title), body=body), status=status)


def csrf_input(request) -> str:
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{get_token(request)}">'


@require_GET
def home(request):
    # /docs/ and /internal/ are not Django routes: built under the mount.
    prefix = get_script_prefix()
    user = request.user.username if request.user.is_authenticated else None
    who = (
        f'Logged in as {escape(user)}. <a href="{reverse("logout")}">Log out</a>'
        if user
        else f'<a href="{reverse("login")}">Log in</a> as staff for the internal docs.'
    )
    return page(
        "Home",
        f"<p>{who}</p>"
        f'<p><a href="{prefix}docs/">Documentation</a> · '
        f'<a href="{prefix}internal/">Internal documentation</a></p>'
        f'<p><a href="{reverse("form")}">A form</a></p>',
    )


@require_GET
def form(request):
    return page(
        "Form",
        f'<form method=post action="{reverse("echo")}">{csrf_input(request)}'
        "<input name=message><button>Send</button></form>",
    )


@require_POST
def echo(request):
    return page("Received", f"<p>You said: {escape(request.POST.get('message', ''))}</p>")


@require_GET
def status(request):
    return JsonResponse(
        {
            "framework": "django",
            "path": request.path,
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "user": request.user.username if request.user.is_authenticated else None,
        }
    )


@require_GET
def visit(request):
    seen = request.COOKIES.get("visits", "")
    count = (int(seen) if seen.isdigit() else 0) + 1
    response = page("Visits", f"<p>Visit number {count}</p>")
    response.set_cookie("visits", str(count), httponly=True, samesite="Lax")
    return response


def login_view(request):
    if request.method == "POST":
        user = authenticate(
            request,
            username=request.POST.get("username", ""),
            password=request.POST.get("password", ""),
        )
        if user is None:
            return page("Log in", "<p>Wrong name or password.</p>", status=403)
        login(request, user)
        target = request.POST.get("next") or reverse("home")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("home")
        return HttpResponseRedirect(target)
    return page(
        "Log in",
        f'<form method=post action="{reverse("login")}">{csrf_input(request)}'
        f'<input type="hidden" name="next" value="{escape(request.GET.get("next", ""))}">'
        "<input name=username placeholder=ada>"
        "<input name=password type=password placeholder=lovelace>"
        "<button>Log in</button></form>",
    )


def logout_view(request):
    logout(request)
    return HttpResponseRedirect(reverse("home"))


def not_found(request, exception):
    return page("Not found", "<p>This page is not part of the app.</p>", status=404)
