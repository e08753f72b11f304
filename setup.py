"""Build of rapidfm's compiled parts.

The C99 kernel library (fastfm_core/) is compiled once as a static library with
strict warnings, then linked into the Cython binding (python/rapidfm/_core.pyx).

Environment switches (each build prints what it decided):
  RAPIDFM_OPENMP=0|1   force the serial or the OpenMP build; unset: probe the compiler.
  RAPIDFM_NATIVE=0|1   -march=native (fast code for this machine's CPU, for source
                       installs); set 0 when building wheels for other machines.
                       Unset: used when the compiler accepts it.
  RAPIDFM_CFLAGS       extra compiler flags for everything (e.g. sanitizers).
"""

import os
import shlex
import sys
import tempfile
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils import ccompiler, sysconfig
from setuptools._distutils.errors import CompileError, LinkError

OPENMP_TEST = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+ : n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def _say(message):
    print(f"rapidfm build: {message}", file=sys.stderr)


def _compiler_accepts(compile_flags, link_flags, source="int main(void) { return 0; }\n"):
    """True when the C compiler compiles and links `source` with these flags."""
    compiler = ccompiler.new_compiler()
    sysconfig.customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=compile_flags)
            compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=link_flags)
        except (CompileError, LinkError, OSError):
            return False
    return True


def _switch(name):
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "yes", "on", "true"):
        return True
    if value in ("0", "no", "off", "false"):
        return False
    raise SystemExit(f"rapidfm build: {name}={value!r} is not one of 0, 1, auto")


def openmp_flags():
    forced = _switch("RAPIDFM_OPENMP")
    if sys.platform == "win32":
        flags = (["/openmp"], [])
    elif sys.platform == "darwin":
        flags = (["-Xpreprocessor", "-fopenmp"], ["-lomp"])
    else:
        flags = (["-fopenmp"], ["-fopenmp"])
    if forced is False:
        _say("OpenMP disabled by RAPIDFM_OPENMP=0: building the serial kernel")
        return [], []
    if forced is True:
        _say("OpenMP forced on by RAPIDFM_OPENMP=1")
        return flags
    if _compiler_accepts(flags[0], flags[1], OPENMP_TEST):
        _say("the compiler supports OpenMP: building the parallel kernel")
        return flags
    _say("the compiler does not support OpenMP: building the serial kernel")
    return [], []


def native_flags():
    if sys.platform == "win32":
        return []
    forced = _switch("RAPIDFM_NATIVE")
    if forced is False:
        _say("RAPIDFM_NATIVE=0: portable code for any CPU of this architecture")
        return []
    if _compiler_accepts(["-march=native"], []):
        _say("-march=native: code tuned for this machine's CPU (RAPIDFM_NATIVE=0 to disable)")
        return ["-march=native"]
    _say("the compiler rejects -march=native: portable code")
    return []


omp_compile, omp_link = openmp_flags()
extra = shlex.split(os.environ.get("RAPIDFM_CFLAGS", ""))
# -fno-math-errno: sqrt never needs to set errno here (its arguments are >= 0), and
# without the flag GCC keeps every sqrt scalar (a call for the errno case), which made
# the AdaGrad / FTRL epochs 5x slower than SGD's instead of a little
optimise = ["/O2"] if sys.platform == "win32" else ["-O3", "-fno-math-errno"]
common = optimise + native_flags() + omp_compile + extra
strict = [] if sys.platform == "win32" else ["-std=c99", "-Wall", "-Wextra"]

core = (
    "fastfm_core",
    {
        "sources": sorted(glob("fastfm_core/src/*.c")),
        "include_dirs": ["fastfm_core/include"],
        "cflags": strict + common,
    },
)

extension = Extension(
    "rapidfm._core",
    sources=["python/rapidfm/_core.pyx"],
    include_dirs=["fastfm_core/include", np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=common,
    extra_link_args=omp_link + extra,
)

setup(
    libraries=[core],
    ext_modules=cythonize(
        [extension],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
        },
    ),
)
