from .quiet import quiet_stdout

with quiet_stdout(stderr=True):
    import pybullet  # noqa: F401  (first imported here, where its build banner goes nowhere)
