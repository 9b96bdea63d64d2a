#!/usr/bin/env python3
"""pypanda's ABI table: generated from the C headers, checked against them.

    python scripts/gen_abi.py            write pypanda/_abi.py from libpanda/include/panda/*.h
    python scripts/gen_abi.py --stdout   print it instead
    python scripts/gen_abi.py --check    fail if pypanda/_abi.py is stale, then compile the
                                         probe that checks the table against the headers

The headers are read by a small parser of their own conventions (no clang):
include guards, ``#ifdef __cplusplus`` blocks, the ``PANDA_EXPORT`` marker,
integer ``#define`` constants, the X-macro lists ``PANDA_ERRORS(X)`` and
``PANDA_CALLBACKS(X)`` and the helper macros that expand them inside a
typedef, and top-level ``typedef``s and ``PANDA_EXPORT`` prototypes.
Anything else stops it with an error naming the file and the text, so a
header change it does not understand cannot be skipped silently.

:func:`check` is the other direction: it writes a C file from a table
(the committed ``_abi.py`` or any module with the same names), compiles it
against a header directory, and returns one message per item on which the
two disagree (struct sizes, field offsets, sizes and types; enum values;
callback and function types; each ctypes type against its C type).
"""
from __future__ import annotations

import argparse
import ctypes
import importlib.util
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
INCLUDE_DIR = ROOT / "libpanda" / "include"
OUTPUT = ROOT / "pypanda" / "_abi.py"


