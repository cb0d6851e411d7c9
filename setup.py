from setuptools import find_packages, setup

with open("README.rst", encoding="utf-8") as readme:
    long_description = readme.read()

setup(
    name="s3wsgi",
    version="0.1.0",
    description="Serve files kept in S3 from any WSGI app, streaming, with real HTTP semantics",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="MIT",
    packages=find_packages(include=["s3wsgi", "s3wsgi.*"]),
    # The demo's sample site, in folders up to three deep.
    package_data={
        "s3wsgi": ["py.typed", "demo_site/*.*", "demo_site/*/*.*", "demo_site/*/*/*.*"]
    },
    include_package_data=True,
    python_requires=">=3.9",
    install_requires=["webob>=1.8", "boto3>=1.26"],
    extras_require={
        "serve": ["waitress>=2.1"],
        "fast": ["obstore>=0.12; python_version >= '3.11'"],
        "demo": ["waitress>=2.1", "moto[server]>=5.0", "brotli>=1.1"],
        # brotli for the .br variants; tqdm for the progress bar: one small
        # module with no dependencies (rich would bring pygments and markdown-it).
        "publish": ["brotli>=1.1", "tqdm>=4.60"],
        "test": [
            "waitress>=2.1",
            "moto[server]>=5.0",
            "pytest>=7",
            "requests>=2.28",
            "hypothesis>=6",
            "pastedeploy>=2",
            "brotli>=1.1",
            "tqdm>=4.60",
        ],
    },
    entry_points={
        "console_scripts": ["s3wsgi = s3wsgi.cli:main"],
        "paste.app_factory": ["main = s3wsgi.paste:app_factory"],
        "paste.filter_app_factory": ["main = s3wsgi.paste:filter_app_factory"],
    },
    classifiers=[
        "Framework :: Flask",
        "Framework :: Django",
        "Framework :: Pyramid",
        "Programming Language :: Python :: 3",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Middleware",
    ],
)
