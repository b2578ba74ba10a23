"""Devices, links and resolution; mounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from x360k import vfs
from x360k.kernel import Kernel
from x360k.vfs.device import HostFolderDevice
from x360k.vfs.guest_path import Refused
from x360k.vfs.namespace import Namespace


@pytest.fixture
def ns(tmp_path: Path) -> Namespace:
    (tmp_path / "t").mkdir()
    (tmp_path / "h").mkdir()
    n = Namespace()
    n.add_device(HostFolderDevice("\\Device\\Cdrom0", tmp_path / "t"))
    n.add_device(HostFolderDevice("\\Device\\Harddisk0\\Partition1", tmp_path / "h", True))
    n.add_link("game:", "\\Device\\Cdrom0")
    n.add_link("hdd:", "\\Device\\Harddisk0\\Partition1")
    return n


def test_resolution(ns: Namespace) -> None:
    r = ns.resolve("GAME:\\Data\\x.bin")
    assert r.device.path == "\\Device\\Cdrom0" and r.names == ("Data", "x.bin")
    assert ns.resolve("\\??\\hdd:").names == ()
    assert ns.resolve("\\device\\HARDDISK0\\partition1\\a").device.writable
    for bad in ("gamex:\\a", "game:a", "\\Device\\Cdrom01\\a", "\\Device", "", "x:\\a"):
        with pytest.raises(Refused):
            ns.resolve(bad)


def test_links_chain_longest_first_and_loops(ns: Namespace) -> None:
    ns.add_link("save:", "hdd:\\saves")
    ns.add_link("hdd:\\saves\\special", "game:\\other")
    assert ns.resolve("save:\\a").names == ("saves", "a")
    assert ns.resolve("hdd:\\saves\\special\\f").device.path == "\\Device\\Cdrom0"
    ns.add_link("loop1:", "loop2:")
    ns.add_link("loop2:", "loop1:")
    with pytest.raises(Refused):
        ns.resolve("loop1:\\x")
    assert ns.remove_link("LOOP1:") and not ns.remove_link("loop1:")
    assert not ns.add_link("", "x")


def test_mount_stores_one_namespace(tmp_path: Path) -> None:
    k = Kernel()
    (tmp_path / "title").mkdir()
    (tmp_path / "cache").mkdir()
    ns = vfs.mount(k, tmp_path / "title", cache=tmp_path / "cache")
    assert vfs.namespace_of(k) is ns and k.ext["vfs"] is ns
    assert ns.link_target("game:") == ns.link_target("d:") == "\\Device\\Cdrom0"
    assert ns.resolve("cache:\\x").device.writable
    assert not ns.resolve("game:\\x").device.writable
    with pytest.raises(ValueError, match="already mounted"):
        vfs.mount(k, tmp_path / "title")
    with pytest.raises(ValueError, match="not a directory"):
        vfs.mount(Kernel(), tmp_path / "missing")
    assert vfs.namespace_of(Kernel()).devices == {}


def test_extra_devices(tmp_path: Path) -> None:
    k = Kernel()
    spec = vfs.DeviceSpec("\\Device\\Mu0", tmp_path, writable=True, links=("mu0:",))
    ns = vfs.mount(k, devices=[spec])
    assert ns.resolve("MU0:\\a").device.path == "\\Device\\Mu0"
