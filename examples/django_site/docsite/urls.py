"""The site's own routes; /docs/ and /internal/ are s3wsgi's."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("form", views.form, name="form"),
    path("echo", views.echo, name="echo"),
    path("api/status", views.status, name="status"),
    path("visit", views.visit, name="visit"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
]

handler404 = "docsite.views.not_found"
