"""s3wsgi inside Flask, Django, Pyramid and PasteDeploy."""