def _load_ctype_names() -> ModuleType:
    # by path: importing the pypanda package would import the _abi.py being rewritten
    spec = importlib.util.spec_from_file_location("_ctype_names", ROOT / "pypanda" / "_ctype_names.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NAMES = _load_ctype_names()
C_SCALARS: Dict[str, Optional[str]] = _NAMES.C_SCALARS

# ---- the header parser -----------------------------------------------------


class HeaderError(Exception):
    """A header says something this parser does not understand."""


@dataclass
class CType:
    """A C type as the headers write it: a base name, its const, and one
    entry per ``*`` (True: that pointer is itself const)."""

    base: str
    const: bool = False
    pointers: Tuple[bool, ...] = ()

    def spelling(self) -> str:
        text = ("const " if self.const else "") + self.base
        for const_ptr in self.pointers:
            text += "* const" if const_ptr else "*"
        return text


@dataclass
class ListEntry:
    args: List[str]
    doc: str


@dataclass
class Macro:
    params: Optional[List[str]]   # None: object-like
    body: str


@dataclass
class Declaration:
    text: str          # comments removed, whitespace collapsed
    raw: str           # as written, comments kept
    doc: str           # the comment right before it
    where: str


@dataclass
class Header:
    """What the headers declare, in declaration order."""

    constants: Dict[str, int] = field(default_factory=dict)
    lists: Dict[str, List[ListEntry]] = field(default_factory=dict)
    typedefs: Dict[str, CType] = field(default_factory=dict)
    opaque: Dict[str, Tuple[str, str]] = field(default_factory=dict)          # name -> (tag, doc)
    structs: Dict[str, Tuple[List[Tuple[CType, str, int, str]], str]] = field(default_factory=dict)
    enums: Dict[str, List[Tuple[str, int]]] = field(default_factory=dict)
    unions: Dict[str, List[Tuple[str, CType, List[CType]]]] = field(default_factory=dict)
    fn_types: Dict[str, Tuple[CType, List[CType], str]] = field(default_factory=dict)
    functions: List[Tuple[str, CType, List[CType], str]] = field(default_factory=list)
    export_marker: Optional[str] = None


_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_BLANK_LINE = re.compile(r"[ \t]*\n")


def _strip_comments(text: str) -> str:
    return " ".join(_COMMENT.sub(" ", text).split())


def _split_args(text: str, where: str) -> List[str]:
    """Split a macro argument list at top-level commas."""
    args, depth, cur, quoted = [], 0, "", False
    for ch in text:
        if quoted:
            cur += ch
            quoted = ch != '"' or cur.endswith('\\"')
            continue
        if ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if depth or quoted:
        raise HeaderError(f"{where}: unbalanced macro arguments: {text!r}")
    args.append(cur.strip())
    return args


def _parse_list_body(body: str, where: str) -> List[ListEntry]:
    """``X(a, b) /* doc */ X(c, d)``: the entries of an X-macro list; a
    comment documents the entry after it."""
    entries: List[ListEntry] = []
    pos, doc = 0, ""
    while pos < len(body):
        if body[pos].isspace():
            pos += 1
            continue
        if body.startswith("/*", pos):
            end = body.index("*/", pos)
            doc = " ".join(body[pos + 2:end].split())
            pos = end + 2
            continue
        m = re.match(r"X\s*\(", body[pos:])
        if not m:
            raise HeaderError(f"{where}: expected X(...) in the list, found {body[pos:pos + 40]!r}")
        start = pos + m.end()
        depth, i = 1, start
        while depth:
            if i >= len(body):
                raise HeaderError(f"{where}: unterminated X( in the list")
            depth += {"(": 1, ")": -1}.get(body[i], 0)
            i += 1
        entries.append(ListEntry(_split_args(body[start:i - 1], where), doc))
        doc, pos = "", i
    return entries


def _expand(macro: Macro, args: List[str], where: str) -> str:
    """One helper-macro call: parameter substitution, # and ##."""
    assert macro.params is not None
    if len(args) != len(macro.params):
        raise HeaderError(f"{where}: macro takes {len(macro.params)} arguments, the list entry has {len(args)}")
    values = dict(zip(macro.params, args))
    body = re.sub(r"\s*##\s*", "\x01", macro.body)

    def stringize(m: "re.Match[str]") -> str:
        if m.group(1) not in values:
            raise HeaderError(f"{where}: # applied to {m.group(1)!r}, not a parameter")
        return '"' + values[m.group(1)] + '"'

    body = re.sub(r"#\s*(\w+)", stringize, body)
    body = re.sub(r"\b\w+\b", lambda m: values.get(m.group(0), m.group(0)), body)
    return body.replace("\x01", "")


class _Reader:
    """Reads the headers of one directory, following their includes."""

    KNOWN_UNDEFINED = {"__cplusplus", "_WIN32"}

    def __init__(self, include_dir: Path) -> None:
        self.include_dir = include_dir
        self.macros: Dict[str, Macro] = {}
        self.header = Header()
        self.done: Set[Path] = set()
        self.declarations: List[Declaration] = []
        self.type_names: Set[str] = set()

    def read_all(self) -> Header:
        files = sorted((self.include_dir / "panda").glob("*.h"))
        if not files:
            raise HeaderError(f"no headers in {self.include_dir / 'panda'}")
        for path in files:
            self._read(path)
        for decl in self.declarations:
            self._declare_type(decl)
        for decl in self.declarations:
            self._declare_rest(decl)
        return self.header

    # -- preprocessing ------------------------------------------------------

    def _defined(self, name: str) -> bool:
        if name in self.macros:
            return True
        if name in self.KNOWN_UNDEFINED or name.endswith("_H"):   # _H: an include guard
            return False
        raise HeaderError(f"condition on {name!r}, which this parser does not know")

    def _read(self, path: Path) -> None:
        path = path.resolve()
        if path in self.done:
            return
        self.done.add(path)
        lines = path.read_text().split("\n")
        active: List[bool] = []            # one per open #if: is this branch taken
        text: List[str] = []               # the active C text of this file
        i = 0
        while i < len(lines):
            line, lineno = lines[i], i + 1
            if line.lstrip().startswith("#"):
                logical = line
                while logical.endswith("\\"):
                    i += 1
                    logical = logical[:-1] + "\n" + lines[i]
                where = f"{path.name}:{lineno}"
                on = all(active)
                directive = logical.strip()[1:].strip()
                word = directive.split(None, 1)[0] if directive else ""
                rest = directive[len(word):].strip()
                if word in ("ifdef", "ifndef"):
                    taken = self._defined(rest) if on else False
                    active.append(taken if word == "ifdef" else (on and not taken))
                elif word == "if":
                    m = re.fullmatch(r"(!?)\s*defined\s*\(\s*(\w+)\s*\)", rest)
                    if not m:
                        raise HeaderError(f"{where}: #if {rest!r} is not understood")
                    taken = self._defined(m.group(2)) if on else False
                    active.append(taken != bool(m.group(1)) if on else False)
                elif word == "else":
                    if not active:
                        raise HeaderError(f"{where}: #else without #if")
                    parent = all(active[:-1])
                    active[-1] = parent and not active[-1]
                elif word == "endif":
                    if not active:
                        raise HeaderError(f"{where}: #endif without #if")
                    active.pop()
                elif not on:
                    pass
                elif word == "include":
                    m = re.fullmatch(r'"([^"]+)"|<[^>]+>', rest)
                    if not m:
                        raise HeaderError(f"{where}: #include {rest!r} is not understood")
                    if m.group(1):
                        target = self.include_dir / m.group(1)
                        if not target.exists():
                            raise HeaderError(f"{where}: {m.group(1)} does not exist in {self.include_dir}")
                        self._read(target)
                elif word == "define":
                    self._define(rest, where)
                elif word == "undef":
                    self.macros.pop(rest, None)
                else:
                    raise HeaderError(f"{where}: #{word} is not understood")
                text.append("\x00")        # a directive separates a comment from what follows
            elif all(active):
                text.append(self._expand_line(line, f"{path.name}:{lineno}"))
            i += 1
        if active:
            raise HeaderError(f"{path.name}: #if without #endif")
        self._split_declarations("\n".join(text), path.name)

    def _define(self, rest: str, where: str) -> None:
        m = re.match(r"(\w+)(\(([^)]*)\))?\s*(.*)$", rest, re.S)
        if not m:
            raise HeaderError(f"{where}: #define {rest!r} is not understood")
        name, params, body = m.group(1), m.group(3), m.group(4).strip()
        if params is None:
            self.macros[name] = Macro(None, body)
            value = _strip_comments(body)
            if re.fullmatch(r"\d+", value):
                self.header.constants[name] = int(value)
            elif value.startswith(("__attribute__", "__declspec")):
                self.header.export_marker = name
            elif value:
                raise HeaderError(f"{where}: #define {name} {value!r}: only integer constants and "
                                  f"the export attribute are understood")
            return
        plist = [p.strip() for p in params.split(",")]
        self.macros[name] = Macro(plist, body)
        if plist == ["X"]:
            self.header.lists[name] = _parse_list_body(body, where)

    def _expand_line(self, line: str, where: str) -> str:
        """Expand LIST(HELPER) calls; any other macro use is an error."""
        def call(m: "re.Match[str]") -> str:
            entries = self.header.lists[m.group(1)]
            helper = self.macros.get(m.group(2))
            if helper is None or helper.params is None:
                raise HeaderError(f"{where}: {m.group(2)!r} is not a helper macro")
            return "\n".join(_expand(helper, e.args, where) for e in entries)

        if self.header.lists:
            names = "|".join(map(re.escape, self.header.lists))
            line = re.sub(rf"\b({names})\s*\(\s*(\w+)\s*\)", call, line)
        code = _COMMENT.sub(" ", line)
        for word in re.findall(r"\b[A-Za-z_]\w*\b", code):
            macro = self.macros.get(word)
            if macro is not None and word != self.header.export_marker and macro.params is not None:
                raise HeaderError(f"{where}: macro {word} used outside LIST(HELPER)")
        return line

    def _split_declarations(self, text: str, where: str) -> None:
        """Top-level declarations end at ';' outside braces; the comment
        right before one (nothing but blanks between) is its doc."""
        depth, start, doc, pending_doc = 0, -1, "", ""
        pos = 0
        while pos < len(text):
            if text.startswith("/*", pos):
                end = text.index("*/", pos)
                if start < 0:
                    pending_doc = text[pos + 2:end]
                pos = end + 2
                continue
            ch = text[pos]
            if ch == "\n" and start < 0 and _BLANK_LINE.match(text, pos + 1):
                pending_doc = ""            # a blank line: the comment is not about what follows
            if ch == "\x00":
                if start >= 0:
                    raise HeaderError(f"{where}: a directive in the middle of {text[start:pos].strip()!r}")
                pending_doc = ""
            elif ch.isspace():
                pass
            elif start < 0:
                start, doc = pos, pending_doc
                continue
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == ";" and depth == 0:
                raw = text[start:pos]
                self.declarations.append(Declaration(_strip_comments(raw), raw, _doc(doc), where))
                start, pending_doc = -1, ""
            pos += 1
        if start >= 0:
            raise HeaderError(f"{where}: text after the last declaration: {text[start:].strip()[:60]!r}")

    # -- declarations -------------------------------------------------------

    _OPAQUE = re.compile(r"typedef struct (\w+) (\w+)")
    _BODY = re.compile(r"typedef (struct|enum|union) (\w+) ?\{(.*)\} ?(\w+)")
    _FN_TYPE = re.compile(r"typedef (.+?) ?\( ?\* ?(\w+) ?\) ?\((.*)\)")
    _SCALAR = re.compile(r"typedef ([\w ]+) (\w+)")

    def _declare_type(self, d: Declaration) -> None:
        """First pass: the names of the types, so parameters can be parsed."""
        t = d.text
        for pattern, group in ((self._OPAQUE, 2), (self._BODY, 4), (self._FN_TYPE, 2), (self._SCALAR, 2)):
            if m := pattern.fullmatch(t):
                self.type_names.add(m.group(group))
                return

    def _declare_rest(self, d: Declaration) -> None:
        h = self.header
        t, where = d.text, f"{d.where}: {d.text[:70]!r}"
        if m := self._OPAQUE.fullmatch(t):
            h.opaque[m.group(2)] = (m.group(1), d.doc)
        elif m := self._BODY.fullmatch(t):
            kind, name, body = m.group(1), m.group(4), m.group(3)
            if kind == "struct":
                raw_body = d.raw[d.raw.index("{") + 1:d.raw.rindex("}")]
                h.structs[name] = (self._struct_fields(raw_body, where), d.doc)
            elif kind == "enum":
                h.enums[name] = self._enumerators(body, where)
            else:
                members = []
                for member in filter(None, (s.strip() for s in body.split(";"))):
                    mm = self._FN_TYPE.fullmatch("typedef " + member)
                    if not mm:
                        raise HeaderError(f"{where}: union member {member!r} is not a function pointer")
                    members.append((mm.group(2), self._type(mm.group(1), where), self._params(mm.group(3), where)))
                h.unions[name] = members
        elif m := self._FN_TYPE.fullmatch(t):
            h.fn_types[m.group(2)] = (self._type(m.group(1), where), self._params(m.group(3), where), d.doc)
        elif m := self._SCALAR.fullmatch(t):
            h.typedefs[m.group(2)] = self._type(m.group(1), where)
        elif h.export_marker and (m := re.fullmatch(rf"{h.export_marker} (.+?) ?\b(\w+) ?\(([^()]*)\)", t)):
            h.functions.append((m.group(2), self._type(m.group(1), where),
                                self._params(m.group(3), where), d.doc))
        else:
            raise HeaderError(f"{where}: not a declaration this parser understands "
                              f"(exported functions need {h.export_marker or 'PANDA_EXPORT'})")

    def _known(self, name: str) -> bool:
        return name in C_SCALARS or name in self.type_names

    def _resolve(self, t: CType, where: str) -> CType:
        if not self._known(t.base):
            raise HeaderError(f"{where}: unknown type {t.base!r}")
        return t

    def _decl(self, text: str, where: str) -> Tuple[CType, str]:
        """'const char *const *argv' -> (CType, 'argv'); the name may be absent."""
        tokens = re.findall(r"[A-Za-z_]\w*|\*|\S", text)
        if any(not (tok == "*" or re.fullmatch(r"[A-Za-z_]\w*", tok)) for tok in tokens):
            raise HeaderError(f"{where}: {text!r} is not a type this parser understands")
        if any(tok in ("struct", "union", "enum", "volatile", "restrict") for tok in tokens):
            raise HeaderError(f"{where}: {text!r}: write the typedef name, without struct/union/enum")
        const = False
        words: List[str] = []
        i = 0
        while i < len(tokens) and tokens[i] != "*":
            if tokens[i] == "const":
                const = True
            else:
                words.append(tokens[i])
            i += 1
        pointers: List[bool] = []
        name = ""
        while i < len(tokens):
            tok = tokens[i]
            if tok == "*":
                pointers.append(False)
            elif tok == "const" and pointers:
                pointers[-1] = True
            elif i == len(tokens) - 1:
                name = tok
            else:
                raise HeaderError(f"{where}: {text!r} is not a type this parser understands")
            i += 1
        if not pointers and not name and len(words) > 1 and not self._known(" ".join(words)):
            name = words.pop()
        base = " ".join(words)
        return self._resolve(CType(base, const, tuple(pointers)), where), name

    def _type(self, text: str, where: str) -> CType:
        t, name = self._decl(text, where)
        if name:
            raise HeaderError(f"{where}: {text!r} is not a type")
        return t

    def _params(self, text: str, where: str) -> List[CType]:
        text = text.strip()
        if text == "void":
            return []
        if not text:
            raise HeaderError(f"{where}: write (void) for no parameters")
        return [self._decl(p, where)[0] for p in text.split(",")]

    def _struct_fields(self, body: str, where: str) -> List[Tuple[CType, str, int, str]]:
        fields: List[Tuple[CType, str, int, str]] = []
        for line in body.split("\n"):
            line = line.strip()
            if not line or re.fullmatch(r"/\*.*\*/", line):
                continue
            m = re.fullmatch(r"([^;/]+?)(?:\[(\d+)\])?\s*;\s*(?:/\*(.*?)\*/)?", line)
            if not m:
                raise HeaderError(f"{where}: struct field {line!r} is not understood (one field per line)")
            t, name = self._decl(m.group(1), where)
            if not name:
                raise HeaderError(f"{where}: struct field {line!r} has no name")
            fields.append((t, name, int(m.group(2) or 0), " ".join((m.group(3) or "").split())))
        return fields

    def _enumerators(self, body: str, where: str) -> List[Tuple[str, int]]:
        out: List[Tuple[str, int]] = []
        value = 0
        for item in filter(None, (s.strip() for s in body.split(","))):
            m = re.fullmatch(r"(\w+)(?: ?= ?(\d+))?", item)
            if not m:
                raise HeaderError(f"{where}: enumerator {item!r} is not understood")
            if m.group(2) is not None:
                value = int(m.group(2))
            out.append((m.group(1), value))
            value += 1
        return out


def _doc(comment: str) -> str:
    """A comment as one line of text; a '---- section ----' heading is no doc."""
    if comment.strip().startswith("----"):
        return ""
    lines = [re.sub(r"^\s*\*\s?", "", ln).rstrip() for ln in comment.strip().split("\n")]
    return " ".join(" ".join(lines).split())


def parse_headers(include_dir: Path = INCLUDE_DIR) -> Header:
    """Everything libpanda's headers declare, as a :class:`Header`."""
    return _Reader(Path(include_dir)).read_all()


# ---- the generator ---------------------------------------------------------

# The lists' columns (see types.h and callbacks.h).
ERROR_COLUMNS = ("ENUMERATOR", "message", "exception")
CALLBACK_COLUMNS = ("number", "ENUMERATOR", "name", "ret", "params")


class _Emitter:
    def __init__(self, h: Header) -> None:
        self.h = h
        self.used: Set[str] = set()

    def base_of(self, name: str) -> CType:
        while name in self.h.typedefs:
            name = self.h.typedefs[name].base
        return CType(name)

    def ctype(self, t: CType, callback: bool = False) -> str:
        """The ctypes expression for a C type.  ``callback``: a parameter a
        Python callback receives, where a ``void *`` is bytes to slice."""
        h = self.h
        base = self.base_of(t.base).base
        levels = len(t.pointers)
        if base in h.unions:
            if levels:
                raise HeaderError(f"pointer to union {base} is not supported")
            # a union of function pointers is passed like one pointer; ctypes
            # cannot pass a union by value
            return self._name("c_void_p")
        if base in h.fn_types:
            inner, levels = base, levels
        elif base in h.enums:
            inner = self._name("c_int")
        elif base in h.structs or base in h.opaque:
            if not levels:
                raise HeaderError(f"struct {base} is passed by value; the ABI passes structs by pointer")
            inner, levels = base, levels - 1
            inner = f"{self._name('POINTER')}({inner})"
        elif base in C_SCALARS:
            scalar = C_SCALARS[base]
            if scalar is None:
                if not levels:
                    return "None"
                inner = f"{self._name('POINTER')}({self._name('c_uint8')})" if callback else self._name("c_void_p")
                levels -= 1
            elif scalar == "c_char" and levels:
                inner, levels = self._name("c_char_p"), levels - 1
            else:
                inner = self._name(scalar)
        else:
            raise HeaderError(f"no ctypes type for {t.spelling()!r}")
        for _ in range(levels):
            inner = f"{self._name('POINTER')}({inner})"
        return inner

    def _name(self, name: str) -> str:
        self.used.add(name)
        return name

    @staticmethod
    def signature(ret: CType, params: Sequence[CType]) -> str:
        return f"{ret.spelling()}({', '.join(p.spelling() for p in params) or 'void'})"


def _py(text: str) -> str:
    return repr(text)


def _tuple(items: Sequence[str]) -> str:
    """Python source of a tuple of these expressions."""
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def _docstring(text: str) -> str:
    return f'"""{text}"""' if '"' not in text and "\\" not in text else repr(text)


def _error_table(h: Header) -> List[Tuple[int, str, str, Optional[str], str]]:
    entries = h.lists.get("PANDA_ERRORS")
    if entries is None or "panda_err" not in h.enums:
        raise HeaderError("types.h must define PANDA_ERRORS(X) and typedef enum panda_err from it")
    values = dict(h.enums["panda_err"])
    table = []
    for e in entries:
        if len(e.args) != len(ERROR_COLUMNS):
            raise HeaderError(f"PANDA_ERRORS entry {e.args}: expected X{ERROR_COLUMNS}")
        enumerator, message, exception = e.args
        name = "PANDA_" + enumerator
        if name not in values:
            raise HeaderError(f"PANDA_ERRORS entry {enumerator}: no enumerator {name} in panda_err")
        if not re.fullmatch(r'"[^"\\]*"', message):
            raise HeaderError(f"PANDA_ERRORS entry {enumerator}: the message must be a plain string literal")
        if not re.fullmatch(r"[A-Za-z_]\w*", exception):
            raise HeaderError(f"PANDA_ERRORS entry {enumerator}: {exception!r} is not a class name")
        table.append((values[name], name, message[1:-1], None if exception == "None" else exception, e.doc))
    if [v for v, *_ in table] != list(range(len(table))):
        raise HeaderError("PANDA_ERRORS: the codes must be 0, 1, 2, ... in list order")
    return table


def _callback_table(h: Header, em: _Emitter) -> List[Tuple[int, str, str, str, str, str, str]]:
    entries = h.lists.get("PANDA_CALLBACKS")
    if entries is None or "panda_cb_type" not in h.enums or "panda_cb" not in h.unions:
        raise HeaderError("callbacks.h must define PANDA_CALLBACKS(X), and panda_cb_type and panda_cb from it")
    values = dict(h.enums["panda_cb_type"])
    members = {name: (ret, params) for name, ret, params in h.unions["panda_cb"]}
    table = []
    for position, e in enumerate(entries):
        if len(e.args) != len(CALLBACK_COLUMNS):
            raise HeaderError(f"PANDA_CALLBACKS entry {e.args[:3]}: expected X{CALLBACK_COLUMNS}")
        number, enumerator, name = e.args[:3]
        if not number.isdigit() or int(number) != position:
            raise HeaderError(f"PANDA_CALLBACKS entry {name}: number {number} is not its position {position}")
        if values.get("PANDA_CB_" + enumerator) != position:
            raise HeaderError(f"PANDA_CALLBACKS entry {name}: PANDA_CB_{enumerator} is not {position} in panda_cb_type")
        if enumerator.lower() != name:
            raise HeaderError(f"PANDA_CALLBACKS entry {name}: its enumerator is {enumerator}, not {name.upper()}")
        if name not in members:
            raise HeaderError(f"PANDA_CALLBACKS entry {name}: panda_cb has no member {name}")
        ret, params = members[name]
        table.append((position, name, "PANDA_CB_" + enumerator, em.signature(ret, params),
                      em.ctype(ret), _tuple([em.ctype(p, callback=True) for p in params]), e.doc))
    return table


def generate(include_dir: Path = INCLUDE_DIR) -> str:
    """The text of pypanda/_abi.py for the headers in ``include_dir``."""
    h = parse_headers(include_dir)
    em = _Emitter(h)
    for needed in ("PANDA_API_MAJOR", "PANDA_API_MINOR"):
        if needed not in h.constants:
            raise HeaderError(f"panda.h must #define {needed}")
    out: List[str] = []
    w = out.append

    w("# ---- opaque handles: a pointer to each is its own ctypes type, so a")
    w("# handle of one kind passed where another is expected is refused")
    w("")
    for name, (tag, doc) in h.opaque.items():
        w(f"class {name}(Structure):")
        w(f"    {_docstring(f'struct {tag} (opaque). ' + doc if doc else f'struct {tag} (opaque).')}")
        w("")
        w("")
    w("OPAQUE_TYPES: Dict[str, Any] = {" + ", ".join(f"{_py(n)}: {n}" for n in h.opaque) + "}")
    w("")
    w("# ---- structs with a public layout")
    w("")
    for name, (fields, doc) in h.structs.items():
        w(f"class {name}(Structure):")
        if doc:
            w(f"    {_docstring(doc)}")
            w("")
        w("    _fields_ = [")
        for t, fname, count, fdoc in fields:
            ct = em.ctype(t)
            if count:
                ct = f"{ct} * {count}"
            w(f"        ({_py(fname)}, {ct}),{'  # ' + fdoc if fdoc else ''}")
        w("    ]")
        w("")
        w("")
    w("STRUCTS: Dict[str, Any] = {" + ", ".join(f"{_py(n)}: {n}" for n in h.structs) + "}")
    w("")
    w("# ---- function pointer types")
    w("")
    fn_type_rows = []
    for name, (ret, params, doc) in h.fn_types.items():
        argtypes = [em.ctype(p) for p in params]
        w(f"{name} = {em._name('CFUNCTYPE')}({', '.join([em.ctype(ret)] + argtypes)})")
        fn_type_rows.append(f"    {_py(name)}: Function({_py(name)}, {_py(em.signature(ret, params))}, "
                            f"{em.ctype(ret)}, {_tuple(argtypes)}, {_py(doc)}),")
    w("")
    w("#: typedef name -> (C signature, ctypes) of each function pointer type")
    w("FUNCTION_TYPES: Dict[str, Function] = {")
    out.extend(fn_type_rows)
    w("}")
    w("FUNCTION_POINTER_TYPES: Dict[str, Any] = {" + ", ".join(f"{_py(n)}: {n}" for n in h.fn_types) + "}")
    w("")
    w("# ---- enums")
    w("")
    w("ENUMS: Dict[str, Dict[str, int]] = {")
    for name, items in h.enums.items():
        w(f"    {_py(name)}: {{")
        for enumerator, value in items:
            w(f"        {_py(enumerator)}: {value},")
        w("    },")
    w("}")
    w("")
    w("#: panda_err: (value, enumerator, panda_strerror's message, pypanda.errors class, doc)")
    w("ERRORS: Tuple[ErrorCode, ...] = (")
    for value, name, message, exception, doc in _error_table(h):
        w(f"    ErrorCode({value}, {_py(name)}, {_py(message)}, {_py(exception) if exception else 'None'}, {_py(doc)}),")
    w(")")
    w("")
    w("#: panda_cb_type and the panda_cb member of each type: a void * data")
    w("#: parameter reaches Python as POINTER(c_uint8), bytes it can slice")
    w("CALLBACKS: Tuple[Callback, ...] = (")
    for number, name, enumerator, sig, restype, cb_argtypes, doc in _callback_table(h, em):
        w(f"    Callback({number}, {_py(name)}, {_py(enumerator)}, {_py(sig)},")
        w(f"             {restype}, {cb_argtypes},")
        w(f"             {_py(doc)}),")
    w(")")
    w("")
    w("#: every PANDA_EXPORT function, in header order; a panda_cb argument is")
    w("#: passed as one pointer (c_void_p)")
    w("FUNCTIONS: Tuple[Function, ...] = (")
    for name, ret, params, doc in h.functions:
        argtypes = [em.ctype(p) for p in params]
        w(f"    Function({_py(name)}, {_py(em.signature(ret, params))},")
        w(f"             {em.ctype(ret)}, {_tuple(argtypes)},")
        w(f"             {_py(doc)}),")
    w(")")

    typedefs = {name: em.base_of(name).spelling() for name in h.typedefs}
    head = [
        '"""libpanda\'s C ABI as ctypes: GENERATED by scripts/gen_abi.py from',
        "libpanda/include/panda/*.h.  Do not edit: change the headers and run",
        "``python scripts/gen_abi.py``.  tests/test_abi.py fails while this file is",
        "stale, and compiles a probe that checks every item here against the headers.",
        '"""',
        "# Generated file: do not edit.",
        f"from ctypes import {', '.join(sorted(em.used | {'Structure'}, key=str.lower))}",
        "from typing import Any, Dict, NamedTuple, Optional, Tuple",
        "",
        "",
        "class ErrorCode(NamedTuple):",
        "    value: int",
        "    enumerator: str",
        "    message: str",
        "    exception: Optional[str]   # the pypanda.errors class raised for it",
        "    doc: str",
        "",
        "",
        "class Callback(NamedTuple):",
        "    number: int",
        "    name: str",
        "    enumerator: str",
        "    signature: str             # C, without parameter names",
        "    restype: Any",
        "    argtypes: Tuple[Any, ...]",
        "    doc: str",
        "",
        "",
        "class Function(NamedTuple):",
        "    name: str",
        "    signature: str",
        "    restype: Any",
        "    argtypes: Tuple[Any, ...]",
        "    doc: str",
        "",
        "",
        f"API_MAJOR = {h.constants['PANDA_API_MAJOR']}",
        f"API_MINOR = {h.constants['PANDA_API_MINOR']}",
        "",
        "#: the ABI's typedefs of scalar types",
        "TYPEDEFS: Dict[str, str] = {" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in typedefs.items()) + "}",
        "",
        "",
    ]
    return "\n".join(head + out) + "\n"


