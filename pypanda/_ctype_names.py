"""Standard C type names and the ctypes type each one is, by name.

Shared by ``scripts/gen_abi.py`` (which loads this file by path, without
importing pypanda, to write ``_abi.py``) and by :mod:`pypanda.ffi`'s
signature parser, so the two cannot disagree on what ``size_t`` is.  The
ABI's own typedefs (``target_ulong``, ``hwaddr``, ...) are not here: they
come from the headers, through ``_abi.TYPEDEFS``.
"""
from typing import Dict, Optional

#: C spelling -> name of the ctypes type (None: void).
C_SCALARS: Dict[str, Optional[str]] = {
    "void": None,
    "bool": "c_bool", "_Bool": "c_bool",
    "char": "c_char", "signed char": "c_int8", "unsigned char": "c_uint8",
    "short": "c_int16", "unsigned short": "c_uint16",
    "int": "c_int", "signed": "c_int", "signed int": "c_int",
    "unsigned": "c_uint", "unsigned int": "c_uint",
    "long": "c_long", "unsigned long": "c_ulong",
    "long long": "c_longlong", "unsigned long long": "c_ulonglong",
    "float": "c_float", "double": "c_double",
    "int8_t": "c_int8", "int16_t": "c_int16", "int32_t": "c_int32", "int64_t": "c_int64",
    "uint8_t": "c_uint8", "uint16_t": "c_uint16", "uint32_t": "c_uint32", "uint64_t": "c_uint64",
    "size_t": "c_size_t", "ssize_t": "c_ssize_t", "uintptr_t": "c_size_t",
}

#: PANDA's names that plugins write in signatures but this ABI's headers do
#: not declare (guest addresses are 64-bit here whatever the guest).
PANDA_EXTRA_TYPEDEFS: Dict[str, str] = {
    "target_long": "int64_t",
    "ram_addr_t": "uint64_t",
}
