"""A minimal Django site with a bucket's documentation beside its own pages."""