# ---- the probe: a table against the headers, compiled ---------------------

_POINTER, _UNION = 5, 13      # __builtin_classify_type's pointer and union classes


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split_signature(sig: str) -> Tuple[str, List[str]]:
    m = re.fullmatch(r"(.+?)\((.*)\)", sig.strip())
    if not m or "(" in m.group(2):
        raise ValueError(f"not a C signature the probe understands: {sig!r}")
    args = m.group(2).strip()
    return m.group(1).strip(), [] if args in ("", "void") else [a.strip() for a in args.split(",")]


class _Probe:
    """Builds the probe's lines, each check on its own line tagged with the
    item it is about, so any compiler error names the item."""

    def __init__(self, abi: Any) -> None:
        self.abi = abi
        self.lines: List[Tuple[str, str]] = []
        self.problems: List[str] = []     # found without compiling
        self.counter = 0
        self.c_names: Dict[int, str] = {}
        for table in (abi.OPAQUE_TYPES, abi.STRUCTS, abi.FUNCTION_POINTER_TYPES):
            for name, ct in table.items():
                self.c_names[id(ct)] = name

    def is_enum(self, T: str) -> str:
        return "(" + (" || ".join(f"__builtin_types_compatible_p({T}, {e})" for e in self.abi.ENUMS) or "0") + ")"

    def add(self, item: str, line: str) -> None:
        self.lines.append((line, item))

    def check(self, item: str, cond: str, msg: str) -> None:
        self.add(item, f"_Static_assert({cond}, {_c_string(item + ': ' + msg)});")

    def typedef(self, item: str, decl: str) -> str:
        """``typedef <decl> probe_N;`` with decl naming probe_N via '{}'."""
        self.counter += 1
        name = f"probe_t{self.counter}"
        self.add(item, f"typedef {decl.format(name)};")
        return name

    def ctype_matches(self, item: str, c_type: str, ct: Any, what: str) -> None:
        """Checks that the C type named ``c_type`` is what ctypes ``ct`` is."""
        T = c_type
        desc = getattr(ct, "__name__", repr(ct))
        named = self.c_names.get(id(ct))
        if ct is None:
            self.check(item, f"__builtin_types_compatible_p({T}, void)", f"{what} is void in the table")
        elif named is not None:
            self.check(item, f"__builtin_types_compatible_p({T}, {named})", f"{what} is {named} in the table")
        elif ct is ctypes.c_char_p:
            self.check(item, f"__builtin_classify_type(*({T}*)0) == {_POINTER}", f"{what} is char* in the table")
            self.check(item, f"__builtin_types_compatible_p(__typeof__(*({T})0), char)", f"{what} is char* in the table")
        elif ct is ctypes.c_void_p:
            self.check(item, f"__builtin_types_compatible_p({T}, void*) || __builtin_types_compatible_p({T}, const void*)"
                       f" || (__builtin_classify_type(*({T}*)0) == {_UNION} && sizeof({T}) == sizeof(void*))",
                       f"{what} is void* in the table (or a union of function pointers)")
        elif isinstance(ct, type) and issubclass(ct, ctypes._Pointer):  # type: ignore[attr-defined]
            self.check(item, f"__builtin_classify_type(*({T}*)0) == {_POINTER}", f"{what} is a pointer in the table")
            pointee = self.typedef(item, f"__typeof__(*({T})0) {{}}")
            target = ct._type_
            if target in (ctypes.c_uint8, ctypes.c_int8, ctypes.c_char):
                # bytes: the C side may say void, char or (u)int8_t
                self.check(item, " || ".join(f"__builtin_types_compatible_p({pointee}, {b})"
                                             for b in ("void", "char", "uint8_t", "int8_t")),
                           f"{what} points to bytes in the table")
            else:
                self.ctype_matches(item, pointee, target, f"{what}'s target")
        elif isinstance(ct, type) and issubclass(ct, ctypes.Array):
            self.check(item, f"sizeof({T}) == {ctypes.sizeof(ct)}", f"{what} is {ctypes.sizeof(ct)} bytes in the table")
            element = self.typedef(item, f"__typeof__((*({T}*)0)[0]) {{}}")
            self.ctype_matches(item, element, ct._type_, f"{what}'s element")
        elif isinstance(ct, type) and issubclass(ct, ctypes._SimpleCData):
            code = ct._type_  # type: ignore[attr-defined]
            size = ctypes.sizeof(ct)
            if code == "?":
                self.check(item, f"__builtin_types_compatible_p({T}, _Bool)", f"{what} is bool in the table")
            elif code in "fdg":
                self.check(item, f"__builtin_classify_type(*({T}*)0) == 8 && sizeof({T}) == {size}",
                           f"{what} is a {size}-byte float in the table")
            elif code == "c":
                self.check(item, f"__builtin_types_compatible_p({T}, char)", f"{what} is char in the table")
            elif code in "bBhHiIlLqQ":
                signed = code.islower()
                kind = f"{'' if signed else 'u'}int{size * 8}_t"
                self.check(item, f"__builtin_classify_type(*({T}*)0) == 1 && !__builtin_types_compatible_p({T}, _Bool)"
                           f" && sizeof({T}) == {size}", f"{what} is {kind} in the table")
                # an enum's underlying type is the compiler's choice: size only
                self.check(item, f"{self.is_enum(T)} || "
                           f"(({T})-1 < ({T})0) == {int(signed)}", f"{what} is {kind} in the table")
            else:
                self.problems.append(f"{item}: {what} has a ctypes type the probe does not know: {desc}")
        else:
            self.problems.append(f"{item}: {what} has a ctypes type the probe does not know: {desc}")

    def function_type(self, item: str, c_expr: str, sig: str, restype: Any, argtypes: Sequence[Any]) -> None:
        """``c_expr`` (a function pointer type in C) against the table's C
        signature, and each of its parts against the table's ctypes."""
        try:
            ret, args = _split_signature(sig)
        except ValueError as exc:
            self.problems.append(f"{item}: {exc}")
            return
        self.check(item, f"__builtin_types_compatible_p({c_expr}, {ret} (*)({', '.join(args) or 'void'}))",
                   f"the header's type is not the table's {sig}")
        if len(args) != len(argtypes):
            self.problems.append(f"{item}: the table's signature {sig} has {len(args)} parameters "
                                 f"but {len(argtypes)} ctypes argtypes")
            return
        self.ctype_matches(item, self.typedef(item, f"{ret} {{}}"), restype, "the return type")
        for i, (arg, ct) in enumerate(zip(args, argtypes)):
            self.ctype_matches(item, self.typedef(item, f"{arg} {{}}"), ct, f"parameter {i + 1}")


