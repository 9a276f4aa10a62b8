"""Copying a vibetensor module's public names into a vibetensor.torch module (the namespace is mostly this)."""
import types


def public_names(module):
    """The names `module` exports: its ``__all__``, else the public functions and classes it defines
    (names it merely imported, such as ``no_grad`` in nn.init, stay where they belong)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    own = module.__name__
    return [n for n, v in vars(module).items()
            if not n.startswith("_") and not isinstance(v, types.ModuleType)
            and getattr(v, "__module__", own).startswith(own)]


def reexport(module, namespace, skip=()):
    """Puts `module`'s public names into `namespace` (a module's globals) and returns the names copied."""
    names = [n for n in public_names(module) if n not in skip]
    namespace.update({n: getattr(module, n) for n in names})
    return names
