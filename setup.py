"""The one compiled part: the inbound pass (``audiencehub/people/inbound_pass.c``).

It is optional: where no C compiler is found the package installs without it, and
the ingest reads every batch by its SQL plan (``audiencehub.people.inbound_pass``
says which path a batch took). Everything else is in ``pyproject.toml``.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            # a plain shared library that ctypes loads, not a Python module
            "audiencehub.people._inbound_pass",
            ["src/audiencehub/people/inbound_pass.c"],
            extra_compile_args=["-O2", "-std=c11", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