def probe_source(abi: Any) -> Tuple[str, Dict[int, str], List[str]]:
    """The probe for a table: (C source, line number -> item, problems
    found without compiling)."""
    p = _Probe(abi)
    p.check("API version", f"PANDA_API_MAJOR == {abi.API_MAJOR} && PANDA_API_MINOR == {abi.API_MINOR}",
            f"the table is for ABI {abi.API_MAJOR}.{abi.API_MINOR}")
    for name in abi.OPAQUE_TYPES:
        p.add(f"opaque type {name}", f"typedef {name} *probe_opaque_{name};")
    for name, ct in abi.STRUCTS.items():
        item = f"struct {name}"
        p.check(item, f"sizeof({name}) == {ctypes.sizeof(ct)}", f"sizeof is {ctypes.sizeof(ct)} in the table")
        p.check(item, f"_Alignof({name}) == {ctypes.alignment(ct)}", f"alignment is {ctypes.alignment(ct)} in the table")
        for fname, ftype in ct._fields_:
            fitem = f"struct {name} field {fname}"
            desc = getattr(ct, fname)
            p.check(fitem, f"offsetof({name}, {fname}) == {desc.offset}", f"offset is {desc.offset} in the table")
            p.check(fitem, f"sizeof((({name}*)0)->{fname}) == {desc.size}", f"size is {desc.size} in the table")
            p.ctype_matches(fitem, p.typedef(fitem, f"__typeof__((({name}*)0)->{fname}) {{}}"), ftype, "its type")
    for enum, values in abi.ENUMS.items():
        for enumerator, value in values.items():
            p.check(f"enum {enum} {enumerator}", f"{enumerator} == {value}", f"it is {value} in the table")
    for err in abi.ERRORS:
        p.check(f"error code {err.enumerator}", f"{err.enumerator} == {err.value}", f"it is {err.value} in the table")
    for cb in abi.CALLBACKS:
        item = f"callback {cb.name}"
        p.check(item, f"{cb.enumerator} == {cb.number}", f"its number is {cb.number} in the table")
        p.function_type(item, f"__typeof__(((panda_cb*)0)->{cb.name})", cb.signature, cb.restype, cb.argtypes)
    for name, fn in abi.FUNCTION_TYPES.items():
        p.function_type(f"function type {name}", name, fn.signature, fn.restype, fn.argtypes)
        if abi.FUNCTION_POINTER_TYPES[name]._restype_ is not fn.restype or \
                tuple(abi.FUNCTION_POINTER_TYPES[name]._argtypes_) != tuple(fn.argtypes):
            p.problems.append(f"function type {name}: its CFUNCTYPE differs from its table entry")
    for fn in abi.FUNCTIONS:
        p.function_type(f"function {fn.name}", f"__typeof__(&{fn.name})", fn.signature, fn.restype, fn.argtypes)
    head = ["/* generated by scripts/gen_abi.py: the Python table against the headers */",
            "#include <stddef.h>", "#include <stdint.h>", '#include "panda/panda.h"']
    lines = {len(head) + i + 1: item for i, (_, item) in enumerate(p.lines)}
    return "\n".join(head + [line for line, _ in p.lines]) + "\n", lines, p.problems


