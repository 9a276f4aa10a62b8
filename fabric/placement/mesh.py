"""Mesh: the devices one process drives, arranged in 1 or 2 named axes.

>>> from vibetensor.fabric.collectives.local_devices import virtual_devices
>>> m = Mesh(virtual_devices("cpu", 4), ("dp",))
>>> m.shape, m.axis_names
((4,), ('dp',))
"""
import itertools

from ..collectives.local import LocalGroup
from ..collectives.local_devices import VirtualDevice, as_devices


class Mesh:
    """`devices`: a list (1-D) or a list of equal-length lists (2-D) of devices (VirtualDevice, 'cpu',
    'cuda:k'). Flat index = row-major position; each axis has one LocalGroup per line of devices along it."""

    def __init__(self, devices, axis_names=None):
        rows = list(devices)
        if rows and isinstance(rows[0], (list, tuple)):
            if len({len(r) for r in rows}) != 1:
                raise ValueError("Mesh: a 2-D mesh needs rows of equal length")
            self.shape = (len(rows), len(rows[0]))
            flat = [d for r in rows for d in r]
        else:
            self.shape, flat = (len(rows),), rows
        if not flat:
            raise ValueError("Mesh: no devices")
        self.devices = as_devices(flat)
        names = tuple(axis_names) if axis_names is not None else tuple(f"axis{i}" for i in range(self.ndim))
        if len(names) != self.ndim:
            raise ValueError(f"Mesh: {self.ndim}-d mesh needs {self.ndim} axis names, got {list(names)}")
        self.axis_names = names
        self._groups = {}

    @classmethod
    def from_topology(cls, graph, shape=None, axis_names=None, virtual_per_gpu=1):
        """GPUs of a fabric.topology graph in the planned ring order (fabric.topology.plan_ring), so
        neighbours on the ring, and the rows of a 2-D mesh, sit on the fastest links. `shape` defaults
        to (number of devices,); each GPU can host `virtual_per_gpu` logical devices in a row."""
        from ..topology import plan_ring
        order = [g for g in plan_ring(graph).order for _ in range(virtual_per_gpu)]
        devs = [VirtualDevice("cuda", i, physical=g) for i, g in enumerate(order)]
        shape = tuple(shape) if shape is not None else (len(devs),)
        if len(shape) == 1 and shape[0] == len(devs):
            return cls(devs, axis_names)
        if len(shape) != 2 or shape[0] * shape[1] != len(devs):
            raise ValueError(f"Mesh.from_topology: shape {list(shape)} does not hold {len(devs)} devices")
        return cls([devs[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])], axis_names)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return len(self.devices)

    def axis(self, name_or_index):
        if isinstance(name_or_index, int):
            return name_or_index
        return self.axis_names.index(name_or_index)

    def coords(self, flat):
        return (flat,) if self.ndim == 1 else divmod(flat, self.shape[1])

    def flat(self, coords):
        return coords[0] if self.ndim == 1 else coords[0] * self.shape[1] + coords[1]

    def lines(self, axis):
        """Flat indices of the devices along `axis`, one list per line (the other coordinates fixed)."""
        axis = self.axis(axis)
        others = [range(n) for i, n in enumerate(self.shape) if i != axis]
        out = []
        for fixed in itertools.product(*others):
            line = []
            for k in range(self.shape[axis]):
                c = list(fixed)
                c.insert(axis, k)
                line.append(self.flat(c))
            out.append(line)
        return out

    def groups(self, axis):
        """[(LocalGroup, flat indices)] along `axis` (made once, reused)."""
        axis = self.axis(axis)
        if axis not in self._groups:
            self._groups[axis] = [(LocalGroup([self.devices[i] for i in line],
                                              name=f"mesh.{self.axis_names[axis]}.{n}"), line)
                                  for n, line in enumerate(self.lines(axis))]
        return self._groups[axis]

    def __repr__(self):
        return f"Mesh(shape={self.shape}, axis_names={self.axis_names}, devices={[str(d) for d in self.devices]})"
