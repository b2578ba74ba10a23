"""I/O completion ports on their own: FIFO, count and cap."""

from __future__ import annotations

from x360k.objects.io_completion import IoCompletion, Packet
from x360k.objects.thread import Thread


def test_port_fifo_and_cap() -> None:
    t = Thread(0, 1)
    port = IoCompletion(limit=2)
    assert not port.WAITABLE and not port.is_signalled_for(t)
    for i in range(3):
        port.post(Packet(i, 0, 0, 0))
    assert port.count == 2 and len(port.packets) == 3
    taken = []
    while port.is_signalled_for(t):
        port.satisfy(t)
        taken.append(port.take().key)
    assert taken == [0, 1] and len(port.packets) == 1
    unlimited = IoCompletion(limit=None)
    for i in range(5):
        unlimited.post(Packet(i, 0, 0, 0))
    assert unlimited.count == 5 and "5 packet" in unlimited.describe()
