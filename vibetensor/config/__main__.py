"""``python -m vibetensor.config``: every environment variable vibetensor knows, its default and what it does."""

from . import VARS


def main() -> None:
    width = max(map(len, VARS))
    for var in VARS.values():
        default = "(unset)" if var.default in (None, "") else repr(var.default)
        print(f"{var.name:<{width}}  {default}\n{'':<{width}}  {var.doc}")


if __name__ == "__main__":
    main()
