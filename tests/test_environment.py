"""requirements.txt (pip) and environment.yml (conda/Binder) pin the same packages, exactly."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement_pins(files: tuple[str, ...] = ("requirements.txt", "requirements-cluster.txt")) -> dict[str, str]:
    """Exact pins of the pip files: the course's requirements and the optional cluster extra."""
    pins = {}
    for file in files:
        for line in (ROOT / file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name, sep, version = line.partition("==")
                assert sep and re.fullmatch(r"[\w.]+", version.strip()), f"{file}: not an exact pin: {line!r}"
                pins[name.strip().lower()] = version.strip()
    return pins


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        if line.startswith("-"):  # pip options: --extra-index-url, and `-e .` (the course package)
            continue
        name, sep, version = line.partition("==")
        assert sep, f"environment.yml: not an exact pin: {line!r}"
        pins[name.strip().lower()] = version.strip()
    return pins


def test_requirements_are_exact_pins():
    pins = requirement_pins()
    assert pins["torch"] == "2.13.0"  # a loose torch pin pulls a multi-gigabyte CUDA build
    assert len(pins) >= 10


def test_environment_yml_has_the_same_pins():
    assert environment_pins() == requirement_pins()


def test_environment_yml_python_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = re.search(r'requires-python\s*=\s*">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert requires and python.split("=", 1)[1].startswith(requires.group(1))


def test_environment_yml_installs_the_course_package():
    """`conda env create` (and Binder) must give a kernel that imports mmlib: pip's `-e .` entry."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip, "environment.yml's pip list lacks `-e .`: conda and Binder users could not import mmlib"
    assert (ROOT / "pyproject.toml").is_file() and 'name = "mmlib"' in (ROOT / "pyproject.toml").read_text()


def test_the_book_renderer_and_the_browser_check_are_pinned():
    pins = requirement_pins()
    for name in ("sphinx", "myst-nb", "sphinx-book-theme", "django-static-mathjax", "playwright"):
        assert name in pins, f"requirements.txt lacks a pin for {name} (the HTML book needs it)"


def test_cluster_extra_is_exact_pins_apart_from_the_course():
    """The Dask extra stays optional: its own file, nothing the course's default path needs."""
    cluster = requirement_pins(("requirements-cluster.txt",))
    assert set(cluster) == {"dask", "distributed"}
    assert not set(cluster) & set(requirement_pins(("requirements.txt",)))
    assert "requirements-cluster.txt" in (ROOT / "Makefile").read_text(), "make setup must install the cluster extra"
