"""Builds the compiled kernels (sandbox/index/_kernels.c); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "sandbox.index._kernels", ["sandbox/index/_kernels.c"],
    extra_compile_args=["-O3", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)])
