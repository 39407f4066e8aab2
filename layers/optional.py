"""Optional dependencies, imported when a function that needs them is called.

gatelab itself needs only NumPy. PyTorch is needed by the checker's torch entry point
(`checks.check_torch`) and the torch export (`training.to_torch`); both import it here,
so that a missing install is reported one way, naming the function the user called.
"""

__all__ = ["import_torch"]


def import_torch(caller):
    """The `torch` module, or ModuleNotFoundError saying how to install it.

    Parameters
    ----------
    caller : str
        The function the user called (``"check_torch"``), named in the message.

    Returns
    -------
    module
        `torch`.

    Raises
    ------
    ModuleNotFoundError
        When torch is not installed: "check_torch needs PyTorch, which is not installed:
        pip install torch" (``exc.name == "torch"``).
    """
    try:
        import torch
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{caller} needs PyTorch, which is not installed: pip install torch",
            name="torch") from exc
    return torch
