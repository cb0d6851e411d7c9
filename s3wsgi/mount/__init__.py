"""A mount's parts, in the order a request meets them.

- :mod:`.guard` reads the request into an :class:`~.asked.Asked` and guards
  it: ``authorize``, the method, the path, hidden names (:mod:`.hidden`),
  the bound on S3 requests and the deadline;
- :mod:`.resolve` turns it into what it asks for, a target of
  :mod:`.asked`: an object (with its variants, :mod:`.variants`), a
  redirect or the versions document (:mod:`.hosted`), a listing, a miss;
- :mod:`.answer` answers each target: objects through :mod:`.objects`
  (conditions, ranges, HEAD), folders through :mod:`.listing`.

:class:`~s3wsgi.middleware.Mount` puts them together.
"""
