"""Flattening parameters into one vector and back."""
from ... import _C
from ...autograd import no_grad


def parameters_to_vector(parameters):
    return _C._ops.cat([p.reshape(-1) for p in parameters])


@no_grad()
def vector_to_parameters(vec, parameters):
    offset = 0
    for p in parameters:
        n = p.numel()
        p.copy_(vec[offset:offset + n].view(p.shape))
        offset += n
