"""Nodes for in-place writes through views.

Writing into a view changes its base, so the base's history gains a CopySlices node: the gradient of the
base passes through unchanged outside the written region, and through the in-place op's own derivative
inside it. Views read back from the rebased base through ViewOfBase.
"""
from .. import _C
from .graph import Node

ops = _C._ops




class CopySlices(Node):
    def __init__(self, base, base_edge, geometry, op_node):
        # inputs: the base's previous history, then the op's other inputs
        super().__init__([base_edge] + list(op_node.next_functions[1:]))
        self.geometry = geometry
        self.op_node = op_node
        self.base_layout = (tuple(base.shape), tuple(base.stride()), base._storage_nbytes() // base.element_size())
        self.output_meta = [base._shape_dtype_device()]

    def apply(self, grads):
        g = grads[0]
        shape, strides, capacity = self.base_layout
        storage = ops.zeros([max(capacity, 1)], dtype=g.dtype, device=g.device)
        result = storage.as_strided(shape, strides, 0)
        result.copy_(g)
        size, stride, offset = self.geometry
        region = storage.as_strided(size, stride, offset)
        op_grads = self.op_node.apply([region.clone()])
        if op_grads[0] is not None:
            region.copy_(op_grads[0])
        else:
            region.zero_()
        return [result.clone()] + list(op_grads[1:])

    def release(self):
        super().release()
        self.op_node.release()


class ViewOfBase(Node):
    """A view's history after an in-place write through it: it reads its region of the base."""

    def __init__(self, base, geometry, base_edge):
        super().__init__([base_edge])
        self.geometry = geometry
        self.base_layout = (tuple(base.shape), tuple(base.stride()), base._storage_nbytes() // base.element_size())
        size = geometry[0]
        self.output_meta = [(size, base.dtype, base.device)]

    def apply(self, grads):
        g = grads[0]
        shape, strides, capacity = self.base_layout
        storage = ops.zeros([max(capacity, 1)], dtype=g.dtype, device=g.device)
        size, stride, offset = self.geometry
        storage.as_strided(size, stride, offset).copy_(g)
        return [storage.as_strided(shape, strides, 0).clone()]
