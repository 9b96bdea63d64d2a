"""Static i386 programs assembled at test time and typed into the
reference guest (it has no CD drive): shared by the OSI and extras tests."""
from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from pypanda import Panda


def static_elf(tmp: Path, name: str, source: str) -> bytes:
    """``source`` (GNU as, 32-bit) as a static, stripped ELF executable."""
    src, obj, exe = tmp / f"{name}.s", tmp / f"{name}.o", tmp / name
    src.write_text(source)
    subprocess.run(["as", "--32", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-static", "-nostdlib", "-s", "-o", str(exe), str(obj)], check=True)
    return exe.read_bytes()


def install(panda: Panda, name: str, data: bytes) -> None:
    """Type a program into the guest through the serial console, as
    /tmp/NAME (base64 in 600-character lines, decoded by busybox)."""
    text = base64.b64encode(data).decode()
    panda.run_serial_cmd(f"rm -f /tmp/{name}.b64")
    for i in range(0, len(text), 600):
        panda.run_serial_cmd(f"echo -n {text[i:i + 600]} >> /tmp/{name}.b64")
    panda.run_serial_cmd(f"base64 -d /tmp/{name}.b64 > /tmp/{name}; chmod +x /tmp/{name}")
