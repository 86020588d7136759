"""Builds the `kvstash` Python module with CMake for pip (pyproject.toml).

`pip install --no-build-isolation .` configures a build of its own in
build-python/ (KVSTASH_BUILD_DIR: an existing build directory to build the
module in instead) and packages python/kvstash with the extension."""

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.environ.get("KVSTASH_BUILD_DIR")
        if build:
            build = os.path.abspath(build)
        else:
            build = os.path.join(ROOT, "build-python")
            subprocess.check_call(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja",
                                   "-DCMAKE_BUILD_TYPE=Release", "-DKVSTASH_BUILD_TESTS=OFF",
                                   "-DKVSTASH_PYTHON=ON", "-DPython3_EXECUTABLE=" + sys.executable])
        subprocess.check_call(["cmake", "--build", build, "--target", "kvstash_python"])
        built = glob.glob(os.path.join(build, "python", "kvstash", "_kvstash*.so"))
        if not built:
            raise RuntimeError("the CMake build made no _kvstash module in " + build)
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


# setuptools' own files go under build-python/, not into the CMake build/.
os.makedirs(os.path.join(ROOT, "build-python"), exist_ok=True)

setup(
    options={"build": {"build_base": "build-python/setuptools"},
             "egg_info": {"egg_base": "build-python"}},
    packages=["kvstash"],
    package_dir={"kvstash": "python/kvstash"},
    package_data={"kvstash": ["__init__.pyi", "py.typed"]},
    ext_modules=[Extension("kvstash._kvstash", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