def check(include_dir: Path, abi: Any, cc: str = "cc") -> List[str]:
    """Compile the probe for table ``abi`` against the headers in
    ``include_dir``; one message per disagreement, each naming its item
    (empty: they agree)."""
    source, items, problems = probe_source(abi)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "abi_probe.c"
        probe.write_text(source)
        result = subprocess.run([cc, "-std=c11", "-fsyntax-only", "-w", "-fmax-errors=0",
                                 "-I", str(include_dir), str(probe)],
                                capture_output=True, text=True)
    found = list(problems)
    for line in result.stderr.splitlines():
        m = re.match(r"(.+?):(\d+):\d+: error: (.*)", line)
        if not m:
            continue
        if Path(m.group(1)).name == probe.name:
            item = items.get(int(m.group(2)), "probe")
            message = m.group(3)
            sa = re.match(r'static assertion failed: "(.*)"', message)
            found.append(sa.group(1).replace("\\'", "'").replace('\\"', '"') if sa else f"{item}: {message}")
        else:
            found.append(f"header {Path(m.group(1)).name}:{m.group(2)}: {m.group(3)}")
    if result.returncode and not found:
        found.append(f"the probe did not compile: {result.stderr.strip()[:500]}")
    return list(dict.fromkeys(found))


def load_table(source: str, name: str = "_abi_table") -> ModuleType:
    """A table module from the text of an _abi.py."""
    module = ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--include", type=Path, default=INCLUDE_DIR, help="header directory")
    ap.add_argument("--output", type=Path, default=OUTPUT)
    ap.add_argument("--stdout", action="store_true", help="print instead of writing")
    ap.add_argument("--check", action="store_true", help="fail if the output is stale or disagrees with the headers")
    args = ap.parse_args(argv)
    try:
        text = generate(args.include)
    except HeaderError as exc:
        print(f"gen_abi: {exc}", file=sys.stderr)
        return 2
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        if not args.output.exists() or args.output.read_text() != text:
            print(f"gen_abi: {args.output} is stale: run python scripts/gen_abi.py", file=sys.stderr)
            return 1
        problems = check(args.include, load_table(text))
        for p in problems:
            print(f"gen_abi: {p}", file=sys.stderr)
        return 1 if problems else 0
    if not args.output.exists() or args.output.read_text() != text:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
