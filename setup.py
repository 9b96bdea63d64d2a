"""Build a *platform* wheel ``pypanda-<ver>-py3-none-linux_x86_64.whl``.

pypanda has no CPython extension: it loads ``pypanda/lib/libpanda_*.so`` with
ctypes. The wheel therefore works on any Python 3 (``py3-none``) but only on
the platform the .so was built for. setuptools would call it pure
(``py3-none-any``), so we:

* claim ext modules (``has_ext_modules``) -> ``Root-Is-Purelib: false`` and a
  platlib install, which is what auditwheel expects;
* override ``get_tag`` so the tag is ``py3-none-<plat>``, not ``cp311-cp311``.

Build the .so first with ``./build.sh``; then ``scripts/build_wheel.sh``
builds this wheel and makes it manylinux with auditwheel.
"""
import glob
import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat

    def run(self):
        libs = glob.glob(os.path.join(HERE, "pypanda", "lib", "libpanda_*.so"))
        if not libs:
            raise SystemExit(
                "error: no pypanda/lib/libpanda_*.so found; "
                "run ./build.sh first to build the shared library"
            )
        # A stale build/ (e.g. a .so of an arch since removed from
        # pypanda/lib/) would be copied into the wheel: start from scratch.
        build_base = self.get_finalized_command("build").build_base
        shutil.rmtree(os.path.join(HERE, build_base), ignore_errors=True)
        super().run()


setup(
    packages=["pypanda", "pypanda.osi", "pypanda.extras"],
    # data/osiprobe: the C probe pypanda.osi compiles against linux-headers
    package_data={"pypanda": ["lib/libpanda_*.so", "py.typed", "data/*.sh", "data/osiprobe/*"]},
    # Only package_data goes in the wheel; MANIFEST.in only shapes the sdist.
    include_package_data=False,
    distclass=BinaryDistribution,
    cmdclass={"bdist_wheel": PlatformWheel},
    zip_safe=False,
)
