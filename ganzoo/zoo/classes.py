"""Class names of conditional models: `ganzoo sample NAME --class frog` and class_index().

CIFAR10's names in its label order (which is alphabetical: ganzoo.data.sources.cifar10 and the
CIFAR10 folders give these indices). A conditional model of another data set takes indices.
"""
import difflib

from ganzoo.data.sources import CIFAR10_CLASSES  # the one list (the data's label order)


def class_names(num_classes, dataset=None):
    """The class names of a conditional model, or None when they are not known (use indices)."""
    if dataset in (None, "cifar10", "?") and int(num_classes) == len(CIFAR10_CLASSES):
        return CIFAR10_CLASSES
    return None


def class_index(name, num_classes, names=None):
    """The class index of `name`: an index (an int, or a string of digits) in 0 .. num_classes - 1,
    or one of `names` (case-insensitive). Anything else is refused naming the valid classes."""
    num_classes = int(num_classes)
    if not num_classes:
        raise ValueError(f"class {name!r} was asked of an unconditional model (num_classes 0): it generates "
                         "no chosen class; drop --class / labels=.")
    text = str(name).strip()
    if isinstance(name, bool):
        raise ValueError(f"class {name!r} is not a class index or name.")
    if isinstance(name, int) or text.isdigit():
        index = int(text)
        if not 0 <= index < num_classes:
            raise ValueError(f"class {index} is out of range: this model has {num_classes} classes, "
                             f"0 .. {num_classes - 1}.")
        return index
    if names:
        lowered = [n.lower() for n in names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        close = difflib.get_close_matches(text.lower(), lowered, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown class {name!r}; the classes are {', '.join(names)} "
                         f"(or an index 0 .. {num_classes - 1}).{hint}")
    raise ValueError(f"Unknown class {name!r}: this model's class names are not known; give an index "
                     f"0 .. {num_classes - 1}.")
