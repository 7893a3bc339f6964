"""Package layout: app/ is the source root; resources/ ships as the package cairn.resources."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("app"), "cairn.resources"],
    package_dir={"": "app", "cairn.resources": "resources"},
    package_data={"cairn": ["py.typed"], "cairn.resources": ["*", "**/*"]},
    include_package_data=True,
)
